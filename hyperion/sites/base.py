"""The SiteConnector contract: how Hyperion talks to one Slurm cluster.

Three transports implement it and pass one contract test suite against real Slurm
(``tests/integration/test_connector_contract.py``):

* ``local`` - the Slurm CLI on this machine, as argv lists (:mod:`hyperion.sites.local`);
* ``ssh``   - the Slurm CLI on a login node over one persistent SSH connection
  (:mod:`hyperion.sites.ssh`);
* ``rest``  - slurmrestd, OpenAPI v0.0.38, with JWT (:mod:`hyperion.sites.rest`).

The protocol, for one site::

    conn = connect(site_config)              # cheap; the network is touched lazily
    info = conn.ping()                        # SiteInfo: cluster name, Slurm version
    job_id = conn.submit(Submission(...))     # as Submission.user; returns Slurm's job id
    statuses = conn.jobs(["12", "13"])        # ONE query for many jobs (+1 for old jobs)
    conn.cancel(["12"], user="alice")         # one call for many jobs, as their owner
    state = conn.snapshot()                   # SiteState: partitions, queue, cloud nodes
    est = conn.estimate_start(Submission(...))  # Slurm's own start estimate, submits nothing
    pre = conn.preemption()                   # PreemptType / PreemptMode per partition
    conn.close()

Every method either returns or raises a :class:`hyperion.errors.SiteError` subclass within
the connector's bounded timeout: :class:`SiteUnreachable` (host, sshd, slurmrestd or
slurmctld down), :class:`AuthenticationRefused`, :class:`HostKeyMismatch`, :class:`JobRejected`
(with Slurm's message). A timeout during ``submit`` is :class:`SubmitOutcomeUnknown`: the job
may exist; callers must look for it (by the key in its comment) before submitting again.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hyperion.errors import JobSpecError, SiteError
from hyperion.types import JobState, SiteState

_OPTION_NAME = re.compile(r"^[a-z][a-z0-9-]*$")

#: environment given to jobs when the submitter gives none (never the daemon's own environment)
DEFAULT_JOB_ENV: Mapping[str, str] = {"PATH": "/usr/local/bin:/usr/bin:/bin"}


class SubmitOutcomeUnknown(SiteError):
    """The submission timed out or the connection broke after sending: the job may exist."""


@dataclass(frozen=True, slots=True)
class Submission:
    """A batch job to hand to one site, already translated for it.

    ``options`` are sbatch long options without the leading dashes, in order, with the value
    (None for flags): e.g. ``(("job-name", "x"), ("partition", "batch"), ("requeue", None))``.
    ``user`` is the Unix user the job must belong to on the site.
    """

    script: str
    user: str
    options: tuple[tuple[str, str | None], ...] = ()
    cwd: str = "/tmp"
    environment: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_JOB_ENV))

    def __post_init__(self) -> None:
        for name, value in self.options:
            if not _OPTION_NAME.match(name):
                raise JobSpecError(f"invalid sbatch option name {name!r}")
            if value is not None and any(c in value for c in "\0\n\r"):
                raise JobSpecError(
                    f"--{name}: a value must not contain a newline or NUL character: {value!r}"
                )
        for key, val in self.environment.items():
            if not key or "=" in key or "\0" in key or "\0" in val:
                raise JobSpecError(f"environment variable {key!r} cannot be passed to a job")
        if "\0" in self.script or "\0" in self.cwd or "\n" in self.cwd:
            raise JobSpecError("the job script and working directory must not contain NUL bytes")

    def option(self, name: str) -> str | None:
        """The value of the last occurrence of option ``name`` (None if absent or a flag)."""
        value = None
        for key, val in self.options:
            if key == name:
                value = val
        return value


@dataclass(frozen=True, slots=True)
class SiteInfo:
    """What ``ping`` learns: the cluster's name and Slurm version."""

    cluster: str
    slurm_version: str


@dataclass(frozen=True, slots=True)
class JobStatus:
    """One Slurm job as the site reports it now."""

    job_id: str
    state: JobState
    slurm_state: str
    user: str | None
    name: str
    partition: str
    comment: str
    submit_time: float | None
    start_time: float | None
    end_time: float | None
    exit_code: int | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class StartEstimate:
    """When a job would start if submitted now. ``source`` says who estimated it:
    ``"slurm"`` (sbatch --test-only) or ``"hyperion"`` (computed from a snapshot, where the
    transport offers no estimate)."""

    start_time: float
    partition: str
    nodes: str
    source: str = "slurm"


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    """A partition as configured in Slurm (for ``hctl check`` and preemption)."""

    name: str
    nodes: str
    total_nodes: int
    total_cpus: int
    max_time_s: int | None
    priority_tier: int
    preempt_mode: str
    default: bool
    state: str


@dataclass(frozen=True, slots=True)
class PreemptionSettings:
    """The site's preemption configuration: what PREEMPTED/REQUEUED will mean there."""

    preempt_type: str
    preempt_mode: str
    partition_modes: Mapping[str, str]

    def mode_for(self, partition: str) -> str:
        """The effective PreemptMode of ``partition`` (partition setting, else the global one)."""
        mode = self.partition_modes.get(partition)
        return mode if mode and mode.upper() not in {"", "GANG"} else self.preempt_mode


class SiteConnector(ABC):
    """A connection to one Slurm cluster. See the module docstring for the protocol."""

    def __init__(self, site: str) -> None:
        self.site = site
        #: Slurm round trips made so far (commands or HTTP requests), for tests and benchmarks
        self.calls = 0

    @abstractmethod
    def ping(self) -> SiteInfo:
        """Check that the controller answers; return its cluster name and Slurm version."""

    @abstractmethod
    def submit(self, sub: Submission) -> str:
        """Submit a batch job as ``sub.user``; return the Slurm job id."""

    @abstractmethod
    def jobs(self, job_ids: Iterable[str] | None = None) -> dict[str, JobStatus]:
        """Status of many jobs in one query (all visible jobs when ``job_ids`` is None).

        Jobs the controller has forgotten are looked up in accounting in one more query.
        Ids Slurm knows nothing about are absent from the result.
        """

    def jobs_since(self, since: float) -> dict[str, JobStatus]:
        """Every job slurmctld knows plus those accounting recorded since ``since`` (epoch):
        what recovery searches for attempt keys. Transports override it; by default only
        the jobs slurmctld still knows."""
        return self.jobs()

    @abstractmethod
    def cancel(self, job_ids: Iterable[str], user: str | None = None) -> None:
        """Cancel jobs (one call where the transport allows); jobs already finished are not an
        error. With ``user``, the cancel is made as that user, so Slurm itself refuses to
        cancel a job that is not theirs; without, as the connector's own account."""

    @abstractmethod
    def snapshot(self) -> SiteState:
        """Resources per partition and the queue, now."""

    @abstractmethod
    def estimate_start(self, sub: Submission) -> StartEstimate:
        """When the job would start if submitted now; submits nothing."""

    @abstractmethod
    def partitions(self) -> list[PartitionInfo]:
        """The partitions as Slurm has them configured."""

    @abstractmethod
    def preemption(self) -> PreemptionSettings:
        """The site's PreemptType and PreemptMode (global and per partition)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the connector reconnects if used again."""

    def __enter__(self) -> SiteConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
