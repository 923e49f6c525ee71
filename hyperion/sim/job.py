"""The simulator's job record: what a workload says about one job, plus what the run decides.

A plain ``__slots__`` class rather than a dataclass: the engine touches these attributes in its
hot loop, and slot access on a plain class is the cheapest Python offers.
"""

from __future__ import annotations

from typing import Any


class SimJob:
    """One job of a workload.

    Workload fields: ``job_id`` (from the trace), ``submit`` (seconds from the workload start),
    ``run`` (actual run time, s), ``req`` (requested time, s; the scheduler plans with it),
    ``cores``, ``gpus`` (in total, as :class:`~hyperion.types.JobRequest` counts them),
    ``mem_mb`` (memory per node, like ``sbatch --mem``; None: not asked), ``mem_per_core`` (MB per
    core, like ``--mem-per-cpu``; it wins over ``mem_mb``; SWF traces give this), ``nodes`` (node
    count asked, like ``-N``; 0: the scheduler chooses), ``exclusive`` (whole nodes), ``user``,
    ``home`` (the site its user would submit to without Hyperion; None: no preference),
    ``priority`` (higher runs first where a site orders by priority), ``req_partition`` (the
    partition asked for, like ``sbatch -p``; None: the site's default routing), ``flex`` (seconds
    the start may be delayed for greener power; 0: none) and ``deadline`` (simulated time by
    which the job should end; None: none). Memory, node count and ``exclusive`` matter only on
    node-aware partitions (:mod:`hyperion.sim.nodepool`).

    Run fields, set by the engine and the partitions: ``site``, ``partition``, ``start`` and
    ``end`` (of the last, completing run), ``saved`` (run seconds kept by checkpoints across
    requeues), ``lost`` (run seconds lost to requeues), ``preempted`` (times requeued),
    ``segs`` (earlier, preempted runs as ``(start, end)``; None if never preempted).
    ``nc``/``ng``/``nd`` are the cores, GPUs and seconds the partition plans for (whole nodes
    and boot time on cloud partitions), ``pend`` the planned end of the current run; ``need``
    and ``alloc`` are the demand and the per-node allocation on node-aware partitions.
    """

    __slots__ = (
        "idx",
        "job_id",
        "submit",
        "run",
        "req",
        "cores",
        "gpus",
        "mem_mb",
        "mem_per_core",
        "nodes",
        "exclusive",
        "user",
        "home",
        "priority",
        "req_partition",
        "flex",
        "deadline",
        "site",
        "partition",
        "start",
        "end",
        "pool",
        "nc",
        "ng",
        "nd",
        "pend",
        "seq",
        "qkey",
        "tier",
        "saved",
        "lost",
        "preempted",
        "segs",
        "nodes_held",
        "need",
        "alloc",
    )

    def __init__(
        self,
        job_id: int,
        submit: float,
        run: float,
        req: float,
        cores: int,
        gpus: int = 0,
        *,
        mem_mb: int | None = None,
        mem_per_core: int | None = None,
        nodes: int = 0,
        exclusive: bool = False,
        user: int = -1,
        home: str | None = None,
        priority: int = 0,
        req_partition: str | None = None,
        flex: float = 0.0,
        deadline: float | None = None,
    ) -> None:
        self.idx = 0
        self.job_id = job_id
        self.submit = submit
        self.run = run
        self.req = req
        self.cores = cores
        self.gpus = gpus
        self.mem_mb = mem_mb
        self.mem_per_core = mem_per_core
        self.nodes = nodes
        self.exclusive = exclusive
        self.user = user
        self.home = home
        self.priority = priority
        self.req_partition = req_partition
        self.flex = flex
        self.deadline = deadline
        self.site: str | None = None
        self.partition: str | None = None
        self.start = -1.0
        self.end = -1.0
        self.pool: Any = None  # the Pool it was placed in (Any: no import cycle)
        self.nc = cores
        self.ng = gpus
        self.nd = req
        self.pend = -1.0
        self.seq = 0
        self.qkey: tuple[int, int, int] = (0, 0, 0)
        self.tier = 0
        self.saved = 0.0
        self.lost = 0.0
        self.preempted = 0
        self.segs: list[tuple[float, float]] | None = None
        self.nodes_held: list[float] | None = None
        self.need: tuple[int, int, int, int, int, bool] = (cores, gpus, nodes, 0, 0, exclusive)
        self.alloc: list[tuple[int, int, int, int]] | None = None

    def copy(self) -> SimJob:
        """A fresh (unscheduled) copy with the same workload fields."""
        j = SimJob(
            self.job_id,
            self.submit,
            self.run,
            self.req,
            self.cores,
            self.gpus,
            mem_mb=self.mem_mb,
            mem_per_core=self.mem_per_core,
            nodes=self.nodes,
            exclusive=self.exclusive,
            user=self.user,
            home=self.home,
            priority=self.priority,
            req_partition=self.req_partition,
            flex=self.flex,
            deadline=self.deadline,
        )
        j.idx = self.idx
        return j

    def clear_run(self) -> None:
        """Forget what an earlier run did to this job (requeues, checkpoints, cloud nodes)."""
        self.saved = 0.0
        self.lost = 0.0
        self.preempted = 0
        self.segs = None
        self.nodes_held = None

    @property
    def mem_per_node(self) -> int | None:
        """Memory per node as :class:`~hyperion.types.JobRequest` counts it: ``mem_per_core`` x
        the cores of the busiest node (``ceil(cores / nodes)``), else ``mem_mb``."""
        if self.mem_per_core is not None:
            return self.mem_per_core * -(-self.cores // max(self.nodes, 1))
        return self.mem_mb

    @property
    def wait(self) -> float:
        """Seconds from submission to the end minus the run time (-1 if it never started).

        Without requeues that is start - submit; a requeued job's lost work counts as waiting.
        """
        return self.start - self.submit - self.saved if self.start >= 0 else -1.0

    @property
    def occupied(self) -> float:
        """Seconds the job held its resources over all its runs (run time plus lost work)."""
        return self.run + self.lost

    def __repr__(self) -> str:
        return (
            f"SimJob(id={self.job_id}, submit={self.submit}, run={self.run}, req={self.req}, "
            f"cores={self.cores}, gpus={self.gpus}, home={self.home!r}, start={self.start})"
        )
