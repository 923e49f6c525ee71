"""One partition's scheduler: pooled cores and GPUs, a FCFS queue, optional EASY backfilling.

The model follows Slurm's main + backfill scheduler in its EASY form (Mu'alem & Feitelson 2001):
jobs start in submission order while the head of the queue fits; when it does not, the head gets
a reservation at the *shadow time* (when enough running jobs will have ended, judged by their
*requested* times), and a later job may start now only if it fits now and either ends (by its
requested time) before the shadow time or uses only the *extra* resources the head will not need.

Resources are a pool of cores and a pool of GPUs per partition (node packing is not modelled).
The pool never looks at the clock itself: the engine calls :meth:`Pool.submit` on arrivals and
:meth:`Pool.finish` + :meth:`Pool.schedule` on completions, and receives starts through the
shared completion heap.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from math import inf

from hyperion.sim.job import SimJob


class Pool:
    """Cores and GPUs of one partition, with its queue and its running jobs."""

    __slots__ = (
        "name",
        "site",
        "cores",
        "gpus",
        "nodes",
        "cores_per_node",
        "max_time",
        "priority_tier",
        "preemptible",
        "backfill",
        "plan_depth",
        "free_cores",
        "free_gpus",
        "queue",
        "running",
        "heap",
        "shadow",
        "extra_cores",
        "extra_gpus",
        "version",
        "pending_cores",
        "pending_gpus",
        "pending_work",
        "busy_core_s",
        "busy_gpu_s",
        "started",
        "_plan",
        "_plan_version",
    )

    def __init__(
        self,
        name: str,
        cores: int,
        gpus: int = 0,
        *,
        site: str = "",
        nodes: int = 1,
        backfill: bool = True,
        max_time: int | None = None,
        priority_tier: int = 1,
        preemptible: bool = False,
        plan_depth: int = 100,
    ) -> None:
        if cores < 1:
            raise ValueError(f"partition {name!r} needs at least one core")
        self.name = name
        self.site = site
        self.cores = cores
        self.gpus = gpus
        self.nodes = max(1, nodes)
        self.cores_per_node = max(1, cores // self.nodes)
        self.max_time = max_time
        self.priority_tier = priority_tier
        self.preemptible = preemptible
        self.backfill = backfill
        self.plan_depth = plan_depth
        self.heap: list[tuple[float, int, SimJob]] = []
        self.reset()

    def reset(self) -> None:
        """Empty the partition (no queue, nothing running, counters zero)."""
        self.free_cores = self.cores
        self.free_gpus = self.gpus
        self.queue: list[SimJob] = []
        self.running: list[tuple[float, int, SimJob]] = []
        self.shadow = -inf
        self.extra_cores = -1
        self.extra_gpus = -1
        self.version = 0
        self.pending_cores = 0
        self.pending_gpus = 0
        self.pending_work = 0.0
        self.busy_core_s = 0.0
        self.busy_gpu_s = 0.0
        self.started = 0
        self._plan: tuple[list[float], list[int], list[int]] | None = None
        self._plan_version = -1

    # -- admission -------------------------------------------------------------------------

    def can_run(self, job: SimJob) -> bool:
        """True if the job could ever run here (size and time limit)."""
        return (
            job.cores <= self.cores
            and job.gpus <= self.gpus
            and (self.max_time is None or job.req <= self.max_time)
        )

    # -- events ----------------------------------------------------------------------------

    def _start(self, job: SimJob, now: float) -> None:
        job.start = now
        end = now + job.run
        job.end = end
        self.free_cores -= job.cores
        self.free_gpus -= job.gpus
        self.busy_core_s += job.cores * job.run
        self.busy_gpu_s += job.gpus * job.run
        self.started += 1
        insort(self.running, (now + job.req, job.idx, job))
        heapq.heappush(self.heap, (end, job.idx, job))

    def submit(self, job: SimJob, now: float) -> None:
        """A job arrives: start it, backfill it, or queue it."""
        job.pool = self
        q = self.queue
        plan_ok = self._plan_version == self.version
        self.version += 1
        if not q:
            if job.cores <= self.free_cores and job.gpus <= self.free_gpus:
                self._start(job, now)
                return
            self._enqueue(job)
            self.schedule(now)
            return
        if self.backfill and self.free_cores > 0 and self.shadow <= now:
            # the head's reservation time has passed (running jobs overran their requested
            # times), so the reservation and extra resources may have changed: plan afresh
            self._enqueue(job)
            self.schedule(now)
            return
        # Nothing changed since the last pass but the clock: the cached reservation holds,
        # so only the new job can be a backfill candidate.
        if self.backfill and job.cores <= self.free_cores and job.gpus <= self.free_gpus:
            if now + job.req <= self.shadow:
                self._start(job, now)
                return
            if job.cores <= self.extra_cores and job.gpus <= self.extra_gpus:
                self.extra_cores -= job.cores
                self.extra_gpus -= job.gpus
                self._start(job, now)
                return
        self._enqueue(job)
        if plan_ok and self._plan is not None and len(q) <= self.plan_depth:
            _reserve(self._plan, job.cores, job.gpus, job.req, now)
            self._plan_version = self.version

    def _enqueue(self, job: SimJob) -> None:
        self.queue.append(job)
        self.pending_cores += job.cores
        self.pending_gpus += job.gpus
        self.pending_work += job.cores * job.req

    def finish(self, job: SimJob) -> None:
        """A running job ended (the caller then runs :meth:`schedule`)."""
        self.free_cores += job.cores
        self.free_gpus += job.gpus
        running = self.running
        i = bisect_left(running, (job.start + job.req, job.idx))
        del running[i]
        self.version += 1

    def schedule(self, now: float) -> None:
        """One scheduling pass: FCFS from the head, then EASY backfilling behind it."""
        q = self.queue
        fc = self.free_cores
        fg = self.free_gpus
        n = 0
        nq = len(q)
        while n < nq:
            j = q[n]
            if j.cores <= fc and j.gpus <= fg:
                self._dequeued(j)
                self._start(j, now)
                fc -= j.cores
                fg -= j.gpus
                n += 1
            else:
                break
        if n:
            del q[:n]
            self.version += 1
        if not q or not self.backfill or fc <= 0:
            self.shadow = -inf
            self.extra_cores = self.extra_gpus = -1
            return
        head = q[0]
        hc, hg = head.cores, head.gpus
        acc_c, acc_g = fc, fg
        running = self.running
        shadow = inf
        k, nr = 0, len(running)
        while k < nr:
            end, _, rj = running[k]
            acc_c += rj.cores
            acc_g += rj.gpus
            k += 1
            if acc_c >= hc and acc_g >= hg:
                # jobs past their requested end count as ending now; take every job ending by then
                shadow = end if end > now else now
                while k < nr and running[k][0] <= shadow:
                    rj = running[k][2]
                    acc_c += rj.cores
                    acc_g += rj.gpus
                    k += 1
                break
        ec, eg = acc_c - hc, acc_g - hg
        limit = shadow - now
        started: list[int] = []
        for i in range(1, len(q)):
            j = q[i]
            c = j.cores
            g = j.gpus
            if c > fc or g > fg:
                continue
            if j.req <= limit:
                pass
            elif c <= ec and g <= eg:
                ec -= c
                eg -= g
            else:
                continue
            self._dequeued(j)
            self._start(j, now)
            fc -= c
            fg -= g
            started.append(i)
            if fc <= 0:
                break
        if started:
            for i in reversed(started):
                del q[i]
            self.version += 1
        self.shadow = shadow
        self.extra_cores = ec
        self.extra_gpus = eg

    def _dequeued(self, job: SimJob) -> None:
        self.pending_cores -= job.cores
        self.pending_gpus -= job.gpus
        self.pending_work -= job.cores * job.req

    # -- estimates -------------------------------------------------------------------------

    def estimate_start(self, job: SimJob, now: float) -> float:
        """When ``job`` would start if submitted now, by a conservative backfill plan.

        The plan reserves, in queue order, the first ``plan_depth`` queued jobs at their
        earliest fit in the availability profile (running jobs end at start + requested time),
        then finds the earliest fit for ``job``. Queued work beyond the plan depth is counted as
        a fluid backlog (its core-seconds spread over the partition) so deep queues still read
        as late. This is an estimate, like ``sbatch --test-only``; the schedule itself is EASY.
        """
        if not self.queue and job.cores <= self.free_cores and job.gpus <= self.free_gpus:
            return now
        if self._plan_version != self.version or self._plan is None:
            self._plan = self._build_plan(now)
            self._plan_version = self.version
        t = _earliest_fit(self._plan, job.cores, job.gpus, job.req, now)
        depth = self.plan_depth
        if len(self.queue) > depth:
            planned = 0.0
            for j in self.queue[:depth]:
                planned += j.cores * j.req
            backlog = (self.pending_work - planned) / self.cores
            t = max(t, now + backlog)
        return t

    def _build_plan(self, now: float) -> tuple[list[float], list[int], list[int]]:
        times = [now]
        fc = [self.free_cores]
        fg = [self.free_gpus]
        c, g = self.free_cores, self.free_gpus
        for end, _, rj in self.running:
            c += rj.cores
            g += rj.gpus
            t = end if end > now else now
            if t == times[-1]:
                fc[-1] = c
                fg[-1] = g
            else:
                times.append(t)
                fc.append(c)
                fg.append(g)
        plan = (times, fc, fg)
        for j in self.queue[: self.plan_depth]:
            _reserve(plan, j.cores, j.gpus, j.req, now)
        return plan


def _earliest_fit(
    plan: tuple[list[float], list[int], list[int]], c: int, g: int, d: float, now: float
) -> float:
    """Earliest breakpoint from which ``c`` cores and ``g`` GPUs stay free for ``d`` seconds."""
    return plan[0][_fit_index(plan, c, g, d)]


def _fit_index(plan: tuple[list[float], list[int], list[int]], c: int, g: int, d: float) -> int:
    times, fc, fg = plan
    n = len(times)
    k = 0
    if not g:  # the common case: cores only
        while k < n:
            if fc[k] >= c:
                tend = times[k] + d
                m = k + 1
                while m < n and times[m] < tend:
                    if fc[m] < c:
                        break
                    m += 1
                else:
                    return k
                k = m + 1
            else:
                k += 1
        return n - 1
    while k < n:
        if fc[k] >= c and fg[k] >= g:
            tend = times[k] + d
            m = k + 1
            while m < n and times[m] < tend:
                if fc[m] < c or fg[m] < g:
                    break
                m += 1
            else:
                return k
            k = m + 1
        else:
            k += 1
    return n - 1  # the last segment has everything free; unreachable for jobs that fit


def _reserve(
    plan: tuple[list[float], list[int], list[int]], c: int, g: int, d: float, now: float
) -> float:
    """Reserve ``c`` cores and ``g`` GPUs for ``d`` seconds at the earliest fit; return start."""
    times, fc, fg = plan
    k = _fit_index(plan, c, g, d)
    t0 = times[k]
    tend = t0 + d
    m = bisect_left(times, tend, k + 1)
    if m == len(times) or times[m] != tend:
        times.insert(m, tend)
        fc.insert(m, fc[m - 1])
        fg.insert(m, fg[m - 1])
    for i in range(k, m):
        fc[i] -= c
    if g:
        for i in range(k, m):
            fg[i] -= g
    return t0
