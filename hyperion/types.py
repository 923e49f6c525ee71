"""The value types shared by the live system and the simulator.

One placement code path (see docs/architecture.md): policies see the same :class:`JobRequest`
and :class:`SiteState` whether they run in ``hyperiond`` or in the simulator.
All times are UTC epoch seconds (float); durations are seconds; memory is MiB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class JobState(StrEnum):
    """Hyperion's job states. Slurm's states map onto these in :mod:`hyperion.sites.states`."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUSPENDED = "SUSPENDED"
    COMPLETING = "COMPLETING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    PREEMPTED = "PREEMPTED"
    REQUEUED = "REQUEUED"
    NODE_FAIL = "NODE_FAIL"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    BOOT_FAIL = "BOOT_FAIL"
    DEADLINE = "DEADLINE"
    UNKNOWN = "UNKNOWN"

    @property
    def is_final(self) -> bool:
        """True when the Slurm job will never change state again."""
        return self in _FINAL

    @property
    def is_active(self) -> bool:
        """True while the job holds or waits for resources on its site."""
        return self in _ACTIVE


_FINAL = frozenset(
    {
        JobState.COMPLETED,
        JobState.FAILED,
        JobState.CANCELLED,
        JobState.TIMEOUT,
        JobState.NODE_FAIL,
        JobState.OUT_OF_MEMORY,
        JobState.BOOT_FAIL,
        JobState.DEADLINE,
    }
)
_ACTIVE = frozenset(
    {JobState.PENDING, JobState.RUNNING, JobState.SUSPENDED, JobState.COMPLETING, JobState.REQUEUED}
)


@dataclass(frozen=True, slots=True)
class JobRequest:
    """What a job asks for, independent of any site's names.

    ``gpus`` is the total number of GPUs; ``gpu_type`` is a site-neutral type name or None.
    ``time_limit_s`` None means "the partition's default". ``carbon_flex_s`` (seconds the start
    may be delayed for greener power, like ``hsub --carbon-flex 6h``) and ``deadline`` (epoch
    time by which the job must end, ``--deadline``) declare time flexibility; None: none, and
    the job is never delayed for carbon.
    """

    nodes: int = 1
    ntasks: int = 1
    cpus_per_task: int = 1
    mem_mb: int | None = None
    gpus: int = 0
    gpu_type: str | None = None
    time_limit_s: int | None = None
    partition: str | None = None
    user: str | None = None
    account: str | None = None
    name: str | None = None
    carbon_flex_s: float | None = None
    deadline: float | None = None

    @property
    def cpus(self) -> int:
        """Total CPUs (cores) requested."""
        return self.ntasks * self.cpus_per_task


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """A job seen in a site's queue (pending or running), with its requested resources."""

    job_id: str
    state: JobState
    partition: str
    user: str
    name: str
    nodes: int
    cpus: int
    gpus: int
    time_limit_s: int | None
    submit_time: float | None
    start_time: float | None
    priority: int | None = None
    comment: str = ""


@dataclass(frozen=True, slots=True)
class PartitionState:
    """Free and total resources of one partition at one instant."""

    name: str
    total_nodes: int
    idle_nodes: int
    alloc_nodes: int
    down_nodes: int
    total_cpus: int
    idle_cpus: int
    alloc_cpus: int
    total_gpus: int
    idle_gpus: int
    alloc_gpus: int
    cloud_nodes_powered_down: int = 0
    cloud_nodes_powered_up: int = 0
    pending_jobs: int = 0
    running_jobs: int = 0
    pending_cpus: int = 0
    pending_gpus: int = 0
    max_time_s: int | None = None
    priority_tier: int = 1
    preempt_mode: str = "OFF"


@dataclass(frozen=True, slots=True)
class SiteState:
    """A snapshot of one site: the type policies decide on, live and in the simulator."""

    site: str
    time: float
    partitions: tuple[PartitionState, ...]
    jobs: tuple[QueuedJob, ...] = ()
    slurm_version: str | None = None
    up: bool = True
    carbon_g_per_kwh: float | None = None
    carbon_forecast: tuple[tuple[float, float], ...] = field(default=())

    def partition(self, name: str) -> PartitionState | None:
        """The partition called ``name``, or None."""
        for p in self.partitions:
            if p.name == name:
                return p
        return None

    @property
    def pending_jobs(self) -> int:
        return sum(p.pending_jobs for p in self.partitions)

    @property
    def idle_cpus(self) -> int:
        return sum(p.idle_cpus for p in self.partitions)
