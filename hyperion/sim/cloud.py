"""Cloud burst partitions: nodes that are powered down until a job needs them.

Modelled on Slurm's power saving (``State=CLOUD`` nodes, ``ResumeProgram``, ``SuspendTime``):

* capacity cap: at most ``nodes`` instances; a job gets whole nodes (cloud instances are not
  shared between jobs here), ``max(ceil(cores / cores_per_node), ceil(gpus / gpus_per_node))``;
* boot delay: a job allocated any powered-down node starts ``boot_time`` seconds later (Slurm's
  CONFIGURING state); idle powered-up nodes are reused first, the most recently idle first, so
  the longest-idle ones are the first to power down;
* idle power-down: a node idle for ``idle_poweroff`` seconds powers down (None: never, once up);
* powered-up node-seconds (boot, busy and idle time, until each node powers down) are what the
  site's ``node_hour`` price and ``idle_w_per_node`` draw are charged on; a powered-down node
  costs and draws nothing.

Planning (EASY shadow times, conservative reservations, start estimates) counts a queued cloud
job as holding its nodes for its requested time plus the boot time, since it cannot know
whether the job will find warm nodes. Power-downs are applied lazily, whenever the partition is
touched, at the exact times they happen; no event is needed since they never start a job.
"""

from __future__ import annotations

import heapq
from bisect import insort
from collections import deque

from hyperion.sim.job import SimJob
from hyperion.sim.pool import Pool


class CloudPool(Pool):
    """A cloud partition of ``nodes`` powered-down nodes (see the module docstring)."""

    __slots__ = ("boot_time", "idle_poweroff", "idle", "on", "boots", "intervals")

    #: planned and actual node holds differ by the boot time: always re-plan in full
    _incremental = False

    def __init__(
        self,
        name: str,
        nodes: int,
        cores_per_node: int,
        gpus_per_node: int = 0,
        *,
        boot_time: float = 0.0,
        idle_poweroff: float | None = None,
        **options: object,
    ) -> None:
        if boot_time < 0 or (idle_poweroff is not None and idle_poweroff < 0):
            raise ValueError(f"cloud partition {name!r}: boot_time and idle_poweroff must be >= 0")
        self.boot_time = float(boot_time)
        self.idle_poweroff = None if idle_poweroff is None else float(idle_poweroff)
        super().__init__(
            name,
            nodes * cores_per_node,
            nodes * gpus_per_node,
            nodes=nodes,
            **options,  # type: ignore[arg-type]
        )
        self.is_cloud = True

    def reset(self) -> None:
        super().reset()
        #: idle powered-up nodes, oldest first: (idle since, powered up at)
        self.idle: deque[tuple[float, float]] = deque()
        self.on = 0  # powered-up nodes: booting, busy or idle
        self.boots = 0
        #: closed powered-up intervals (powered up at, powered down at)
        self.intervals: list[tuple[float, float]] = []

    # -- nodes -----------------------------------------------------------------------------

    def nodes_for(self, job: SimJob) -> int:
        """Whole nodes the job needs here."""
        n = -(-job.cores // self.cores_per_node)
        if job.gpus:
            gpn = self.gpus_per_node
            n = max(n, -(-job.gpus // gpn) if gpn else self.nodes + 1)
        return max(n, 1)

    def can_run(self, job: SimJob) -> bool:
        return (
            job.gpus <= self.gpus
            and self.nodes_for(job) <= self.nodes
            and (self.max_time is None or job.req <= self.max_time)
        )

    def demand(self, job: SimJob) -> tuple[int, int, float]:
        n = self.nodes_for(job)
        return n * self.cores_per_node, n * self.gpus_per_node, job.req + self.boot_time

    def tick(self, now: float) -> None:
        """Power down the nodes whose idle time reached ``idle_poweroff`` by ``now``."""
        off = self.idle_poweroff
        idle = self.idle
        if off is None or not idle or idle[0][0] + off > now:
            return
        while idle and idle[0][0] + off <= now:
            since, up = idle.popleft()
            self.intervals.append((up, since + off))
            self.on -= 1
        self.version += 1

    def powered_intervals(self, until: float) -> list[tuple[float, float]]:
        """Every powered-up interval of the run, the idle nodes left at the end included (they
        power down after ``idle_poweroff``, or at ``until`` if they never would)."""
        off = self.idle_poweroff
        tail = [
            (up, since + off if off is not None else max(since, until)) for since, up in self.idle
        ]
        return self.intervals + tail

    # -- events ----------------------------------------------------------------------------

    def submit(self, job: SimJob, now: float) -> None:
        self.tick(now)
        super().submit(job, now)

    def schedule(self, now: float) -> None:
        self.tick(now)
        super().schedule(now)

    def finish(self, job: SimJob) -> None:
        now = job.end
        self.tick(now)
        held = job.nodes_held or []
        for up in held:
            self.idle.append((now, up))
        job.nodes_held = None
        super().finish(job)

    def _start(self, job: SimJob, now: float) -> None:
        n = job.nc // self.cores_per_node
        idle = self.idle
        held = [idle.pop()[1] for _ in range(min(n, len(idle)))]  # most recently idle first
        cold = n - len(held)
        start = now
        if cold:
            self.on += cold
            self.boots += cold
            held.extend([now] * cold)
            start = now + self.boot_time
        job.nodes_held = held
        job.start = start
        end = start + job.run
        job.end = end
        nc, ng = job.nc, job.ng
        self.free_cores -= nc
        self.free_gpus -= ng
        self.busy_core_s += nc * (end - now)  # the nodes are held from allocation, boot included
        self.busy_gpu_s += ng * (end - now)
        self.started += 1
        pend = start + job.req
        job.pend = pend
        insort(self.running, (pend, job.idx, job))
        heapq.heappush(self.heap, (end, job.idx, job))

    # -- estimates -------------------------------------------------------------------------

    def estimate_start(self, job: SimJob, now: float) -> float:
        """The plan's start, plus the boot time if the job would start now on cold nodes."""
        self.tick(now)
        t = super().estimate_start(job, now)
        if t <= now and self.nodes_for(job) > len(self.idle):
            t = now + self.boot_time
        return t
