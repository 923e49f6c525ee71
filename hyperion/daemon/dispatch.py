"""Late binding: Hyperion's own queue and the dispatch loop that sends held jobs to sites.

A site *has room* for a job while Hyperion's jobs there (waiting or running) stay within
``(1 + site_backlog)`` times its largest partition; jobs that find none wait QUEUED in the
database, and :func:`dispatch` sends them oldest first (first fit, with ``hold_bypass_s``
against starvation). Carbon-held jobs are released here too (:mod:`carbon_hold`). The rules
are in docs/federation.md (late binding). Functions take the
:class:`~hyperion.daemon.federation.Federation` as ``fed``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from hyperion.daemon import budget
from hyperion.daemon.carbon_hold import hold_for_carbon, reject_held, release
from hyperion.daemon.jobs import JobInput
from hyperion.errors import HyperionError
from hyperion.placement.feasible import Feasible, candidates
from hyperion.state import repo
from hyperion.state.db import session
from hyperion.state.models import Job

if TYPE_CHECKING:
    from hyperion.daemon.federation import Federation


def capacity(fed: Federation, site: str) -> int:
    """The CPUs of the site's largest partition (partitions may share nodes)."""
    parts = fed.config.site(site).partitions
    return max((p.nodes * p.cores_per_node for p in parts), default=0)


def sites_with_room(
    fed: Federation, cpus: int, sites: Iterable[str], load: dict[str, int]
) -> set[str]:
    """The sites where ``cpus`` more keep Hyperion's jobs there (waiting or running, ``load``)
    within ``(1 + site_backlog)`` x capacity; a site without any of them takes any job."""
    factor = 1.0 + fed.settings.site_backlog
    return {
        site
        for site in sites
        if load.get(site, 0) == 0 or load.get(site, 0) + cpus <= factor * capacity(fed, site)
    }


def hold_reason(
    fed: Federation, job: JobInput, feasible: list[Feasible]
) -> tuple[str | None, set[str]]:
    """Why a new job waits in Hyperion's queue instead of going to a site now (None: send
    it), and the candidate sites without room.

    Pinned and deferred jobs always go (the user chose the site; Slurm keeps a held job
    anyway). Otherwise a job waits when older jobs wait (the dispatch loop decides who goes
    first) or when no candidate site has room.
    """
    if not fed.settings.late_binding or job.site is not None or job.deferred:
        return None, set()
    with session(fed.engine, write=False) as s:
        ahead = len(repo.held_jobs(s, limit=1, due_by=time.time()))
        load = repo.inflight_cpus_by_site(s)
    sites = {f.site for f in feasible}
    full = sites - sites_with_room(fed, job.request.cpus, sites, load)
    if ahead:
        return "held by Hyperion: older jobs are waiting for a site with room", full
    if full == sites:
        return "held by Hyperion: no candidate site has room now", full
    return None, full


def hold_new(fed: Federation, job: JobInput, reason: str) -> tuple[int, dict[str, Any]]:
    """Store a new job in Hyperion's queue (QUEUED, the reason why) for the dispatch loop."""
    with session(fed.engine) as s:
        job_id = repo.create_job(s, **job.to_row(), reason=reason).id
    fed.wake.set()
    return 201, {"job": fed.job_view(job_id)}


def dispatch(fed: Federation) -> int:
    """Send held jobs, oldest first, to sites with room; how many were sent.

    A younger job may go past an older one that finds no room (first fit), until the older
    one has waited ``hold_bypass_s``: from then on it blocks its candidate sites for younger
    jobs, so that the room it needs builds up (no job waits for ever).
    """
    now = time.time()
    late = fed.settings.late_binding
    with session(fed.engine, write=False) as s:
        rows = repo.held_jobs(s, due_by=now)
        rows = [r for r in rows if late or r.not_before is not None]
        load = repo.inflight_cpus_by_site(s) if late else {}
        held = [(r.id, r.created_at, _held_input(r, now)) for r in rows]
    blocked: set[str] = set()
    sent = 0
    for job_id, created, job in held:
        if not late:
            sent += release(fed, job_id, job)
            continue
        try:
            feasible, rejected = budget.filter_candidates(
                fed.config, fed.engine, job.request, fed.feasible(job.request, job, pin=job.site)
            )[0]
        except HyperionError as exc:  # incl. over budget now
            reject_held(fed, job_id, exc.message)
            continue
        if not feasible:
            ever, _ = candidates(job.request, fed.config, {})
            if not ever:  # the configuration changed under it: it can never run
                why = "; ".join(f"{k}: {v}" for k, v in rejected.items())
                reject_held(fed, job_id, f"no site can run this job ({why})")
            continue  # its sites are down or drained: it waits
        sites = {f.site for f in feasible}
        room = sites_with_room(fed, job.request.cpus, sites - blocked, load)
        if not room:
            if now - created >= fed.settings.hold_bypass_s:
                blocked |= sites
            continue
        try:
            placement = fed.place(
                job.request,
                job,
                job.policy,
                exclude=sites - room,
                known=(feasible, rejected),
                forced_ok=True,
            )
        except HyperionError as exc:
            fed.log(f"held job {job_id}: not placed this round: {exc}")
            continue
        if hold_for_carbon(fed, job_id, job, placement):
            continue
        if fed._send(job_id, job, placement, held=True):
            site = placement.decision.site
            load[site] = load.get(site, 0) + job.request.cpus
            sent += 1
    return sent


def _held_input(row: Job, now: float) -> JobInput:
    """A held job's input, its carbon flexibility shortened by the time it has waited (a
    job is never held past submission + ``--carbon-flex``)."""
    job = JobInput.from_row(row)
    flex = job.request.carbon_flex_s
    if not flex:
        return job
    left = max(0.0, row.created_at + flex - now)
    return dataclasses.replace(
        job, request=dataclasses.replace(job.request, carbon_flex_s=left or None)
    )
