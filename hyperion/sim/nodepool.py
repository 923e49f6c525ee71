"""Node-aware partitions: jobs packed onto nodes with cores, memory and GPUs.

A :class:`NodePool` is a :class:`~hyperion.sim.pool.Pool` whose resources are ``nodes`` nodes of
``cores_per_node`` cores, ``mem_per_node`` MB (None: memory not modelled) and ``gpus_per_node``
GPUs; jobs are placed by :func:`hyperion.sim.nodes.place`. Queue order is the pool's. Behind a
blocked head:

* no backfilling: nothing else starts;
* EASY: the shadow time is found by replaying the running jobs' releases in order of requested
  end (jobs past it count as ending now; jobs ending at the same instant together) on a copy of
  the node state until the head fits. A later job may start now (where it fits now) if it ends,
  by its requested time, by the shadow time, or if the head still fits in the node state at the
  shadow time with this job, and the longer jobs backfilled before it, still holding their nodes.
  Since a job that fits keeps fitting when more is free (:mod:`hyperion.sim.nodes`), the head
  can start at the shadow time at the latest when jobs keep to their requested times;
* conservative backfilling is refused (a profile over nodes is not implemented).

Start estimates are the pooled plan of :class:`Pool` (cores and GPUs, the queue included), or
later if the job alone would not fit on the nodes by then (the same replay as the shadow time).
"""

from __future__ import annotations

from math import inf

from hyperion.sim.job import SimJob
from hyperion.sim.nodes import Alloc, Need, give, place, take
from hyperion.sim.pool import Pool

#: the node state: free cores, memory (MB) and GPUs per node
State = tuple[list[int], list[int], list[int]]


class NodePool(Pool):
    """A partition of whole nodes (see the module docstring)."""

    __slots__ = ("mem_per_node", "node_mem", "shape", "fc", "fm", "fg", "_at_shadow", "_fits")

    def __init__(
        self,
        name: str,
        nodes: int,
        cores_per_node: int,
        gpus_per_node: int = 0,
        *,
        mem_per_node: int | None = None,
        **options: object,
    ) -> None:
        if nodes < 1 or cores_per_node < 1:
            raise ValueError(f"partition {name!r} needs at least one node and one core per node")
        self.mem_per_node = mem_per_node
        self.node_mem = mem_per_node or 0
        self._fits: dict[Need, bool] = {}
        super().__init__(
            name,
            nodes * cores_per_node,
            nodes * gpus_per_node,
            nodes=nodes,
            **options,  # type: ignore[arg-type]
        )
        if self.conservative:
            raise ValueError(
                f"partition {name!r}: conservative backfilling is not available on node-aware "
                "partitions; use EASY (backfill = true) or none"
            )

    def reset(self) -> None:
        super().reset()
        #: one node: (cores, memory MB, GPUs)
        self.shape = (self.cores_per_node, self.node_mem, self.gpus_per_node)
        n = self.nodes
        self.fc = [self.cores_per_node] * n
        self.fm = [self.node_mem] * n
        self.fg = [self.gpus_per_node] * n
        self._at_shadow: State | None = None

    # -- demand ----------------------------------------------------------------------------

    def need(self, job: SimJob) -> Need:
        """The job's demand on these nodes (memory left out when the nodes have none set); an
        exclusive job's node count is the whole nodes it needs (more than exist: never fits)."""
        c, g = job.cores, job.gpus
        memc = memn = 0
        if self.mem_per_node is not None:
            memc = job.mem_per_core or 0
            memn = 0 if memc else job.mem_mb or 0
        n = job.nodes
        if job.exclusive:
            cpn, gpn = self.cores_per_node, self.gpus_per_node
            per = min(cpn, self.node_mem // memc) if memc else cpn  # cores a whole node holds
            if per < 1 or (g and not gpn) or memn > self.node_mem:
                n = self.nodes + 1
            elif not n:
                n = max(-(-c // per), -(-g // gpn) if g else 1)
            elif -(-c // n) > per or -(-g // n) > gpn:
                n = self.nodes + 1
        return (c, g, n, memn, memc, job.exclusive)

    def _holds(self, need: Need) -> tuple[int, int]:
        """Cores and GPUs a job with ``need`` holds here (whole nodes when exclusive)."""
        c, g, n, _, _, excl = need
        if excl:
            return n * self.cores_per_node, n * self.gpus_per_node
        if n:
            return n * -(-c // n), n * -(-g // n)
        return c, g

    def _set_demand(self, job: SimJob) -> None:
        job.need = need = self.need(job)
        job.nc, job.ng = self._holds(need)
        job.nd = job.req

    def demand(self, job: SimJob) -> tuple[int, int, float]:
        return (*self._holds(self.need(job)), job.req)

    def can_run(self, job: SimJob) -> bool:
        if self.max_time is not None and job.req > self.max_time:
            return False
        need = self.need(job)
        ok = self._fits.get(need)
        if ok is None:
            n, shape = self.nodes, self.shape
            full = place(need, [shape[0]] * n, [shape[1]] * n, [shape[2]] * n, shape)
            ok = self._fits[need] = full is not None
        return ok

    # -- events ----------------------------------------------------------------------------

    def _launch(self, job: SimJob, now: float, alloc: Alloc) -> None:
        take(alloc, self.fc, self.fm, self.fg)
        job.alloc = alloc
        self._start(job, now)

    def finish(self, job: SimJob) -> None:
        alloc = job.alloc
        if alloc is not None:
            give(alloc, self.fc, self.fm, self.fg)
            job.alloc = None
        super().finish(job)

    def submit(self, job: SimJob, now: float) -> None:
        """A job arrives: start it, backfill it (against the cached reservation), or queue it."""
        job.pool = self
        self._set_demand(job)
        q = self.queue
        plan_ok = self._plan_version == self.version
        self.version += 1
        if not q:
            a = place(job.need, self.fc, self.fm, self.fg, self.shape)
            if a is not None:
                self._launch(job, now, a)
            else:
                self._enqueue(job)
                self.schedule(now)
            return
        if (self.by_priority and (0, -job.priority, self._seq) < q[0].qkey) or (
            self.backfill and self.free_cores > 0 and self.shadow <= now
        ):
            # a new head, or the reservation's time has passed: plan afresh
            self._enqueue(job)
            self.schedule(now)
            return
        if self.backfill and self._backfill(job, now, self.shadow):
            return
        self._queue_and_plan(job, now, plan_ok)

    def schedule(self, now: float) -> None:
        """One pass: queue order from the head, then EASY backfilling behind it."""
        q = self.queue
        fc, fm, fg, shape = self.fc, self.fm, self.fg, self.shape
        n = 0
        while n < len(q):
            j = q[n]
            a = place(j.need, fc, fm, fg, shape)
            if a is None:
                break
            self._dequeued(j)
            self._launch(j, now, a)
            n += 1
        if n:
            del q[:n]
            self.version += 1
        self._at_shadow = None
        self.shadow = -inf
        self.extra_cores = self.extra_gpus = -1
        if not q or not self.backfill:
            return
        head = q[0]
        shadow, at = self._replay(head.need, now)
        self.shadow = shadow
        self._at_shadow = at
        if at is not None:
            self.extra_cores = sum(at[0]) - head.nc
            self.extra_gpus = sum(at[2]) - head.ng
        started = []
        misfit: dict[tuple[int, int, int, int, bool], int] = {}
        for i in range(1, len(q)):
            if self._backfill(q[i], now, shadow, misfit):
                started.append(i)
                if self.free_cores <= 0:
                    break
        if started:
            for i in reversed(started):
                self._dequeued(q[i])
                del q[i]
            self.version += 1

    def _backfill(
        self,
        job: SimJob,
        now: float,
        shadow: float,
        misfit: dict[tuple[int, int, int, int, bool], int] | None = None,
    ) -> bool:
        """Start ``job`` now if EASY allows it (see the module docstring); True if it started.

        ``misfit`` (within one pass, where free resources only shrink) maps a demand without its
        cores to the fewest cores that did not fit now: jobs asking as many or more are skipped.
        """
        c, g = job.nc, job.ng
        if c > self.free_cores or g > self.free_gpus:
            return False
        long = now + job.nd > shadow
        if long and (c > self.extra_cores or g > self.extra_gpus):
            return False  # not even the pooled totals at the shadow time leave room
        need = job.need
        if misfit is not None and need[0] >= misfit.get(need[1:], need[0] + 1):
            return False
        a = place(need, self.fc, self.fm, self.fg, self.shape)
        if a is None:
            if misfit is not None:
                misfit[need[1:]] = need[0]
            return False
        if long:
            at = self._at_shadow
            if at is None:
                return False
            take(a, *at)
            if place(self.queue[0].need, *at, self.shape) is None:
                give(a, *at)
                return False
            self.extra_cores -= c
            self.extra_gpus -= g
        self._launch(job, now, a)
        return True

    def _replay(self, need: Need, now: float) -> tuple[float, State | None]:
        """When ``need`` fits as running jobs release their nodes by their requested ends, and
        the node state then ((inf, None) if never)."""
        fc, fm, fg = self.fc[:], self.fm[:], self.fg[:]
        shape = self.shape
        fits = place(need, fc, fm, fg, shape) is not None
        t = now
        running = self.running
        k, nr = 0, len(running)
        while not fits and k < nr:
            t = max(running[k][0], now)
            while k < nr and running[k][0] <= t:
                rj = running[k][2]
                if rj.alloc is not None:
                    give(rj.alloc, fc, fm, fg)
                k += 1
            fits = place(need, fc, fm, fg, shape) is not None
        return (t, (fc, fm, fg)) if fits else (inf, None)

    def idle_nodes(self) -> int:
        cpn, mpn, gpn = self.shape
        fm, fg = self.fm, self.fg
        return sum(1 for i, f in enumerate(self.fc) if f == cpn and fm[i] == mpn and fg[i] == gpn)

    # -- estimates -------------------------------------------------------------------------

    def estimate_start(self, job: SimJob, now: float) -> float:
        """The pooled plan's start, or later when the job alone would not fit on the nodes yet."""
        need = self.need(job)
        if not self.queue and place(need, self.fc, self.fm, self.fg, self.shape) is not None:
            return now
        return max(super().estimate_start(job, now), self._replay(need, now)[0])
