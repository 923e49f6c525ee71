"""The federation: placement, exactly-once submission, tracking, re-placement and failover.

One object owns the configuration, one connector per site, the database and the policy; the
API handlers and the background loops only call it. The protocol is in docs/federation.md.
Its parts that work through it live beside it: late binding and the dispatch loop
(``dispatch.py``), holds for low carbon (``carbon_hold.py``), recovery and re-placement
(``recovery.py``).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from hyperion.config.schema import HyperionConfig
from hyperion.daemon import budget
from hyperion.daemon.carbon import CarbonOutlooks
from hyperion.daemon.carbon_hold import (
    carbon_at_start,
    carbon_hold_reason,
    carbon_now,
    carbon_view,
    dispatch_wait,
)
from hyperion.daemon.dispatch import dispatch, hold_new, hold_reason
from hyperion.daemon.identity import Caller
from hyperion.daemon.jobs import JobInput, build_submission, parse_job_input
from hyperion.daemon.ledger import LedgerRecorder, node_share
from hyperion.errors import HyperionError, JobRejected, SiteError, SiteUnreachable
from hyperion.placement.cost import job_cost
from hyperion.placement.energy import job_energy_kwh
from hyperion.placement.feasible import Feasible, candidates
from hyperion.placement.heuristics import get_policy
from hyperion.placement.policy import Candidate, Decision, Policy
from hyperion.sites import SiteConnector, SubmitOutcomeUnknown, connect
from hyperion.state import ledger, repo
from hyperion.state.db import session
from hyperion.state.models import (
    LIVE_ATTEMPT_STATES,
    Attempt,
    AttemptState,
    HyperionJobState,
    Job,
)
from hyperion.types import JobRequest, JobState, SiteState

Log = Callable[..., None]
#: a site whose status query takes longer than this is polled less often
SLOW_SITE_S = 2.0


class PlacementError(HyperionError):
    """No site can take the job; the message gives the reason per site."""


_RECOVER = (AttemptState.INTENT, AttemptState.UNKNOWN, AttemptState.CANCELLING)
#: attempts that have not reached Slurm as far as we know
_UNSENT = (AttemptState.INTENT, AttemptState.UNKNOWN)
#: Slurm states in which a job has started
_STARTED = frozenset({JobState.RUNNING, JobState.COMPLETING, JobState.SUSPENDED})


def _attempt(s: Any, attempt_id: int | None) -> Attempt:
    a = repo.get_attempt(s, attempt_id) if attempt_id is not None else None
    assert a is not None, f"attempt {attempt_id} vanished"
    return a


def _id(a: Attempt) -> int:
    assert a.id is not None, "attempt not flushed"
    return a.id


def _job(s: Any, job_id: str) -> Job:
    row = repo.get_job(s, job_id)
    assert row is not None, f"job {job_id} vanished"
    return row


def _crash(point: str) -> None:
    """Die like a power cut at a named point (tests set HYPERION_CRASH_AT)."""
    if os.environ.get("HYPERION_CRASH_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class SiteHealth:
    """What the daemon knows of a site's reachability."""

    up: bool = True
    last_ok: float | None = None
    last_error: str = ""
    failing_since: float | None = None
    drained: bool = False
    backoff_s: float = 0.0
    next_poll: float = 0.0


@dataclass
class Placement:
    """A placement decision with the per-site table behind it."""

    decision: Decision
    policy: str
    table: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = self.decision
        return {
            "site": d.site,
            "partition": d.partition,
            "reason": d.reason,
            "policy": self.policy,
            "scores": d.scores,
            "candidates": self.table,
        }


class Federation:
    """hyperiond's core. Thread-safe: API threads and loop threads call it concurrently."""

    def __init__(
        self,
        config: HyperionConfig,
        engine: Any,
        log: Log,
        connectors: dict[str, SiteConnector] | None = None,
    ) -> None:
        self.config = config
        self.settings = config.hyperion
        self.engine = engine
        self.log = log
        self.conns = connectors or {
            name: connect(site) for name, site in config.sites.items() if site.enabled
        }
        self.snapshots: dict[str, SiteState] = {}
        self.health: dict[str, SiteHealth] = {name: SiteHealth() for name in self.conns}
        self.poll_interval = self.settings.poll_interval_s
        self._mutate = threading.RLock()  # loops and cancels: one state transition at a time
        self._in_flight: set[int] = set()  # attempts this process is submitting right now
        self._in_flight_lock = threading.Lock()
        self._policies: dict[str, tuple[Policy, str]] = {}
        #: policies refused at load (name -> why), shown by ``hctl sites``
        self.policy_errors: dict[str, str] = {}
        #: set when a held job may now find room (a new held job, a poll that saw changes)
        self.wake = threading.Event()
        #: set by a site's job-end event (``POST /events``): poll now, not at the interval
        self.poll_now = threading.Event()
        #: job-end events received, per site named in them (``hctl sites --json`` shows them,
        #: so an admin sees the hook work)
        self.events: dict[str, int] = {}
        self._events_lock = threading.Lock()  # API handler threads count them
        #: energy, cost and CO2 of finished attempts (docs/ledger.md)
        self.ledger = LedgerRecorder(config, engine, log)
        #: per-site carbon intensity now and forecast, refreshed by the snapshot loop
        self.carbon = CarbonOutlooks(config, log)
        self.ledger.intensity = self.carbon.intensity
        self._pool = ThreadPoolExecutor(max_workers=max(4, len(self.conns) * 2))
        self._estimate_pool = ThreadPoolExecutor(max_workers=max(4, len(self.conns) * 2))
        with session(self.engine) as s:
            for status in repo.site_statuses(s):
                if status.site in self.health:
                    self.health[status.site].drained = status.drained

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._estimate_pool.shutdown(wait=False, cancel_futures=True)
        for conn in self.conns.values():
            conn.close()

    # ------------------------------------------------------------------ health
    def _ok(self, site: str) -> None:
        h = self.health[site]
        if not h.up:
            self.log(f"site {site} answers again")
        h.up, h.last_ok, h.failing_since, h.last_error = True, time.time(), None, ""

    def _failed(self, site: str, exc: Exception) -> None:
        h = self.health[site]
        now = time.time()
        h.last_error = str(exc)
        if h.failing_since is None:
            h.failing_since = now
        if h.up and now - h.failing_since >= self.settings.down_after_s:
            h.up = False
            self.log(f"site {site} marked down: {exc}")

    def _call(self, site: str, fn: Callable[[SiteConnector], Any]) -> Any:
        """Call a connector, keeping the site's health; SiteErrors propagate."""
        try:
            result = fn(self.conns[site])
        except SiteUnreachable as exc:
            self._failed(site, exc)
            raise
        self._ok(site)
        return result

    def unavailable(self) -> dict[str, str]:
        """Sites that must not receive new jobs, with the reason."""
        out = {}
        for name, h in self.health.items():
            if h.drained:
                out[name] = "drained by an administrator"
            elif not h.up:
                out[name] = f"down since {_hms(h.failing_since or 0)}: {h.last_error}"
        return out

    # ------------------------------------------------------------------ placement
    def place(
        self,
        request: JobRequest,
        job: JobInput,
        policy_name: str | None = None,
        exclude: Iterable[str] = (),
        pin: str | None = None,
        known: tuple[list[Feasible], dict[str, str]] | None = None,
        forced_ok: bool = False,
    ) -> Placement:
        """Choose a site for a job; :class:`PlacementError` with per-site reasons if none fits.

        ``known``: what :meth:`feasible` already said of this job (it is not asked again).
        ``forced_ok``: with a single candidate left, do not ask it for a start estimate (the
        choice is made; late binding's dispatch saves the round trip when it frees cores).
        The candidate then has no estimate: policies treat it as starting now, and a site
        that stopped answering shows at submission instead."""
        if known is None:
            feasible, rejected = self.feasible(request, job, exclude, pin)
        else:
            out = set(exclude)
            feasible = [f for f in known[0] if f.site not in out]
            rejected = {**known[1], **{site: "excluded" for site in out}}
        policy, name = self._policy_named(policy_name)
        ask = policy.needs_start_estimate and not (forced_ok and len(feasible) == 1)
        estimates = self._estimates(job, feasible) if ask else {}
        table: list[dict[str, Any]] = [
            {"site": s, "partition": None, "feasible": False, "why_not": why}
            for s, why in rejected.items()
        ]
        cands: list[Candidate] = []
        now = time.time()
        for f in feasible:
            est = estimates.get(f.site)
            if isinstance(est, Exception):
                table.append(
                    {
                        "site": f.site,
                        "partition": f.partition,
                        "feasible": False,
                        "why_not": str(est),
                    }
                )
                continue
            site_cfg = self.config.site(f.site)
            part_cfg = site_cfg.partition(f.partition)
            assert part_cfg is not None
            cost = job_cost(request, site_cfg.prices, part_cfg)
            state = self.snapshots.get(f.site) or SiteState(site=f.site, time=now, partitions=())
            seen = self.carbon.get(f.site)
            run = float(request.time_limit_s or part_cfg.max_time_s or 3600)
            energy = job_energy_kwh(
                site_cfg.power_of(part_cfg),
                cores=request.cpus,
                gpus=request.gpus,
                node_share=node_share(request, part_cfg),
                seconds=run,
            )
            cands.append(
                Candidate(
                    site=f.site,
                    state=state,
                    partition=f.partition,
                    est_start=est,
                    cost=cost,
                    currency=site_cfg.prices.currency,
                    carbon_g_per_kwh=seen.at(now) if seen else None,
                    est_energy_kwh=energy,
                    carbon_forecast=seen.points if seen and policy.needs_forecast else None,
                )
            )
            table.append(
                {
                    "site": f.site,
                    "partition": f.partition,
                    "feasible": True,
                    "why_not": "",
                    "est_start": est,
                    "cost": round(cost, 4),
                    "currency": site_cfg.prices.currency,
                    "est_energy_kwh": round(energy, 6),
                    **carbon_now(seen, now),
                }
            )
        if not cands:
            reasons = "; ".join(f"{r['site']}: {r['why_not']}" for r in table) or "no sites"
            raise PlacementError(f"no site can run this job ({reasons})")
        decision = policy.decide(request, cands, now)
        if decision.not_before is not None and not (
            request.carbon_flex_s or request.deadline is not None
        ):
            decision = dataclasses.replace(decision, not_before=None)  # never delay a rigid job
        stale = sorted(c.site for c in cands if (o := self.carbon.get(c.site)) and o.stale)
        if stale and (policy.reads_carbon or policy.needs_forecast):
            note = f" (carbon data stale for {', '.join(stale)}: last known values)"
            decision = dataclasses.replace(decision, reason=decision.reason + note)
        for row in table:
            row["score"] = decision.scores.get(row["site"])
            carbon_at_start(self, row, decision, now)
        return Placement(decision=decision, policy=name, table=table)

    def feasible(
        self,
        request: JobRequest,
        job: JobInput,
        exclude: Iterable[str] = (),
        pin: str | None = None,
    ) -> tuple[list[Feasible], dict[str, str]]:
        """Sites that can take the job now (no Slurm call), and why each other one cannot."""
        unavailable = self.unavailable()
        for site in exclude:
            unavailable.setdefault(site, "excluded")
        if pin is not None and pin not in self.config.sites:
            raise PlacementError(
                f"--site {pin}: no such site; known sites: {', '.join(sorted(self.config.sites))}"
            )
        feasible, rejected = candidates(request, self.config, unavailable, only=pin)
        translatable = []
        for f in feasible:  # what the site's transport cannot carry rules it out now
            try:
                build_submission(job, self.config.site(f.site), f.partition, key=None)
            except HyperionError as exc:
                rejected[f.site] = exc.message
            else:
                translatable.append(f)
        return translatable, rejected

    def _policy(self, name: str, options: dict[str, Any]) -> tuple[Policy, str]:
        """One policy object per name for the daemon's life (round-robin keeps its turn), and
        the name to record. A default policy that cannot be made (a learned model missing,
        corrupt or incompatible) is refused once, logged, and replaced by ``fallback_policy``;
        the name says so. A user's ``--policy`` that cannot be made is the user's error."""
        with self._in_flight_lock:
            if name not in self._policies:
                try:
                    self._policies[name] = (get_policy(name, **options), name)
                except HyperionError as exc:
                    if name != self.settings.default_policy:
                        raise  # a user's --policy: tell the user
                    fallback = self.settings.fallback_policy
                    self.policy_errors[name] = exc.message
                    self.log(f"policy {name} refused: {exc.message}; using {fallback} instead")
                    label = f"{fallback} (fallback: {name} refused)"
                    self._policies[name] = (get_policy(fallback), label)
            return self._policies[name]

    def _policy_named(self, policy_name: str | None) -> tuple[Policy, str]:
        """The policy a job asked for (None: the default, with the configured options)."""
        name = policy_name or self.settings.default_policy
        options = self.settings.policy_options if name == self.settings.default_policy else {}
        return self._policy(name, options)

    def load_default_policy(self) -> None:
        """Load the default policy now (a learned model once, at start), falling back if bad."""
        self._policy(self.settings.default_policy, self.settings.policy_options)

    def _estimates(self, job: JobInput, feasible: list[Feasible]) -> dict[str, float | Exception]:
        """Slurm's start estimate from every candidate site, asked in parallel."""

        def ask(f: Feasible) -> float:
            sub = build_submission(job, self.config.site(f.site), f.partition, key=None)
            return float(self._call(f.site, lambda c: c.estimate_start(sub)).start_time)

        futures = {f.site: self._estimate_pool.submit(ask, f) for f in feasible}
        wait(futures.values(), timeout=self.settings.estimate_timeout_s)
        out: dict[str, float | Exception] = {}
        for site, fut in futures.items():
            if not fut.done():
                out[site] = SiteUnreachable(site, "no start estimate in time")
                continue
            exc = fut.exception()
            out[site] = exc if isinstance(exc, Exception) else fut.result()
        return out

    # ------------------------------------------------------------------ API operations
    def submit(self, who: Caller, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST /jobs: place and submit, or hold the job in Hyperion's queue until a site has
        room (late binding); with test_only, only explain the decision."""
        job = parse_job_input(body, who)
        if not job.test_only:  # a real job of the workload (a learned policy watches it)
            self._policy_named(job.policy)[0].record(job.request, time.time())
        known = self.feasible(job.request, job, pin=job.site)
        known, budget_note = budget.filter_candidates(self.config, self.engine, job.request, known)
        hold, full = hold_reason(self, job, known[0]) if known[0] else (None, set())
        if hold is not None and not job.test_only:
            return hold_new(self, job, hold)
        try:
            placement = self.place(
                job.request, job, job.policy, exclude=() if job.test_only else full, known=known
            )
        except PlacementError as exc:
            if not full or job.test_only:
                raise
            # the sites with room could not take it now; those with a full queue still may
            hold = f"held by Hyperion: the sites with room could not take it ({exc})"
            return hold_new(self, job, hold)
        placement = budget.with_note(placement, budget_note)
        carbon_hold = carbon_hold_reason(self, placement, time.time())
        if job.test_only:
            out = placement.as_dict()
            out["hold"] = carbon_hold or hold
            out["not_before"] = placement.decision.not_before if carbon_hold else None
            return 200, {"decision": out}
        if carbon_hold is not None:
            with session(self.engine) as s:
                job_id = repo.create_job(
                    s, **job.to_row(), reason=carbon_hold, not_before=placement.decision.not_before
                ).id
            self.wake.set()
            self.log(f"job {job_id}: {carbon_hold}")
            return 201, {"job": self.job_view(job_id)}
        with session(self.engine) as s:
            job_id = repo.create_job(s, **job.to_row()).id
        self._send(job_id, job, placement, held=False)
        return 201, {"job": self.job_view(job_id)}

    def job_view(self, job_id: str) -> dict[str, Any]:
        with session(self.engine, write=False) as s:
            out = repo.job_to_dict(_job(s, job_id), repo.attempts_of(s, job_id))
            ledger.attach_usage(s, [out])
            return out

    def list_jobs(self, who: Caller, query: dict[str, str]) -> list[dict[str, Any]]:
        owner = query.get("user")
        if owner and owner != who.user and not who.admin:
            raise HyperionError(f"only admins may list the jobs of {owner}")
        see_all = who.admin and query.get("all") in {"1", "true"}
        with session(self.engine, write=False) as s:
            rows = repo.list_jobs(
                s,
                owner=owner or (None if see_all else who.user),
                all=see_all and not owner,
                site=query.get("site"),
                state=query.get("state"),
                limit=1000,
            )
            attempts = repo.attempts_by_job(s, [r.id for r in rows])
            out = [repo.job_to_dict(r, attempts.get(r.id, [])) for r in rows]
            ledger.attach_usage(s, out)
            return out

    def _own(self, who: Caller, job_id: str) -> None:
        with session(self.engine, write=False) as s:
            row = repo.get_job(s, job_id)
            owner = row.owner if row is not None else None
        if owner is None or (owner != who.user and not who.admin):
            raise LookupError(job_id)  # the same answer whether it exists or not

    def get_job(self, who: Caller, job_id: str) -> dict[str, Any]:
        self._own(who, job_id)
        return self.job_view(job_id)

    def cancel(self, who: Caller, job_id: str) -> dict[str, Any]:
        """Cancel the job wherever it is; a finished job is left as it is.

        Every live attempt becomes CANCELLING first (in the database); Slurm is then asked,
        as the job's owner, outside any lock; an attempt that cannot be cancelled now (site
        down, not yet submitted) stays CANCELLING and reconcile finishes it.
        """
        self._own(who, job_id)
        reason = f"cancelled by {who.user}"
        with self._mutate, session(self.engine) as s:
            row = _job(s, job_id)
            row.cancel_requested = True
            s.add(row)
            owner = row.owner
            if row.state == HyperionJobState.QUEUED and not repo.attempts_of(s, job_id):
                repo.set_job_state(s, row, HyperionJobState.CANCELLED, reason=reason)
            targets = []
            for a in repo.attempts_of(s, job_id):
                if not AttemptState(a.state).is_live:
                    continue
                if a.state != AttemptState.CANCELLING:
                    repo.set_attempt_state(s, a, AttemptState.CANCELLING, end_reason=reason)
                if a.slurm_job_id and a.site in self.conns:
                    targets.append((_id(a), a.site, a.slurm_job_id))
        for attempt_id, site, slurm_id in targets:
            self._cancel_in_slurm(attempt_id, site, slurm_id, owner)
        return self.job_view(job_id)

    def _cancel_in_slurm(self, attempt_id: int, site: str, slurm_id: str, owner: str) -> bool:
        """scancel one attempt's job as its owner; record what Slurm then says of it."""
        try:
            self._call(site, lambda c: c.cancel([slurm_id], user=owner))
            status = self._call(site, lambda c: c.jobs([slurm_id])).get(slurm_id)
        except SiteError as exc:
            self.log(f"cancel of Slurm job {slurm_id} on {site} deferred: {exc}")
            return False
        with self._mutate, session(self.engine) as s:
            a = _attempt(s, attempt_id)
            if status is not None and (status.state.is_final or status.state in _STARTED):
                repo.apply_status(s, a, status)  # e.g. it had completed: keep the truth
            if AttemptState(a.state).is_live:
                repo.set_attempt_state(s, a, AttemptState.CANCELLED)
        return True

    def sites(self) -> list[dict[str, Any]]:
        out = []
        loaded = self._policies.get(self.settings.default_policy)
        status = loaded[0].status() if loaded is not None else None  # e.g. a model stepping aside
        for name, site in self.config.sites.items():
            h = self.health.get(name, SiteHealth(up=False, last_error="disabled"))
            snap = self.snapshots.get(name)
            out.append(
                {
                    "name": name,
                    "access": site.access.kind,
                    "enabled": site.enabled,
                    "up": h.up and name in self.conns,
                    "drained": h.drained,
                    "last_ok": h.last_ok,
                    "last_error": h.last_error,
                    "pending": snap.pending_jobs if snap else None,
                    "running": sum(p.running_jobs for p in snap.partitions) if snap else None,
                    # partitions may share nodes (beta): the largest, not the sum
                    "idle_cpus": max((p.idle_cpus for p in snap.partitions), default=0)
                    if snap
                    else None,
                    "idle_gpus": max((p.idle_gpus for p in snap.partitions), default=0)
                    if snap
                    else None,
                    "policy": self.settings.default_policy,
                    "policy_error": self.policy_errors.get(self.settings.default_policy),
                    "policy_status": status,
                    "carbon": carbon_view(self, name),
                    "job_end_events": self.events.get(name, 0),
                }
            )
        return out

    def set_drained(self, site: str, drained: bool) -> dict[str, Any]:
        self.config.site(site)
        if site in self.health:
            self.health[site].drained = drained
        with session(self.engine) as s:
            repo.set_site_status(s, site, drained=drained)
        self.log(f"site {site} {'drained' if drained else 'resumed'}")
        return next(x for x in self.sites() if x["name"] == site)

    # ------------------------------------------------------------------ submission protocol
    def _send(self, job_id: str, job: JobInput, placement: Placement, held: bool) -> bool:
        """Record the placement as an INTENT attempt and submit it (exactly-once protocol);
        False when a held job was cancelled meanwhile. Slurm's refusal rejects the job."""
        d = placement.decision
        with self._mutate, session(self.engine) as s:
            row = _job(s, job_id)
            if held and (row.cancel_requested or row.state != HyperionJobState.QUEUED):
                return False
            why = f"{placement.policy}: {d.reason}"
            if held:
                why += f" (after {time.time() - row.created_at:.0f}s in Hyperion's queue)"
            attempt = repo.add_attempt(s, row, d.site, d.partition, why, d.scores)
            attempt_id = _id(attempt)
            self._claim(attempt_id)  # before the INTENT is visible to reconcile
        self.poll_interval = self.settings.poll_interval_s  # follow the new job closely
        pinned = held and job.site is not None  # no other site may take it
        try:
            self._submit_attempt(attempt_id, job, keep_intent=pinned)
        except JobRejected as exc:
            with session(self.engine) as s:
                repo.set_job_state(
                    s, _job(s, job_id), HyperionJobState.REJECTED, reason=exc.slurm_message
                )
            if held:
                self.log(f"held job {job_id} rejected by {d.site}: {exc.slurm_message}")
                return True
            raise
        except HyperionError as exc:
            if not held:
                raise  # the user sees why, as with sbatch
            if pinned and isinstance(exc, SiteError):
                self.log(f"held job {job_id}: {d.site} unreachable ({exc}); sent when it answers")
                return True
            from hyperion.daemon.recovery import place_again

            self.log(f"held job {job_id}: submission to {d.site} failed ({exc}); placing it again")
            place_again(self, job_id, job, exclude=d.site)
        return True

    def _claim(self, attempt_id: int) -> bool:
        """Mark an attempt as being submitted by this process; False if it already is."""
        with self._in_flight_lock:
            if attempt_id in self._in_flight:
                return False
            self._in_flight.add(attempt_id)
            return True

    def _submit_attempt(self, attempt_id: int, job: JobInput, keep_intent: bool = False) -> None:
        """Steps 2-3 of the exactly-once protocol for a claimed INTENT attempt. With
        ``keep_intent``, a site that cannot be reached leaves the attempt an INTENT, which
        recovery submits (same key) once the site answers; else it is ABANDONED."""
        try:
            with session(self.engine, write=False) as s:
                a = _attempt(s, attempt_id)
                site, partition, key = a.site, a.partition or "", a.key
            try:
                sub = build_submission(job, self.config.site(site), partition, key=key)
            except HyperionError as exc:
                self._transition(attempt_id, AttemptState.ABANDONED, exc.message, only=_UNSENT)
                raise
            _crash("before_submit")
            try:
                slurm_id = self._call(site, lambda c: c.submit(sub))
            except SubmitOutcomeUnknown as exc:
                self._transition(attempt_id, AttemptState.UNKNOWN, str(exc), only=_UNSENT)
                return
            except JobRejected as exc:
                self._transition(
                    attempt_id, AttemptState.ABANDONED, exc.slurm_message, only=_UNSENT
                )
                raise
            except SiteError as exc:
                if not keep_intent:
                    self._transition(attempt_id, AttemptState.ABANDONED, str(exc), only=_UNSENT)
                raise
            _crash("after_submit")
            with self._mutate, session(self.engine) as s:
                a = _attempt(s, attempt_id)
                if a.state in _UNSENT:
                    repo.set_attempt_state(s, a, AttemptState.SUBMITTED, slurm_job_id=slurm_id)
                    return
                # cancelled (or moved) while sbatch ran: the job must not live on
                repo.set_attempt_state(s, a, AttemptState.CANCELLING, slurm_job_id=slurm_id)
            self._cancel_in_slurm(attempt_id, site, slurm_id, job.user)
        finally:
            with self._in_flight_lock:
                self._in_flight.discard(attempt_id)

    def _transition(
        self, attempt_id: int, state: AttemptState, reason: str | None, only: Iterable[AttemptState]
    ) -> bool:
        """Set an attempt's state if it is still in one of ``only``; True if it was."""
        with self._mutate, session(self.engine) as s:
            a = _attempt(s, attempt_id)
            if a.state not in {st.value for st in only}:
                return False
            repo.set_attempt_state(s, a, state, end_reason=reason)
            return True

    def job_event(self, site: str | None, job_id: str | None) -> bool:
        """A site says a job ended (its ``EpilogSlurmctld`` hook, docs/federation.md): poll
        at once rather than at the interval when the job is one of Hyperion's live attempts
        there (without a job id: when any is; without a known site: anywhere). Other users'
        jobs change nothing Hyperion counts, so their events only count. The event is only a
        hint: the poll asks Slurm. Whether it triggered a poll."""
        key = site if site in self.config.sites else "(other)"
        with self._events_lock:
            self.events[key] = self.events.get(key, 0) + 1
        where = site if site in self.conns else None  # unknown: any site
        with session(self.engine, write=False) as s:
            attempts = repo.attempts_in(s, LIVE_ATTEMPT_STATES, site=where)
        useful = any(not job_id or str(a.slurm_job_id) == job_id for a in attempts)
        if useful:
            self.poll_now.set()
        return useful

    # ------------------------------------------------------------------ loops
    def poll(self) -> None:
        """One status query per site with live attempts, sites in parallel; adaptive interval
        overall, and a per-site back-off for a site that fails or answers slowly."""
        now = time.time()
        with session(self.engine, write=False) as s:
            wanted = {
                site: [
                    (_id(a), str(a.slurm_job_id))
                    for a in atts
                    if a.slurm_job_id and a.state not in _RECOVER
                ]
                for site, atts in repo.live_attempts_by_site(s).items()
                if site in self.conns and self.health[site].next_poll <= now
            }
        wanted = {site: pairs for site, pairs in wanted.items() if pairs}
        # a list, not any(map): every site's answer must be applied before poll() returns
        changed = any(list(self._pool.map(lambda item: self._poll_site(*item), wanted.items())))
        floor, ceiling = self.settings.poll_interval_s, self.settings.poll_max_interval_s
        self.poll_interval = floor if changed else min(ceiling, self.poll_interval * 1.5)
        if self.settings.late_binding:
            with session(self.engine, write=False) as s:
                if repo.held_jobs(s, limit=1, due_by=now):  # held jobs wait for the polls
                    self.poll_interval = min(floor, self.settings.held_poll_interval_s)
        if changed:
            self.wake.set()  # jobs started or ended: held jobs may find room
            self.ledger.record_finished()

    def _poll_site(self, site: str, pairs: list[tuple[int, str]]) -> bool:
        h = self.health[site]
        floor, ceiling = self.settings.poll_interval_s, self.settings.poll_max_interval_s
        started = time.monotonic()
        try:
            statuses = self._call(site, lambda c: c.jobs([sid for _, sid in pairs]))
        except SiteError as exc:
            h.backoff_s = min(ceiling, max(floor, h.backoff_s * 2))
            h.next_poll = time.time() + h.backoff_s
            self.log(f"poll {site}: {exc}; next try in {h.backoff_s:.0f}s")
            return False
        slow = time.monotonic() - started > SLOW_SITE_S
        h.backoff_s = min(ceiling, max(floor, h.backoff_s * 2)) if slow else 0.0
        h.next_poll = time.time() + h.backoff_s
        changed = False
        with self._mutate, session(self.engine) as s:
            for attempt_id, slurm_id in pairs:
                status = statuses.get(slurm_id)
                a = _attempt(s, attempt_id)
                if status is not None and a.state not in _RECOVER:
                    changed = repo.apply_status(s, a, status) or changed
        return changed

    def refresh_snapshots(self) -> None:
        """A SiteState per site, in parallel, for placement and ``hctl sites``."""

        def one(site: str) -> None:
            try:
                self.snapshots[site] = self._call(site, lambda c: c.snapshot())
            except SiteError as exc:
                self.log(f"snapshot {site}: {exc}")

        list(self._pool.map(one, list(self.conns)))
        self.carbon.refresh()

    def dispatch(self) -> int:
        """Send held jobs to sites with room (late binding) and release carbon holds."""
        return dispatch(self)

    def dispatch_wait(self) -> float:
        """Seconds the dispatch loop may sleep (until the next carbon release)."""
        return dispatch_wait(self)

    def reconcile(self) -> None:
        """Finish what a crash or an outage interrupted (docs/federation.md, recovery)."""
        from hyperion.daemon.recovery import reconcile

        reconcile(self)
        self.ledger.record_finished()  # attempts ended by cancels and recovery too

    def replace(self) -> None:
        """Move jobs pending too long to a site that predicts an earlier start by a margin."""
        from hyperion.daemon.recovery import replace

        replace(self)


def _hms(epoch: float) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(epoch))
