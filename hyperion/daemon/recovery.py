"""Recovery and re-placement: the loops that finish interrupted work and move waiting jobs.

Part of :class:`~hyperion.daemon.federation.Federation` (it uses its connectors, locks and
submission protocol), kept apart because it is where exactly-once is hardest. The rules are
in docs/federation.md; in short, for every attempt that is not settled:

* ``CANCELLING`` of a cancelled job: scancel it as its owner (found by Slurm id or by key);
  never found within the grace period: ``ABANDONED``.
* ``CANCELLING`` of a move: if the old Slurm job started or ended meanwhile, it stays (its
  state is recorded) and the new attempt that has not reached Slurm is abandoned; otherwise it
  is cancelled.
* ``INTENT``/``UNKNOWN``: look for the key on the site, among the owner's jobs only (anyone
  can write a comment); found: adopt; not found: submit (``UNKNOWN`` only after a grace period).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

# federation imports this module only inside its methods, so this import is not circular
from hyperion.daemon.federation import _RECOVER, _STARTED, _crash, _hms
from hyperion.daemon.jobs import JobInput
from hyperion.errors import HyperionError, SiteError
from hyperion.placement.feasible import candidates
from hyperion.sites.base import JobStatus
from hyperion.state import repo
from hyperion.state.db import session
from hyperion.state.ids import key_from_comment
from hyperion.state.models import AttemptState
from hyperion.types import JobState

if TYPE_CHECKING:
    from hyperion.daemon.federation import Federation

#: attempts older than this are also looked for in accounting (squeue forgets finished jobs)
LOOK_IN_ACCOUNTING_AFTER_S = 60.0


def _search(fed: Federation, site: str, since: float | None) -> dict[str, list[JobStatus]]:
    """Slurm jobs of a site by attempt key (squeue, plus accounting since ``since``)."""
    if since is None:
        statuses = fed._call(site, lambda c: c.jobs())
    else:
        statuses = fed._call(site, lambda c: c.jobs_since(since))
    by_key: dict[str, list[JobStatus]] = {}
    for st in statuses.values():
        key = key_from_comment(st.comment)
        if key:
            by_key.setdefault(key, []).append(st)
    return by_key


def reconcile(fed: Federation) -> None:
    """One recovery round over every unsettled attempt."""
    now = time.time()
    with session(fed.engine, write=False) as s:
        rows = repo.attempts_in(s, _RECOVER)
        pending = [
            (a.id, a.site, a.key, AttemptState(a.state), a.created_at, a.slurm_job_id, a.job_id)
            for a in rows
            if a.id is not None
        ]
        jobs = {j.id: j for j in repo.jobs_by_id(s, {p[6] for p in pending})}
        owners = {j_id: j.owner for j_id, j in jobs.items()}
        cancelled = {j_id for j_id, j in jobs.items() if j.cancel_requested}
    with fed._in_flight_lock:
        pending = [p for p in pending if p[0] not in fed._in_flight]
    # moves first: an old attempt that started decides whether the new one may run
    pending.sort(key=lambda p: (p[3] is not AttemptState.CANCELLING, p[4]))
    found: dict[str, dict[str, list[JobStatus]]] = {}
    for site in {p[1] for p in pending}:
        if site not in fed.conns:
            continue
        oldest = min(p[4] for p in pending if p[1] == site)
        since = oldest - 60 if now - oldest > LOOK_IN_ACCOUNTING_AFTER_S else None
        try:
            found[site] = _search(fed, site, since)
        except SiteError as exc:
            fed.log(f"reconcile {site}: {exc}")
    for attempt_id, site, key, state, created, slurm_id, job_id in pending:
        if site not in found:
            continue
        owner = owners.get(job_id)
        mine = [st for st in found[site].get(key, []) if st.user in (None, owner)]
        if slurm_id:
            mine = [st for st in mine if st.job_id == slurm_id] or mine
        match = mine[-1] if mine else None
        try:
            if state is AttemptState.CANCELLING:
                _settle_cancelling(
                    fed,
                    attempt_id,
                    site,
                    slurm_id,
                    match,
                    job_id,
                    job_id in cancelled,
                    owner or "",
                    created,
                    now,
                )
            else:
                _settle_unsent(
                    fed,
                    attempt_id,
                    site,
                    key,
                    state,
                    created,
                    match,
                    job_id,
                    job_id in cancelled,
                    now,
                )
        except Exception as exc:  # noqa: BLE001 - one bad attempt must not stop recovery
            fed.log(f"reconcile of attempt {key} failed: {exc!r}", error=exc)
    _resolve_duplicates(fed)


def _settle_cancelling(
    fed: Federation,
    attempt_id: int,
    site: str,
    slurm_id: str | None,
    match: JobStatus | None,
    job_id: str,
    cancel_requested: bool,
    owner: str,
    created: float,
    now: float,
) -> None:
    sid = slurm_id or (match.job_id if match else None)
    if sid is None:
        if now - created > fed.settings.unknown_grace_s:
            fed._transition(
                attempt_id, AttemptState.ABANDONED, None, only=[AttemptState.CANCELLING]
            )
        return
    if cancel_requested:
        fed._cancel_in_slurm(attempt_id, site, sid, owner)
        return
    status = match if match is not None and match.job_id == sid else None
    if status is None:
        status = fed._call(site, lambda c: c.jobs([sid])).get(sid)  # accounting too
    if status is not None and (status.state in _STARTED or status.state.is_final):
        # it started or ended before the move could cancel it: it stays where it is
        with fed._mutate, session(fed.engine) as s:
            repo.apply_status(s, attempt_id, status)
            for other in repo.attempts_of(s, job_id):
                if other.state == AttemptState.INTENT and not other.slurm_job_id:
                    repo.set_attempt_state(
                        s,
                        other,
                        AttemptState.ABANDONED,
                        end_reason="the job had started where it was",
                    )
        return
    fed._cancel_in_slurm(attempt_id, site, sid, owner)


def _settle_unsent(
    fed: Federation,
    attempt_id: int,
    site: str,
    key: str,
    state: AttemptState,
    created: float,
    match: JobStatus | None,
    job_id: str,
    cancel_requested: bool,
    now: float,
) -> None:
    if match is not None:
        with fed._mutate, session(fed.engine) as s:
            a = repo.get_attempt(s, attempt_id)
            if a is None or a.state not in (AttemptState.INTENT, AttemptState.UNKNOWN):
                return
            repo.set_attempt_state(s, a, AttemptState.SUBMITTED, slurm_job_id=match.job_id)
            repo.apply_status(s, a, match)
            owner = repo.get_job(s, job_id).owner  # type: ignore[union-attr]
        fed.log(f"adopted Slurm job {match.job_id} on {site} for attempt {key}")
        if cancel_requested:
            fed._cancel_in_slurm(attempt_id, site, match.job_id, owner)
        return
    if cancel_requested:
        fed._transition(
            attempt_id,
            AttemptState.ABANDONED,
            "cancelled before it reached Slurm",
            only=[AttemptState.INTENT, AttemptState.UNKNOWN],
        )
        return
    if state is AttemptState.UNKNOWN and now - created < fed.settings.unknown_grace_s:
        return
    if not fed._claim(attempt_id):
        return
    with session(fed.engine, write=False) as s:
        a = repo.get_attempt(s, attempt_id)
        row = repo.get_job(s, job_id)
        if a is None or row is None or a.state not in (AttemptState.INTENT, AttemptState.UNKNOWN):
            with fed._in_flight_lock:
                fed._in_flight.discard(attempt_id)
            return
        job = JobInput.from_row(row)
    fed.log(f"submitting attempt {key} to {site}: not found there")
    pinned = job.site is not None  # no other site may take it: try again next round
    try:
        fed._submit_attempt(attempt_id, job, keep_intent=pinned)
    except HyperionError as exc:
        if pinned and isinstance(exc, SiteError):
            fed.log(f"submission of {key} failed: {exc}; tried again next round")
            return
        fed.log(f"submission of {key} failed: {exc}; placing the job again")
        place_again(fed, job_id, job, exclude=site)


def _resolve_duplicates(fed: Federation) -> None:
    """A job live in two places keeps the attempt that started first (else the newest)."""
    with session(fed.engine, write=False) as s:
        several = repo.jobs_with_several_live_attempts(s)
        owners = {j.id: j.owner for j in repo.jobs_by_id(s, several)}
    for job_id, all_live in several.items():
        attempts = [a for a in all_live if a.state not in _RECOVER and a.slurm_job_id]
        if len(attempts) < 2:
            continue
        ranked = sorted(attempts, key=lambda a: (a.started_at or float("inf"), -a.seq))
        for loser in ranked[1:]:
            assert loser.id is not None and loser.slurm_job_id is not None
            reason = f"duplicate of attempt {ranked[0].key}"
            live = [st for st in AttemptState if st.is_live and st not in _RECOVER]
            if fed._transition(loser.id, AttemptState.CANCELLING, reason, only=live):
                fed.log(f"job {job_id} is live in two places; cancelling attempt {loser.key}")
                fed._cancel_in_slurm(
                    loser.id, loser.site, loser.slurm_job_id, owners.get(job_id, "")
                )


def place_again(fed: Federation, job_id: str, job: JobInput, exclude: str) -> None:
    """After a failed (re)submission: one more attempt on the best other site, else the job
    is rejected with the reason (never silently lost)."""
    try:
        placement = fed.place(job.request, job, "earliest-start", exclude=[exclude], pin=job.site)
    except HyperionError as exc:
        with session(fed.engine) as s:
            row = repo.get_job(s, job_id)
            if row is not None:
                repo.set_job_state(s, row, "REJECTED", reason=f"no site can take it: {exc}")
        return
    d = placement.decision
    with session(fed.engine) as s:
        row = repo.get_job(s, job_id)
        if row is None:
            return
        new = repo.add_attempt(s, row, d.site, d.partition, f"resubmitted: {d.reason}", d.scores)
        assert new.id is not None
        new_id = new.id
        fed._claim(new_id)
    try:
        fed._submit_attempt(new_id, job)
    except HyperionError as exc:
        fed.log(f"job {job_id}: resubmission to {d.site} failed too: {exc}")


def replace(fed: Federation) -> None:
    """Move jobs pending too long to a site that predicts an earlier start by a margin.

    One status query per site per round, whatever the number of candidates for a move.
    """
    if not fed.settings.replace:
        return
    cutoff = time.time() - fed.settings.replace_after_s
    with session(fed.engine, write=False) as s:
        work = [
            (a.id, a.job_id, a.site, a.slurm_job_id)
            for a in repo.pending_attempts_older_than(s, cutoff)
            if a.id is not None and a.slurm_job_id
        ]
    by_site: dict[str, list[str]] = {}
    for _, _, site, slurm_id in work:
        by_site.setdefault(site, []).append(str(slurm_id))
    statuses: dict[str, dict[str, JobStatus] | None] = {}
    for site, ids in by_site.items():
        if not (fed.health[site].up and site in fed.conns):
            statuses[site] = None  # down: its jobs may move without its word
            continue
        try:
            statuses[site] = fed._call(site, lambda c: c.jobs(ids))  # noqa: B023
        except SiteError as exc:
            fed.log(f"re-placement: {site}: {exc}")
    for attempt_id, job_id, site, slurm_id in work:
        if site not in statuses:
            continue
        known = statuses[site]
        status = None if known is None else known.get(str(slurm_id))
        if known is not None and status is None:
            continue
        try:
            _maybe_move(fed, attempt_id, job_id, site, status)
        except HyperionError as exc:
            fed.log(f"re-placement of {job_id}: {exc}")


def _maybe_move(
    fed: Federation, attempt_id: int, job_id: str, site: str, status: JobStatus | None
) -> None:
    """Move one pending attempt if another site predicts a start sooner by the margin;
    ``status`` is Slurm's word on it (None: its site is down)."""
    with session(fed.engine, write=False) as s:
        row = repo.get_job(s, job_id)
        a = repo.get_attempt(s, attempt_id)
        if row is None or a is None:
            return
        history = repo.attempts_of(s, job_id)
        visited = {h.site for h in history}
        moves = len(history) - 1
        if row.cancel_requested or row.pinned_site or moves >= fed.settings.max_moves:
            return
        slurm_id, owner = a.slurm_job_id, row.owner
        job = JobInput.from_row(row)
    if slurm_id is None or job.spec.has("array"):
        return  # an array's tasks start one by one: moving the parent would kill them
    here = status is not None
    current: float | None = None
    if status is not None:
        if status.state is not JobState.PENDING or status.start_time is None:
            return  # started, gone, or no expected start: no evidence that moving helps
        current = status.start_time
    # never back to a site the job has left: no ping-pong between two estimates
    feasible, _ = candidates(job.request, fed.config, fed.unavailable())
    if not any(f.site not in visited for f in feasible):
        return
    try:
        placement = fed.place(job.request, job, "earliest-start", exclude=visited)
    except HyperionError:
        return
    best = placement.decision
    best_start = next((r.get("est_start") for r in placement.table if r["site"] == best.site), None)
    if best_start is None:
        return
    if current is not None:
        # the gain must outweigh the margin, and a share of the wait still expected there
        # (a moved job loses its place in the queue; estimates use time limits)
        margin = max(
            fed.settings.replace_margin_s,
            fed.settings.replace_margin_ratio * max(current - time.time(), 0.0),
        )
        if best_start + margin >= current:
            return
    when = "unknown (site down)" if current is None else _hms(current)
    reason = (
        f"moved from {site} (expected start there {when}) to {best.site} "
        f"(predicted {_hms(best_start)})"
    )
    with fed._mutate, session(fed.engine) as s:
        old = repo.get_attempt(s, attempt_id)
        row = repo.get_job(s, job_id)
        if old is None or row is None or old.state not in ("PENDING", "SUBMITTED"):
            return
        repo.set_attempt_state(s, old, AttemptState.CANCELLING, end_reason=reason)
        new = repo.add_attempt(s, row, best.site, best.partition, reason, best.scores)
        assert new.id is not None
        new_id = new.id
        fed._claim(new_id)
    try:
        _crash("during_replace")
        if here:
            status = fed._call(site, lambda c: c.jobs([slurm_id])).get(slurm_id)
            if status is not None and status.state is not JobState.PENDING:
                with fed._mutate, session(fed.engine) as s:  # it started meanwhile: keep it
                    new_a = repo.get_attempt(s, new_id)
                    if new_a is not None:
                        repo.set_attempt_state(
                            s,
                            new_a,
                            AttemptState.ABANDONED,
                            end_reason="the job started where it was",
                        )
                    old_a = repo.get_attempt(s, attempt_id)
                    if old_a is not None:
                        repo.apply_status(s, old_a, status)
                return
            if not fed._cancel_in_slurm(attempt_id, site, slurm_id, owner):
                with fed._in_flight_lock:
                    fed._in_flight.discard(new_id)
                return  # reconcile finishes the move once the old job is surely gone
        fed.log(f"job {job_id}: {reason}")
        try:
            fed._submit_attempt(new_id, job)
        except HyperionError as exc:
            fed.log(f"job {job_id}: the move to {best.site} failed ({exc}); placing it again")
            place_again(fed, job_id, job, exclude=best.site)
    finally:
        with fed._in_flight_lock:
            fed._in_flight.discard(new_id)
