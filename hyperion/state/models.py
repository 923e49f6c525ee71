"""The database tables (``job``, ``attempt``, ``site_status``) and the state names they hold.

See docs/federation.md, "State". States are stored as plain strings; :class:`AttemptState` and
:class:`HyperionJobState` name them. Times are UTC epoch seconds (float). The tables are
created by :mod:`hyperion.state.migrations`, never from these classes: a change here needs a
new migration (``tests/unit/test_state.py`` compares the two).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKeyConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class AttemptState(StrEnum):
    """The state of one attempt to run a job on one site.

    Hyperion's own: INTENT (written before Slurm is called), SUBMITTED (Slurm job id known),
    UNKNOWN (the submit timed out or the connection broke after sending), CANCELLING
    (re-placement moves the job away), ABANDONED (never reached Slurm). The others are Slurm's.
    """

    INTENT = "INTENT"
    SUBMITTED = "SUBMITTED"
    UNKNOWN = "UNKNOWN"
    CANCELLING = "CANCELLING"
    ABANDONED = "ABANDONED"
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

    @property
    def is_live(self) -> bool:
        """True while the daemon must still watch the attempt (poll, recover or cancel it)."""
        return self in LIVE_ATTEMPT_STATES

    @property
    def is_final(self) -> bool:
        """True when the attempt will never change state again."""
        return self in FINAL_ATTEMPT_STATES


class HyperionJobState(StrEnum):
    """A job's state: its current attempt's state, or QUEUED (not yet placed) or REJECTED.

    Named apart from :class:`hyperion.types.JobState`, which is one Slurm job's state.
    """

    QUEUED = "QUEUED"
    REJECTED = "REJECTED"
    INTENT = "INTENT"
    SUBMITTED = "SUBMITTED"
    UNKNOWN = "UNKNOWN"
    CANCELLING = "CANCELLING"
    ABANDONED = "ABANDONED"
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

    @property
    def is_live(self) -> bool:
        """True until the job reaches a final state."""
        return not self.is_final

    @property
    def is_final(self) -> bool:
        """True when the job will never change state again."""
        return self is HyperionJobState.REJECTED or self.value in FINAL_ATTEMPT_STATES


#: attempts the daemon still watches: ``live_attempts_by_site`` returns these
LIVE_ATTEMPT_STATES: frozenset[AttemptState] = frozenset(
    {
        AttemptState.INTENT,
        AttemptState.SUBMITTED,
        AttemptState.UNKNOWN,
        AttemptState.CANCELLING,
        AttemptState.PENDING,
        AttemptState.RUNNING,
        AttemptState.SUSPENDED,
        AttemptState.COMPLETING,
        AttemptState.PREEMPTED,
        AttemptState.REQUEUED,
    }
)
#: attempts that never change again (every state is either live or final)
FINAL_ATTEMPT_STATES: frozenset[AttemptState] = frozenset(AttemptState) - LIVE_ATTEMPT_STATES


class Job(SQLModel, table=True):
    """One job as the user submitted it with ``hsub``."""

    __tablename__ = "job"
    __table_args__ = (
        Index("ix_job_owner", "owner"),
        Index("ix_job_state", "state"),
    )

    id: str = Field(primary_key=True)
    name: str = ""
    owner: str
    owner_uid: int
    account: str | None = None
    #: what the user sent: argv, env, script, script_args, cwd
    spec: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    #: the resolved ``JobRequest`` as JSON; None until it could be resolved
    request: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    policy: str | None = None
    pinned_site: str | None = None
    state: str = HyperionJobState.QUEUED.value
    reason: str | None = None
    created_at: float
    updated_at: float
    cancel_requested: bool = False
    #: held in Hyperion's queue for low carbon until then (epoch; migration 3)
    not_before: float | None = None


class Attempt(SQLModel, table=True):
    """One placement of a job on one site: at most one Slurm job, found again by its key."""

    __tablename__ = "attempt"
    __table_args__ = (
        UniqueConstraint("key", name="uq_attempt_key"),
        ForeignKeyConstraint(["job_id"], ["job.id"], name="fk_attempt_job_id_job"),
        Index("ix_attempt_job_id", "job_id"),
        Index("ix_attempt_state", "state"),
        Index("ix_attempt_site_slurm_job_id", "site", "slurm_job_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job_id: str
    seq: int
    key: str
    site: str
    partition: str | None = None
    slurm_job_id: str | None = None
    state: str = AttemptState.INTENT.value
    slurm_state: str | None = None
    placed_reason: str | None = None
    #: the policy's score per site when this attempt was placed
    scores: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    end_reason: str | None = None
    created_at: float
    submitted_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None


class SiteStatus(SQLModel, table=True):
    """What the daemon last learned about one site's reachability, and an admin's drain."""

    __tablename__ = "site_status"

    site: str = Field(primary_key=True)
    up: bool = True
    drained: bool = False
    last_ok: float | None = None
    last_error: str | None = None
    down_since: float | None = None
