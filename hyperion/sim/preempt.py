"""Partitions sharing nodes, with partition-priority preemption (REQUEUE).

Slurm lets several partitions overlap on the same nodes. With
``PreemptType=preempt/partition_prio`` and ``PreemptMode=REQUEUE``, jobs of a partition with a
higher ``PriorityTier`` are scheduled first, and a pending one that cannot start may requeue
running jobs of lower-tier partitions whose preemption is enabled (``preemptible = true`` in the
site config) to make room.

:class:`SharedPool` is one resource pool (the shared nodes) holding the jobs of every member
partition in one queue, ordered by tier (higher first), then by job priority when the pool
orders by priority, then by arrival. Each scheduling pass first starts queue heads in order,
requeueing lower-tier preemptible jobs for a head that does not fit (the fewest needed, lowest
tier first and, within a tier, the most recently started first, since they lose the least), and
then runs the pool's usual pass (FCFS, EASY or conservative) for the rest.

A requeued job keeps the work done up to its last checkpoint (every ``checkpoint_s`` seconds of
run time since it last started; 0 or None: no checkpoints, all is lost), goes back to the queue
in its original place and is eligible at once; when it runs again it runs only what is left.
The time lost counts as waiting in the metrics (wait = end - submit - run time), and the pool
counts preemptions and lost core-seconds.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter

from hyperion.sim.job import SimJob
from hyperion.sim.pool import Pool

_QKEY = attrgetter("qkey")


@dataclass(slots=True)
class Member:
    """One partition of a :class:`SharedPool`, with its own counters for site snapshots."""

    name: str
    tier: int = 1
    preemptible: bool = False
    max_time: int | None = None
    pending: int = 0
    pending_cores: int = 0
    pending_gpus: int = 0
    running: int = 0

    def allows(self, job: SimJob) -> bool:
        return self.max_time is None or job.req <= self.max_time

    def clear(self) -> None:
        self.pending = self.pending_cores = self.pending_gpus = self.running = 0


class SharedPool(Pool):
    """Member partitions on the same cores and GPUs, with preemption (see the module docstring).

    ``members`` are in routing order: a job that names none of them (``req_partition``) goes to
    the first whose time limit allows it, so list the site's default partition first.
    """

    __slots__ = ("members", "by_name", "checkpoint_s")

    #: heads start (and preempt) outside the plan: always re-plan in full
    _incremental = False

    def __init__(
        self,
        name: str,
        cores: int,
        gpus: int = 0,
        *,
        members: Sequence[Member],
        checkpoint_s: float | None = None,
        **options: object,
    ) -> None:
        if not members:
            raise ValueError(f"shared partition group {name!r} needs at least one partition")
        names = [m.name for m in members]
        if len(set(names)) != len(names):
            raise ValueError(f"shared partition group {name!r}: repeated partition names")
        if checkpoint_s is not None and checkpoint_s < 0:
            raise ValueError(f"checkpoint interval must be >= 0, got {checkpoint_s}")
        self.members = list(members)
        self.by_name = {m.name: m for m in self.members}
        self.checkpoint_s = checkpoint_s or 0.0
        super().__init__(name, cores, gpus, **options)  # type: ignore[arg-type]
        self.names = frozenset(names)
        self.shared = True
        limits = [m.max_time for m in self.members]
        self.max_time = None if None in limits else max(t for t in limits if t is not None)
        self.priority_tier = max(m.tier for m in self.members)
        self.preemptible = any(m.preemptible for m in self.members)

    def reset(self) -> None:
        super().reset()
        for m in self.members:
            m.clear()

    # -- routing ---------------------------------------------------------------------------

    def member_for(self, job: SimJob) -> Member | None:
        """The partition the job goes to: the one it asks for, else the first that allows it."""
        want = job.req_partition
        if want is not None:
            m = self.by_name.get(want)
            if m is not None and m.allows(job):
                return m
        return next((m for m in self.members if m.allows(job)), None)

    def can_run(self, job: SimJob) -> bool:
        return (
            job.cores <= self.cores and job.gpus <= self.gpus and self.member_for(job) is not None
        )

    def partition_of(self, job: SimJob) -> str:
        m = self.member_for(job)
        return m.name if m is not None else self.name

    # -- events ----------------------------------------------------------------------------

    def submit(self, job: SimJob, now: float) -> None:
        m = self.member_for(job)
        if m is None:
            raise ValueError(f"job {job.job_id} fits no partition of {self.name!r}")
        job.pool = self
        job.partition = m.name
        job.tier = m.tier
        job.nc, job.ng, job.nd = job.cores, job.gpus, job.req
        seq = self._seq
        self._seq = seq + 1
        job.seq = seq
        job.qkey = (-m.tier, -job.priority if self.by_priority else 0, seq)
        self.version += 1
        self._enqueue(job)
        self.schedule(now)

    def _enqueue(self, job: SimJob) -> None:
        insort(self.queue, job, key=_QKEY)
        self.pending_cores += job.nc
        self.pending_gpus += job.ng
        self.pending_work += job.nc * job.nd
        m = self.by_name[job.partition]  # type: ignore[index]
        m.pending += 1
        m.pending_cores += job.nc
        m.pending_gpus += job.ng

    def _dequeued(self, job: SimJob) -> None:
        super()._dequeued(job)
        m = self.by_name[job.partition]  # type: ignore[index]
        m.pending -= 1
        m.pending_cores -= job.nc
        m.pending_gpus -= job.ng

    def _start(self, job: SimJob, now: float) -> None:
        left = job.run - job.saved  # a requeued job resumes from its last checkpoint
        job.start = now
        end = now + left
        job.end = end
        self.free_cores -= job.nc
        self.free_gpus -= job.ng
        self.busy_core_s += job.nc * left
        self.busy_gpu_s += job.ng * left
        self.started += 1
        pend = now + job.nd  # Slurm plans a requeued job with its full time limit again
        job.pend = pend
        insort(self.running, (pend, job.idx, job))
        heapq.heappush(self.heap, (end, job.idx, job))
        self.by_name[job.partition].running += 1  # type: ignore[index]

    def finish(self, job: SimJob) -> None:
        super().finish(job)
        self.by_name[job.partition].running -= 1  # type: ignore[index]

    def schedule(self, now: float) -> None:
        self._heads(now)
        super().schedule(now)

    # -- preemption ------------------------------------------------------------------------

    def _heads(self, now: float) -> None:
        """Start queue heads in order, preempting for a head that does not fit."""
        q = self.queue
        while q:
            head = q[0]
            if head.nc <= self.free_cores and head.ng <= self.free_gpus:
                del q[0]
                self._dequeued(head)
                self._start(head, now)
                self.version += 1
                continue
            victims = self.victims(head)
            if not victims:
                return
            for v in victims:
                self.requeue(v, now)

    def victims(self, head: SimJob) -> list[SimJob]:
        """The running jobs to requeue so ``head`` can start now ([] if that is impossible)."""
        need_c = head.nc - self.free_cores
        need_g = head.ng - self.free_gpus
        cands = [
            rj
            for _, _, rj in self.running
            if rj.tier < head.tier and self.by_name[rj.partition].preemptible  # type: ignore[index]
        ]
        if sum(j.nc for j in cands) < need_c or sum(j.ng for j in cands) < need_g:
            return []
        cands.sort(key=lambda j: (j.tier, -j.start, -j.idx))
        chosen = []
        for v in cands:
            if need_c <= 0 and need_g <= 0:
                break
            if (need_c > 0 and v.nc > 0) or (need_g > 0 and v.ng > 0):
                chosen.append(v)
                need_c -= v.nc
                need_g -= v.ng
        return chosen if need_c <= 0 and need_g <= 0 else []

    def requeue(self, job: SimJob, now: float) -> None:
        """Stop a running job at ``now``, keep its checkpointed work, and queue it again."""
        ran = now - job.start
        ckpt = self.checkpoint_s
        kept = (ran // ckpt) * ckpt if ckpt > 0 else 0.0
        lost = ran - kept
        job.saved += kept
        job.lost += lost
        job.preempted += 1
        if job.segs is None:
            job.segs = []
        job.segs.append((job.start, now))
        self.preemptions += 1
        self.lost_core_s += job.cores * lost
        unrun = job.end - now
        self.busy_core_s -= job.nc * unrun
        self.busy_gpu_s -= job.ng * unrun
        self.free_cores += job.nc
        self.free_gpus += job.ng
        running = self.running
        del running[bisect_left(running, (job.pend, job.idx))]
        heap = self.heap
        heap.remove((job.end, job.idx, job))
        heapq.heapify(heap)
        self.by_name[job.partition].running -= 1  # type: ignore[index]
        job.start = job.end = -1.0
        self._enqueue(job)
        self.version += 1

    # -- estimates -------------------------------------------------------------------------

    def estimate_start(self, job: SimJob, now: float) -> float:
        """Now if nothing of the job's tier or higher is queued and free plus preemptible
        resources suffice; else the plan of the whole queue (an over-estimate for high tiers)."""
        m = self.member_for(job)
        tier = m.tier if m is not None else 0
        q = self.queue
        if not q or -q[0].qkey[0] < tier:
            pc, pg = self.free_cores, self.free_gpus
            for _, _, rj in self.running:
                if rj.tier < tier and self.by_name[rj.partition].preemptible:  # type: ignore[index]
                    pc += rj.nc
                    pg += rj.ng
            if job.cores <= pc and job.gpus <= pg:
                return now
        return super().estimate_start(job, now)
