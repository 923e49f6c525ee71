"""One partition's scheduler: pooled cores and GPUs, a queue, and a backfill policy.

The model follows Slurm's main + backfill scheduler. The queue is in submission order (FCFS) or,
with ``order="priority"``, by job priority (higher first) and then submission order. Jobs start
in queue order while the head fits. Behind a blocked head:

* ``backfill=False``: nothing else starts (plain FCFS / strict priority order);
* EASY (``backfill=True`` or ``"easy"``, Mu'alem & Feitelson 2001): the head gets a reservation
  at the *shadow time* (when enough running jobs will have ended, judged by their *requested*
  times), and a later job may start now only if it fits now and either ends (by its requested
  time) before the shadow time or uses only the *extra* resources the head will not need;
* conservative (``backfill="conservative"``): every queued job, in queue order, gets a
  reservation at its earliest fit in the availability profile (:mod:`hyperion.sim.plan`); a job
  starts now only if its reservation is now, so no job delays any job queued before it.

Resources are a pool of cores and a pool of GPUs per partition (node packing is not modelled
here; node-aware partitions are :mod:`hyperion.sim.nodepool`).
The pool never looks at the clock itself: the engine calls :meth:`Pool.submit` on arrivals and
:meth:`Pool.finish` + :meth:`Pool.schedule` on completions, and receives starts through the
shared completion heap. Subclasses: cloud partitions (:mod:`hyperion.sim.cloud`), partitions
sharing nodes with preemption (:mod:`hyperion.sim.preempt`) and node-aware partitions
(:mod:`hyperion.sim.nodepool`).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right, insort
from math import inf
from operator import attrgetter

from hyperion.sim.job import SimJob
from hyperion.sim.plan import (
    Profile,
    advance,
    build_profile,
    fit_index,
    reserve,
    reserve_at,
)

#: queue orders a partition can have
ORDERS = ("fcfs", "priority")
#: backfill modes (``backfill=`` takes these names, or True for "easy" and False for "none")
BACKFILL_MODES = ("none", "easy", "conservative")

_QKEY = attrgetter("qkey")


def backfill_mode(value: bool | str) -> str:
    """The backfill mode named by a ``backfill`` option (bool or a :data:`BACKFILL_MODES` name)."""
    if value is True:
        return "easy"
    if value is False:
        return "none"
    if value not in BACKFILL_MODES:
        raise ValueError(
            f"backfill {value!r}: use true, false or one of {', '.join(BACKFILL_MODES)}"
        )
    return str(value)


class Pool:
    """Cores and GPUs of one partition, with its queue and its running jobs."""

    __slots__ = (
        "name",
        "names",
        "site",
        "cores",
        "gpus",
        "nodes",
        "cores_per_node",
        "gpus_per_node",
        "max_time",
        "priority_tier",
        "preemptible",
        "backfill",
        "conservative",
        "order",
        "by_priority",
        "is_cloud",
        "shared",
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
        "preemptions",
        "lost_core_s",
        "_seq",
        "_plan",
        "_plan_version",
        "_cons_ok",
        "_resv",
    )

    #: conservative backfilling may update its plan incrementally (see _due_now)
    _incremental = True

    def __init__(
        self,
        name: str,
        cores: int,
        gpus: int = 0,
        *,
        site: str = "",
        nodes: int = 1,
        backfill: bool | str = True,
        order: str = "fcfs",
        max_time: int | None = None,
        priority_tier: int = 1,
        preemptible: bool = False,
        plan_depth: int = 100,
    ) -> None:
        if cores < 1:
            raise ValueError(f"partition {name!r} needs at least one core")
        if order not in ORDERS:
            raise ValueError(f"partition {name!r}: order {order!r}, use one of {', '.join(ORDERS)}")
        mode = backfill_mode(backfill)
        self.name = name
        self.names = frozenset({name})
        self.site = site
        self.cores = cores
        self.gpus = gpus
        self.nodes = max(1, nodes)
        self.cores_per_node = max(1, cores // self.nodes)
        self.gpus_per_node = gpus // self.nodes
        self.max_time = max_time
        self.priority_tier = priority_tier
        self.preemptible = preemptible
        self.backfill = mode != "none"
        self.conservative = mode == "conservative"
        self.order = order
        self.by_priority = order == "priority"
        self.is_cloud = False
        self.shared = False
        self.plan_depth = plan_depth
        self.heap: list[tuple[float, int, SimJob]] = []
        self.reset()

    @property
    def mode(self) -> str:
        """The backfill mode: "none", "easy" or "conservative"."""
        return "conservative" if self.conservative else "easy" if self.backfill else "none"

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
        self.preemptions = 0
        self.lost_core_s = 0.0
        self._seq = 0
        self._plan: Profile | None = None
        self._plan_version = -1
        self._cons_ok = False
        self._resv: list[tuple[float, int, SimJob]] = []

    # -- admission -------------------------------------------------------------------------

    def can_run(self, job: SimJob) -> bool:
        """True if the job could ever run here (size and time limit)."""
        return (
            job.cores <= self.cores
            and job.gpus <= self.gpus
            and (self.max_time is None or job.req <= self.max_time)
        )

    def demand(self, job: SimJob) -> tuple[int, int, float]:
        """What the job would hold here: cores, GPUs, planned seconds."""
        return job.cores, job.gpus, job.req

    def partition_of(self, job: SimJob) -> str:
        """The partition name the job would get here."""
        return self.name

    def _set_demand(self, job: SimJob) -> None:  # cloud partitions: whole nodes, boot time
        job.nc, job.ng, job.nd = self.demand(job)

    # -- events ----------------------------------------------------------------------------

    def _start(self, job: SimJob, now: float) -> None:
        job.start = now
        run = job.run
        end = now + run
        job.end = end
        nc = job.nc
        ng = job.ng
        self.free_cores -= nc
        self.free_gpus -= ng
        self.busy_core_s += nc * run
        self.busy_gpu_s += ng * run
        self.started += 1
        pend = now + job.nd
        job.pend = pend
        insort(self.running, (pend, job.idx, job))
        heapq.heappush(self.heap, (end, job.idx, job))

    def submit(self, job: SimJob, now: float) -> None:
        """A job arrives: start it, backfill it, or queue it."""
        job.pool = self
        if self.is_cloud:
            self._set_demand(job)
        else:
            job.nc = job.cores
            job.ng = job.gpus
            job.nd = job.req
        q = self.queue
        plan_ok = self._plan_version == self.version
        self.version += 1
        if not q:
            if job.nc <= self.free_cores and job.ng <= self.free_gpus:
                self._start(job, now)
                self._cons_ok = False  # started outside the conservative plan
                return
            self._enqueue(job)
            self.schedule(now)
            return
        if self.by_priority and (0, -job.priority, self._seq) < q[0].qkey:
            self._enqueue(job)  # a new head: its reservation (and what may backfill) changes
            self.schedule(now)
            return
        if self.conservative:
            self._submit_conservative(job, now, plan_ok)
            return
        if self.backfill and self.free_cores > 0 and self.shadow <= now:
            # the head's reservation time has passed (running jobs overran their requested
            # times), so the reservation and extra resources may have changed: plan afresh
            self._enqueue(job)
            self.schedule(now)
            return
        # Nothing changed since the last pass but the clock: the cached reservation holds,
        # so only the new job can be a backfill candidate.
        if self.backfill and job.nc <= self.free_cores and job.ng <= self.free_gpus:
            if now + job.nd <= self.shadow:
                self._start(job, now)
                return
            if job.nc <= self.extra_cores and job.ng <= self.extra_gpus:
                self.extra_cores -= job.nc
                self.extra_gpus -= job.ng
                self._start(job, now)
                return
        self._queue_and_plan(job, now, plan_ok)

    def _queue_and_plan(self, job: SimJob, now: float, plan_ok: bool) -> None:
        """Queue a job that cannot start; extend the cached start-estimate plan with it."""
        self._enqueue(job)
        plan = self._plan
        q = self.queue
        if plan_ok and plan is not None and len(q) <= self.plan_depth and q[-1] is job:
            if advance(plan, now):
                reserve(plan, job.nc, job.ng, job.nd)
                self._plan_version = self.version

    def _submit_conservative(self, job: SimJob, now: float, plan_ok: bool) -> None:
        """Conservative backfilling on arrival: with the reservations unchanged, the new job
        (last in the queue) takes its earliest fit; it starts if that is now."""
        plan = self._plan
        q = self.queue
        last = not self.by_priority or -job.priority >= q[-1].qkey[1]
        # a reservation that passed unmet (a running job overran) holds room it cannot use:
        # the plan must be made afresh, as at a job's end (see _due_now)
        unmet = bool(self._resv) and self._resv[0][0] < now
        ok = plan_ok and self._cons_ok and plan is not None and last and not unmet
        if not (ok and plan is not None and advance(plan, now)):
            self._enqueue(job)
            self.schedule(now)
            return
        c, g, d = job.nc, job.ng, job.nd
        k = fit_index(plan, c, g, d)
        t = reserve_at(plan, k, c, g, d)
        if k == 0 and c <= self.free_cores and g <= self.free_gpus:
            self._start(job, now)
        else:
            self._enqueue(job)
            self._cons_ok = True  # the new job is in the plan
            heapq.heappush(self._resv, (t, job.idx, job))
        self._plan_version = self.version

    def _enqueue(self, job: SimJob) -> None:
        self._cons_ok = False  # not reserved in the conservative plan (unless the caller does)
        if self.by_priority:
            seq = self._seq
            self._seq = seq + 1
            job.seq = seq
            job.qkey = (0, -job.priority, seq)
            insort(self.queue, job, key=_QKEY)
        else:
            self.queue.append(job)
        self.pending_cores += job.nc
        self.pending_gpus += job.ng
        self.pending_work += job.nc * job.nd

    def finish(self, job: SimJob) -> None:
        """A running job ended (the caller then runs :meth:`schedule`)."""
        self.free_cores += job.nc
        self.free_gpus += job.ng
        running = self.running
        i = bisect_left(running, (job.pend, job.idx))
        del running[i]
        self.version += 1
        if job.end != job.pend:
            self._cons_ok = False  # ended off plan: conservative reservations may move up

    def schedule(self, now: float) -> None:
        """One scheduling pass: queue order from the head, then backfilling behind it."""
        if self.conservative:
            self._schedule_conservative(now)
            return
        q = self.queue
        fc = self.free_cores
        fg = self.free_gpus
        n = 0
        nq = len(q)
        while n < nq:
            j = q[n]
            if j.nc <= fc and j.ng <= fg:
                self._dequeued(j)
                self._start(j, now)
                fc -= j.nc
                fg -= j.ng
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
        hc, hg = head.nc, head.ng
        acc_c, acc_g = fc, fg
        running = self.running
        shadow = inf
        k, nr = 0, len(running)
        while k < nr:
            end, _, rj = running[k]
            acc_c += rj.nc
            acc_g += rj.ng
            k += 1
            if acc_c >= hc and acc_g >= hg:
                # jobs past their requested end count as ending now; take every job ending by then
                shadow = end if end > now else now
                while k < nr and running[k][0] <= shadow:
                    rj = running[k][2]
                    acc_c += rj.nc
                    acc_g += rj.ng
                    k += 1
                break
        ec, eg = acc_c - hc, acc_g - hg
        limit = shadow - now
        started: list[int] = []
        for i in range(1, len(q)):
            j = q[i]
            c = j.nc
            g = j.ng
            if c > fc or g > fg:
                continue
            if j.nd <= limit:
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

    def _schedule_conservative(self, now: float) -> None:
        """Conservative backfilling: reserve every queued job in order; start those due now.

        While every job ended exactly at its planned end since the last pass, the reservations
        a full re-plan would make are the ones already held, so only the jobs due now start.
        """
        if self._cons_ok and self._incremental and self._due_now(now):
            return
        plan = build_profile(now, self.free_cores, self.free_gpus, self.running)
        q = self.queue
        fc, fg = self.free_cores, self.free_gpus
        rest: list[SimJob] = []
        resv: list[tuple[float, int, SimJob]] = []
        for j in q:
            c, g, d = j.nc, j.ng, j.nd
            k = fit_index(plan, c, g, d)
            t = reserve_at(plan, k, c, g, d)
            if k == 0 and c <= fc and g <= fg:
                self._dequeued(j)
                self._start(j, now)
                fc -= c
                fg -= g
            else:
                rest.append(j)
                resv.append((t, j.idx, j))
        if len(rest) != len(q):
            q[:] = rest
            self.version += 1
        heapq.heapify(resv)
        self._resv = resv
        self.shadow = -inf
        self._plan = plan
        self._plan_version = self.version
        self._cons_ok = True

    def _due_now(self, now: float) -> bool:
        """The incremental pass: move the plan to ``now`` and start the jobs reserved at
        ``now``; False (nothing done but the plan's trim) if a full re-plan is needed."""
        plan = self._plan
        if plan is None:
            return False
        times, fcs, fgs = plan
        if times[0] < now:
            m = bisect_right(times, now) - 1
            if m:
                del times[:m], fcs[:m], fgs[:m]
            times[0] = now
        heap = self._resv
        if heap and heap[0][0] <= now:
            if heap[0][0] < now:
                return False  # a reservation passed unmet (a job overran): re-plan
            due = []
            while heap and heap[0][0] == now:
                due.append(heapq.heappop(heap)[2])
            if sum(j.nc for j in due) > self.free_cores or sum(j.ng for j in due) > self.free_gpus:
                return False
            q = self.queue
            for j in due:
                q.remove(j)
                self._dequeued(j)
                self._start(j, now)
            self.version += 1
        self._plan_version = self.version
        return True

    def idle_nodes(self) -> int:
        """Nodes with nothing running (pooled: as many as the free cores fill)."""
        return min(self.nodes, self.free_cores // self.cores_per_node)

    def _dequeued(self, job: SimJob) -> None:
        self.pending_cores -= job.nc
        self.pending_gpus -= job.ng
        self.pending_work -= job.nc * job.nd

    # -- estimates -------------------------------------------------------------------------

    def estimate_start(self, job: SimJob, now: float) -> float:
        """When ``job`` would start if submitted now, by a conservative backfill plan.

        The plan reserves, in queue order, the queued jobs at their earliest fit in the
        availability profile (running jobs end at start + requested time), then finds the
        earliest fit for ``job``. Under EASY only the first ``plan_depth`` queued jobs are
        planned and the rest of the queue counts as a fluid backlog (its core-seconds spread
        over the partition) so deep queues still read as late; under conservative backfilling
        the plan is the schedule itself. This is an estimate, like ``sbatch --test-only``.
        """
        if self.is_cloud:
            c, g, d = self.demand(job)
        else:
            c, g, d = job.cores, job.gpus, job.req
        if not self.queue and c <= self.free_cores and g <= self.free_gpus:
            return now
        plan = self._plan
        if self._plan_version != self.version or plan is None:
            plan = self.current_plan(now)
        else:
            times = plan[0]  # advance(plan, now), inlined
            if times[0] < now:
                if len(times) > 1 and times[1] <= now:
                    plan = self.current_plan(now)
                else:
                    times[0] = now
        t = plan[0][fit_index(plan, c, g, d)]
        depth = self.plan_depth
        if not self.conservative and len(self.queue) > depth:
            planned = 0.0
            for j in self.queue[:depth]:
                planned += j.nc * j.nd
            backlog = (self.pending_work - planned) / self.cores
            t = max(t, now + backlog)
        return t

    def current_plan(self, now: float) -> Profile:
        """The availability profile from ``now`` with the queued jobs reserved (cached)."""
        plan = self._plan
        if self._plan_version != self.version or plan is None or not advance(plan, now):
            plan = self._build_plan(now)
            self._plan = plan
            self._plan_version = self.version
            self._cons_ok = False  # the reservations heap does not match this plan
        return plan

    def _build_plan(self, now: float) -> Profile:
        plan = build_profile(now, self.free_cores, self.free_gpus, self.running)
        queued = self.queue if self.conservative else self.queue[: self.plan_depth]
        for j in queued:
            reserve(plan, j.nc, j.ng, j.nd)
        return plan
