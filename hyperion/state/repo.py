"""The typed queries the daemon needs; each takes a :class:`sqlmodel.Session`.

Invariant kept here: a job's ``state`` is its current attempt's state (see :func:`pick_current`),
or the job's own QUEUED / REJECTED / CANCELLED while it has no attempt. :func:`add_attempt`,
:func:`set_attempt_state`, :func:`apply_status` keep it; code that writes ``Attempt.state``
directly calls :func:`refresh_job_state` afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import case, func, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from hyperion.state.ids import attempt_key, new_job_id
from hyperion.state.models import (
    FINAL_ATTEMPT_STATES,
    LIVE_ATTEMPT_STATES,
    Attempt,
    AttemptState,
    HyperionJobState,
    Job,
    SiteStatus,
)

if TYPE_CHECKING:
    from hyperion.sites.base import JobStatus

_FINAL_JOB_STATES = frozenset(s.value for s in HyperionJobState if s.is_final)
#: how many fresh ids :func:`create_job` tries before it gives up (a collision is ~1e-9 each)
_ID_TRIES = 20


class _Keep(Enum):
    KEEP = "keep"


#: "leave this field as it is" for :func:`set_site_status`
KEEP: Final = _Keep.KEEP


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def create_job(
    session: Session,
    *,
    owner: str,
    owner_uid: int,
    spec: Mapping[str, Any],
    name: str = "",
    request: Mapping[str, Any] | None = None,
    account: str | None = None,
    policy: str | None = None,
    pinned_site: str | None = None,
    state: str = HyperionJobState.QUEUED,
    reason: str | None = None,
    not_before: float | None = None,
    now: float | None = None,
) -> Job:
    """Insert a new job with a fresh unique id (QUEUED unless ``state`` says otherwise)."""
    t = _now(now)
    st = _job_state(state)
    for _ in range(_ID_TRIES):
        job_id = new_job_id()
        if session.get(Job, job_id) is not None:
            continue
        job = Job(
            id=job_id,
            name=name,
            owner=owner,
            owner_uid=owner_uid,
            account=account,
            spec=dict(spec),
            request=None if request is None else dict(request),
            policy=policy,
            pinned_site=pinned_site,
            state=st,
            reason=reason,
            not_before=not_before,
            created_at=t,
            updated_at=t,
        )
        try:
            with session.begin_nested():
                session.add(job)
        except IntegrityError:  # another writer took the same id in the meantime
            continue
        return job
    raise RuntimeError(f"no free job id after {_ID_TRIES} tries")


def get_job(session: Session, job_id: str) -> Job | None:
    """The job with this id, or None."""
    return session.get(Job, job_id)


def jobs_by_id(session: Session, job_ids: Iterable[str]) -> list[Job]:
    """The jobs with these ids (those that exist), in one query."""
    ids = list(dict.fromkeys(job_ids))
    if not ids:
        return []
    return list(session.exec(select(Job).where(col(Job.id).in_(ids))))


def _job_state(state: str) -> str:
    try:
        return HyperionJobState(state.upper()).value
    except ValueError:
        names = ", ".join(HyperionJobState)
        raise ValueError(f"unknown job state {state!r}: one of {names}") from None


def _attempt_state(state: str) -> AttemptState:
    try:
        return AttemptState(state.upper())
    except ValueError:
        names = ", ".join(AttemptState)
        raise ValueError(f"unknown attempt state {state!r}: one of {names}") from None


def _state_values(state: str | Iterable[str]) -> list[str]:
    states = [state] if isinstance(state, str) else list(state)
    return [_job_state(s) for s in states]


def list_jobs(
    session: Session,
    *,
    owner: str | None = None,
    all: bool = False,
    site: str | None = None,
    state: str | Iterable[str] | None = None,
    limit: int = 1000,
) -> list[Job]:
    """Jobs, newest first: ``owner``'s, or every user's when ``owner`` is None.

    Who may see what is the caller's decision: ``all=True`` (as ``?all=1``) only says
    "every user" explicitly and changes nothing when ``owner`` is given. ``site`` keeps jobs
    whose current attempt (:func:`pick_current`) is on that site; ``state`` one state or more.
    """
    del all  # every user unless an owner is given; kept for symmetry with the API
    stmt = select(Job)
    if owner is not None:
        stmt = stmt.where(Job.owner == owner)
    if state is not None:
        stmt = stmt.where(col(Job.state).in_(_state_values(state)))
    if site is not None:
        # the current attempt as pick_current() chooses it, in SQL
        other = aliased(Attempt)
        live = [st.value for st in LIVE_ATTEMPT_STATES if st is not AttemptState.CANCELLING]
        rank = case(
            (col(other.state).in_(live), 2),
            (col(other.state) != AttemptState.ABANDONED.value, 1),
            else_=0,
        )
        current = (
            select(other.id)
            .where(other.job_id == Job.id)
            .order_by(rank.desc(), col(other.seq).desc())
            .limit(1)
            .scalar_subquery()
        )
        stmt = stmt.join(Attempt, col(Attempt.id) == current).where(Attempt.site == site)
    stmt = stmt.order_by(col(Job.created_at).desc(), col(Job.id).desc()).limit(limit)
    return list(session.exec(stmt))


def get_attempt(session: Session, attempt_id: int) -> Attempt | None:
    """The attempt with this row id, or None."""
    return session.get(Attempt, attempt_id)


def attempts_of(session: Session, job_id: str) -> list[Attempt]:
    """Every attempt of one job, by ``seq``."""
    stmt = select(Attempt).where(Attempt.job_id == job_id).order_by(col(Attempt.seq))
    return list(session.exec(stmt))


def attempts_by_job(session: Session, job_ids: Iterable[str]) -> dict[str, list[Attempt]]:
    """Every attempt of each job (by ``seq``) in one query; a job without any maps to []."""
    if isinstance(job_ids, str):
        raise TypeError("attempts_by_job takes several job ids; use attempts_of for one")
    ids = list(dict.fromkeys(job_ids))
    result: dict[str, list[Attempt]] = {i: [] for i in ids}
    if ids:
        stmt = select(Attempt).where(col(Attempt.job_id).in_(ids)).order_by(col(Attempt.seq))
        for a in session.exec(stmt):
            result[a.job_id].append(a)
    return result


def pick_current(attempts: Iterable[Attempt]) -> Attempt | None:
    """The attempt a job's state follows, from all of its attempts.

    The newest live attempt that is not CANCELLING (after a move: the new one; when a move
    was called off: the old one); else the newest that reached Slurm or may have (not
    ABANDONED); else the newest. None when there is no attempt.
    """
    ordered = sorted(attempts, key=lambda a: a.seq, reverse=True)
    for a in ordered:
        if a.state in LIVE_ATTEMPT_STATES and a.state != AttemptState.CANCELLING:
            return a
    for a in ordered:
        if a.state != AttemptState.ABANDONED:
            return a
    return ordered[0] if ordered else None


def current_attempt(session: Session, job: Job | str) -> Attempt | None:
    """The attempt the job's state follows (:func:`pick_current`), or None."""
    return pick_current(attempts_of(session, job if isinstance(job, str) else job.id))


def refresh_job_state(session: Session, job: Job | str, *, now: float | None = None) -> Job | None:
    """Set the job's state from its current attempt; None when there is no such job.

    A job without attempts keeps its own state. A job the user cancelled whose current
    attempt never reached Slurm (ABANDONED) is CANCELLED.
    """
    row = job if isinstance(job, Job) else session.get(Job, job)
    if row is None:
        return None
    cur = current_attempt(session, row.id)
    if cur is None:
        return row
    state = str(cur.state)
    if row.cancel_requested and state == AttemptState.ABANDONED:
        state = HyperionJobState.CANCELLED.value
    if row.state != state:
        row.state = state
        row.updated_at = _now(now)
        session.add(row)
    return row


def add_attempt(
    session: Session,
    job: Job,
    site: str,
    partition: str | None,
    reason: str | None,
    scores: Mapping[str, Any],
    *,
    now: float | None = None,
) -> Attempt:
    """A new INTENT attempt of ``job`` on ``site`` (next ``seq``, its key); the job is INTENT.

    The job's row is locked first (PostgreSQL ``FOR UPDATE``; SQLite's write lock is held
    already), so two callers never take the same ``seq``.
    """
    t = _now(now)
    session.exec(select(Job.id).where(Job.id == job.id).with_for_update()).first()
    last = session.exec(select(func.max(Attempt.seq)).where(Attempt.job_id == job.id)).one()
    seq = (last or 0) + 1
    attempt = Attempt(
        job_id=job.id,
        seq=seq,
        key=attempt_key(job.id, seq),
        site=site,
        partition=partition,
        state=AttemptState.INTENT.value,
        placed_reason=reason,
        scores=dict(scores),
        created_at=t,
    )
    if job.state == HyperionJobState.QUEUED.value:
        job.reason = None  # why it was held no longer applies
    job.state = HyperionJobState.INTENT.value
    job.updated_at = t
    session.add(attempt)
    session.add(job)
    session.flush()
    return attempt


def set_attempt_state(
    session: Session,
    attempt: Attempt,
    state: str,
    *,
    slurm_job_id: str | None = None,
    slurm_state: str | None = None,
    end_reason: str | None = None,
    started_at: float | None = None,
    ended_at: float | None = None,
    now: float | None = None,
) -> Attempt:
    """Move an attempt to ``state``; the job follows when this is its current attempt.

    A Slurm job id given for the first time sets ``submitted_at``; RUNNING sets ``started_at``
    and a final state ``ended_at`` once (Slurm's own times win when given).
    """
    t = _now(now)
    st = _attempt_state(state)
    attempt.state = st.value
    if slurm_job_id is not None:
        if attempt.slurm_job_id is None or attempt.submitted_at is None:
            attempt.submitted_at = t
        attempt.slurm_job_id = slurm_job_id
    if slurm_state is not None:
        attempt.slurm_state = slurm_state
    if end_reason is not None:
        attempt.end_reason = end_reason
    if started_at is not None:
        attempt.started_at = started_at
    elif st is AttemptState.RUNNING and attempt.started_at is None:
        attempt.started_at = t
    if ended_at is not None:
        attempt.ended_at = ended_at
    elif st in FINAL_ATTEMPT_STATES and attempt.ended_at is None:
        attempt.ended_at = t
    session.add(attempt)
    session.flush()
    refresh_job_state(session, attempt.job_id, now=t)
    session.flush()
    return attempt


def set_job_state(
    session: Session,
    job: Job,
    state: str,
    *,
    reason: str | None | _Keep = KEEP,
    now: float | None = None,
) -> Job:
    """Set a job's own state (QUEUED, REJECTED, CANCELLED before placement, ...) and reason.

    Use it for a job without a live attempt; otherwise the attempts decide the state.
    """
    job.state = _job_state(state)
    if not isinstance(reason, _Keep):
        job.reason = reason
    job.updated_at = _now(now)
    session.add(job)
    session.flush()
    return job


def attempts_in(
    session: Session, states: Iterable[str], *, site: str | None = None
) -> list[Attempt]:
    """Attempts in any of ``states`` (optionally on one site), oldest first."""
    values = [_attempt_state(s).value for s in states]
    stmt = select(Attempt).where(col(Attempt.state).in_(values))
    if site is not None:
        stmt = stmt.where(Attempt.site == site)
    return list(session.exec(stmt.order_by(col(Attempt.created_at), col(Attempt.id))))


def live_attempts_by_site(session: Session) -> dict[str, list[Attempt]]:
    """Attempts the daemon still watches (``LIVE_ATTEMPT_STATES``), grouped by site."""
    result: dict[str, list[Attempt]] = {}
    for a in attempts_in(session, LIVE_ATTEMPT_STATES):
        result.setdefault(a.site, []).append(a)
    return result


def jobs_with_several_live_attempts(session: Session) -> dict[str, list[Attempt]]:
    """Jobs live in more than one attempt (e.g. running in two places after an outage)."""
    by_job: dict[str, list[Attempt]] = {}
    for a in attempts_in(session, LIVE_ATTEMPT_STATES):
        by_job.setdefault(a.job_id, []).append(a)
    return {j: sorted(v, key=lambda a: a.seq) for j, v in by_job.items() if len(v) > 1}


#: attempts waiting at their site (or on their way there)
BACKLOG_STATES = (
    AttemptState.INTENT,
    AttemptState.SUBMITTED,
    AttemptState.UNKNOWN,
    AttemptState.PENDING,
    AttemptState.REQUEUED,
)


def request_cpus(request: Mapping[str, Any] | None) -> int:
    """Total CPUs of a stored ``JobRequest`` (1 when it is missing or odd)."""
    if not request:
        return 1
    try:
        return max(1, int(request.get("ntasks") or 1) * int(request.get("cpus_per_task") or 1))
    except (TypeError, ValueError):
        return 1


#: attempts that hold or will soon hold CPUs at their site (not COMPLETING: its job has ended
#: and Slurm frees its cores within a moment, so a job sent now waits there only for the
#: hand-off Slurm would make anyway)
INFLIGHT_STATES = (
    *BACKLOG_STATES,
    AttemptState.RUNNING,
    AttemptState.SUSPENDED,
)


def inflight_cpus_by_site(session: Session) -> dict[str, int]:
    """CPUs of the attempts in :data:`INFLIGHT_STATES` (waiting or running), per site; jobs
    stored with ``request["deferred"]`` (see ``JobInput.deferred``) do not count."""
    stmt = (
        select(Attempt.site, Job.request)
        .join(Job, col(Job.id) == Attempt.job_id)
        .where(col(Attempt.state).in_([st.value for st in INFLIGHT_STATES]))
    )
    out: dict[str, int] = {}
    for site, request in session.exec(stmt):
        if request and request.get("deferred"):
            continue  # held by its user, or waiting for a dependency or a begin time
        out[site] = out.get(site, 0) + request_cpus(request)
    return out


def held_jobs(session: Session, limit: int = 1000, due_by: float | None = None) -> list[Job]:
    """Jobs Hyperion holds (QUEUED, never placed, not cancelled), oldest first; with
    ``due_by``, not those held for low carbon until after that time."""
    placed = select(Attempt.id).where(Attempt.job_id == Job.id).exists()
    stmt = (
        select(Job)
        .where(Job.state == HyperionJobState.QUEUED.value)
        .where(col(Job.cancel_requested).is_(False))
        .where(~placed)
    )
    if due_by is not None:
        stmt = stmt.where(or_(col(Job.not_before).is_(None), col(Job.not_before) <= due_by))
    stmt = stmt.order_by(col(Job.created_at), col(Job.id)).limit(limit)
    return list(session.exec(stmt))


def next_carbon_release(session: Session, after: float) -> float | None:
    """The earliest ``not_before`` later than ``after`` of the jobs held for low carbon, if any
    (a job already due that could not be sent is retried each round, not in a busy loop)."""
    placed = select(Attempt.id).where(Attempt.job_id == Job.id).exists()
    stmt = (
        select(func.min(col(Job.not_before)))
        .where(col(Job.not_before) > after)
        .where(Job.state == HyperionJobState.QUEUED.value)
        .where(col(Job.cancel_requested).is_(False))
        .where(~placed)
    )
    value = session.exec(stmt).one()
    return None if value is None else float(value)


def pending_attempts_older_than(session: Session, before: float) -> list[Attempt]:
    """SUBMITTED or PENDING attempts submitted (else created) before ``before``: move candidates."""
    since = func.coalesce(col(Attempt.submitted_at), col(Attempt.created_at))
    stmt = (
        select(Attempt)
        .where(col(Attempt.state).in_([AttemptState.SUBMITTED.value, AttemptState.PENDING.value]))
        .where(since < before)
        .order_by(col(Attempt.created_at), col(Attempt.id))
    )
    return list(session.exec(stmt))


#: Slurm states in which the job has started (Slurm's start time is a real one, not a forecast)
_STARTED = frozenset(
    {
        AttemptState.RUNNING,
        AttemptState.SUSPENDED,
        AttemptState.COMPLETING,
        AttemptState.COMPLETED,
        AttemptState.FAILED,
        AttemptState.TIMEOUT,
        AttemptState.OUT_OF_MEMORY,
        AttemptState.NODE_FAIL,
        AttemptState.PREEMPTED,
    }
)


def apply_status(
    session: Session, attempt: Attempt | int, status: JobStatus, *, now: float | None = None
) -> bool:
    """Record what Slurm reports for an attempt's job; True when anything changed.

    A final attempt never changes. A CANCELLING attempt stays CANCELLING while Slurm still
    has the job waiting, and follows Slurm once it runs or ends. Slurm's UNKNOWN state
    leaves the attempt's state as it is. Times: Slurm's own when it gives them, else now.
    """
    a = get_attempt(session, attempt) if isinstance(attempt, int) else attempt
    if a is None or a.state in FINAL_ATTEMPT_STATES:
        return False
    t = _now(now)
    before = _attempt_fields(a)
    target = _attempt_state(a.state)
    slurm = status.state.value
    if slurm in AttemptState.__members__ and slurm != AttemptState.UNKNOWN:
        target = AttemptState(slurm)
        keep_cancelling = not (target.is_final or target in _STARTED)
        if a.state == AttemptState.CANCELLING and keep_cancelling:
            target = AttemptState.CANCELLING
    a.state = target.value
    a.slurm_job_id = a.slurm_job_id or status.job_id
    a.slurm_state = status.slurm_state or slurm
    if a.submitted_at is None:
        a.submitted_at = status.submit_time or t
    if a.started_at is None and target in _STARTED:
        a.started_at = status.start_time or t
    if target.is_final:
        a.ended_at = a.ended_at or status.end_time or t
        if a.end_reason is None:
            if status.reason:
                a.end_reason = status.reason
            elif status.exit_code:
                a.end_reason = f"exit code {status.exit_code}"
    if _attempt_fields(a) == before:
        return False
    session.add(a)
    session.flush()
    refresh_job_state(session, a.job_id, now=t)
    session.flush()
    return True


def _attempt_fields(a: Attempt) -> tuple[Any, ...]:
    return (
        a.state,
        a.slurm_job_id,
        a.slurm_state,
        a.submitted_at,
        a.started_at,
        a.ended_at,
        a.end_reason,
    )


def set_site_status(
    session: Session,
    site: str,
    *,
    up: bool | _Keep = KEEP,
    drained: bool | _Keep = KEEP,
    last_ok: float | None | _Keep = KEEP,
    last_error: str | None | _Keep = KEEP,
    down_since: float | None | _Keep = KEEP,
) -> SiteStatus:
    """Create or update a site's row; fields left as :data:`KEEP` are not changed."""
    row = session.get(SiteStatus, site)
    if row is None:
        try:
            with session.begin_nested():
                session.add(SiteStatus(site=site))
        except IntegrityError:  # another writer created it first
            pass
        row = session.get(SiteStatus, site, populate_existing=True)
        assert row is not None
    if not isinstance(up, _Keep):
        row.up = up
    if not isinstance(drained, _Keep):
        row.drained = drained
    if not isinstance(last_ok, _Keep):
        row.last_ok = last_ok
    if not isinstance(last_error, _Keep):
        row.last_error = last_error
    if not isinstance(down_since, _Keep):
        row.down_since = down_since
    session.add(row)
    session.flush()
    return row


def site_statuses(session: Session) -> list[SiteStatus]:
    """Every site's row, by name."""
    return list(session.exec(select(SiteStatus).order_by(col(SiteStatus.site))))


def attempt_to_dict(a: Attempt) -> dict[str, Any]:
    """ATTEMPT of docs/federation.md."""
    return {
        "seq": a.seq,
        "key": a.key,
        "site": a.site,
        "partition": a.partition,
        "slurm_job_id": a.slurm_job_id,
        "state": a.state,
        "slurm_state": a.slurm_state,
        "placed_reason": a.placed_reason,
        "scores": dict(a.scores),
        "end_reason": a.end_reason,
        "created_at": a.created_at,
        "submitted_at": a.submitted_at,
        "started_at": a.started_at,
        "ended_at": a.ended_at,
    }


def job_to_dict(
    job: Job, attempts: Sequence[Attempt], *, with_attempts: bool = True
) -> dict[str, Any]:
    """JOB of docs/federation.md; site, partition and times come from :func:`pick_current`.

    ``submitted_at`` is when the user submitted to Hyperion; ``ended_at`` of a job that ended
    without an attempt (rejected, cancelled while queued) is its last update.
    """
    ordered = sorted(attempts, key=lambda a: a.seq)
    cur = pick_current(ordered)
    final = job.state in _FINAL_JOB_STATES
    ended_at = cur.ended_at if cur is not None else None
    if ended_at is None and final and (cur is None or cur.state != job.state):
        ended_at = job.updated_at
    out: dict[str, Any] = {
        "id": job.id,
        "name": job.name,
        "user": job.owner,
        "state": job.state,
        "site": cur.site if cur else None,
        "partition": cur.partition if cur else None,
        "slurm_job_id": cur.slurm_job_id if cur else None,
        "submitted_at": job.created_at,
        "started_at": cur.started_at if cur else None,
        "ended_at": ended_at,
        "reason": job.reason,
        "not_before": job.not_before,
    }
    if with_attempts:
        out["attempts"] = [attempt_to_dict(a) for a in ordered]
    return out
