"""Carbon in the daemon's placement: a candidate's carbon columns, and holds for low carbon.

A flexible job whose policy decision has ``not_before`` at least :data:`MIN_CARBON_HOLD_S`
ahead waits QUEUED in Hyperion's queue until then; the dispatch loop sleeps until the next
release (:func:`dispatch_wait`) and places the job again with fresh forecasts
(:func:`release`). The rules are in docs/carbon.md (time shifting). Functions take the
:class:`~hyperion.daemon.federation.Federation` as ``fed``; the outlook they read is
:mod:`hyperion.daemon.carbon`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from hyperion.daemon import budget
from hyperion.daemon.carbon import SiteOutlook
from hyperion.daemon.jobs import JobInput
from hyperion.errors import HyperionError
from hyperion.placement.policy import Decision
from hyperion.state import repo
from hyperion.state.db import session
from hyperion.state.models import HyperionJobState

if TYPE_CHECKING:
    from hyperion.daemon.federation import Federation, Placement

#: a policy's not_before less than this far ahead is not worth a hold
MIN_CARBON_HOLD_S = 1.0


def carbon_now(seen: SiteOutlook | None, now: float) -> dict[str, Any]:
    """A candidate row's carbon columns: intensity now and whether the data are stale."""
    if seen is None:
        return {}
    return {"carbon_now": round(seen.at(now), 1), "carbon_stale": seen.stale}


def carbon_at_start(fed: Federation, row: dict[str, Any], d: Decision, now: float) -> None:
    """A candidate row's intensity at its start: the chosen site's at the planned start."""
    seen = fed.carbon.get(row["site"])
    if seen is None or not row.get("feasible"):
        return
    start = row.get("est_start") or now
    if row["site"] == d.site and d.not_before is not None:
        start = d.not_before
    row["carbon_at_start"] = round(seen.at(max(start, now)), 1)
    row["carbon_start"] = max(start, now)


def carbon_view(fed: Federation, site: str) -> dict[str, Any] | None:
    """A site's carbon outlook for ``GET /sites`` (None: no carbon source)."""
    seen = fed.carbon.get(site)
    return seen.as_dict(time.time()) if seen is not None else None


def carbon_hold_reason(fed: Federation, placement: Placement, now: float) -> str | None:
    """Why a flexible job waits for low carbon (None: it goes now)."""
    d = placement.decision
    if d.not_before is None or d.not_before - now < MIN_CARBON_HOLD_S:
        return None
    seen = fed.carbon.get(d.site)
    at_hold = f"{seen.at(d.not_before):.0f}" if seen else "?"
    now_g = f"{seen.at(now):.0f}" if seen else "?"
    stale = ", stale data" if seen and seen.stale else ""
    return (
        f"held for low carbon until {_clock(d.not_before)} (site {d.site}, forecast "
        f"{at_hold} g/kWh vs {now_g} now{stale})"
    )


def hold_for_carbon(fed: Federation, job_id: str, job: JobInput, placement: Placement) -> bool:
    """Keep a queued job held for low carbon when the policy says so; True if held."""
    # federation imports this module at its top: its helpers only from inside a function
    from hyperion.daemon.federation import _job

    reason = carbon_hold_reason(fed, placement, time.time())
    if reason is None or placement.decision.not_before is None:
        return False
    with fed._mutate, session(fed.engine) as s:
        row = _job(s, job_id)
        if row.state == HyperionJobState.QUEUED and not row.cancel_requested:
            row.not_before = placement.decision.not_before
            repo.set_job_state(s, row, HyperionJobState.QUEUED, reason=reason)
    fed.log(f"job {job_id}: {reason}")
    return True


def reject_held(fed: Federation, job_id: str, reason: str) -> None:
    """End a job still held in Hyperion's queue as REJECTED, with the reason."""
    with fed._mutate, session(fed.engine) as s:
        row = repo.get_job(s, job_id)
        if row is not None and row.state == HyperionJobState.QUEUED:
            repo.set_job_state(s, row, HyperionJobState.REJECTED, reason=reason)
    fed.log(f"held job {job_id} rejected: {reason}")


def release(fed: Federation, job_id: str, job: JobInput) -> int:
    """A carbon-held job whose time has come: placed again with fresh forecasts (it may
    be held once more for a window greener still) and sent; 1 when sent."""
    try:
        known = budget.filter_candidates(
            fed.config, fed.engine, job.request, fed.feasible(job.request, job, pin=job.site)
        )[0]
    except HyperionError as exc:  # over budget now, or its pinned site is gone
        reject_held(fed, job_id, exc.message)
        return 0
    try:
        placement = fed.place(job.request, job, job.policy, pin=job.site, known=known)
    except HyperionError as exc:
        fed.log(f"carbon-held job {job_id}: not placed this round: {exc}")
        return 0
    if hold_for_carbon(fed, job_id, job, placement):
        return 0
    return int(fed._send(job_id, job, placement, held=True))


def dispatch_wait(fed: Federation) -> float:
    """Seconds the dispatch loop may sleep: until the next carbon release, at most a poll
    interval."""
    now = time.time()
    with session(fed.engine, write=False) as s:
        nxt = repo.next_carbon_release(s, after=now)
    wait_s = fed.settings.poll_interval_s
    if nxt is not None:
        wait_s = min(wait_s, max(0.05, nxt - now))
    return wait_s


def _clock(epoch: float) -> str:
    """HH:MM (HH:MM:SS when not on a whole minute) in the daemon's local time, with its zone."""
    fmt = "%H:%M" if int(epoch) % 60 == 0 else "%H:%M:%S"
    return time.strftime(f"{fmt} %Z", time.localtime(epoch))
