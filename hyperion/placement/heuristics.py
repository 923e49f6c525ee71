"""Baseline placement policies, used by the simulator and as the daemon's safe fallback.

Each reads only :class:`~hyperion.placement.policy.Candidate` (and the
:class:`~hyperion.types.SiteState` in it) and the :class:`~hyperion.types.JobRequest`, so it
decides the same way live and in simulation. Scores are "lower is better"; ties go to the home
site, then to the candidate listed first.

Get one by name with :func:`get_policy` (``hyperion sim --policy NAME``); :data:`POLICIES`
lists the names. ``rl:PATH`` names a trained model (:mod:`hyperion.rl.policy`; torch is imported
only then).
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Callable, Sequence

from hyperion.errors import HyperionError
from hyperion.placement.carbon_window import forecast_curve, latest_start, run_seconds
from hyperion.placement.policy import Candidate, Decision, Policy
from hyperion.types import JobRequest


def _pick(candidates: Sequence[Candidate], scores: Sequence[float], reason: str) -> Decision:
    """The candidate with the lowest score; ties prefer home, then list order."""
    best = min(
        range(len(candidates)),
        key=lambda i: (scores[i], not candidates[i].home, i),
    )
    c = candidates[best]
    return Decision(
        site=c.site,
        partition=c.partition,
        reason=reason,
        scores={cand.site: s for cand, s in zip(candidates, scores, strict=True)},
    )


class HomePolicy(Policy):
    """No meta-scheduling: the job runs where its user would have submitted it."""

    name = "home"

    def decide(self, job: JobRequest, candidates: Sequence[Candidate], now: float) -> Decision:
        scores = [0.0 if c.home else 1.0 for c in candidates]
        return _pick(
            candidates,
            scores,
            "home site"
            if any(c.home for c in candidates)
            else "home site cannot run the job; first candidate",
        )


class RandomPolicy(Policy):
    """A uniformly random candidate, from a seeded generator (deterministic per seed)."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._rng = random.Random(seed)

    def decide(self, job: JobRequest, candidates: Sequence[Candidate], now: float) -> Decision:
        pick = self._rng.randrange(len(candidates))
        scores = [0.0 if i == pick else 1.0 for i in range(len(candidates))]
        return _pick(candidates, scores, "random choice")


class RoundRobinPolicy(Policy):
    """Sites in turn (by name, so the order does not depend on which sites can run the job)."""

    name = "round-robin"

    def __init__(self) -> None:
        self._last: str | None = None

    def decide(self, job: JobRequest, candidates: Sequence[Candidate], now: float) -> Decision:
        names = sorted(c.site for c in candidates)
        nxt = next((n for n in names if self._last is None or n > self._last), names[0])
        self._last = nxt
        scores = [0.0 if c.site == nxt else 1.0 for c in candidates]
        return _pick(candidates, scores, "next site in turn")


class EarliestStartPolicy(Policy):
    """The site whose own plan starts the job first (what ``sbatch -M a,b,c`` does)."""

    name = "earliest-start"
    needs_start_estimate = True

    def decide(self, job: JobRequest, candidates: Sequence[Candidate], now: float) -> Decision:
        scores = [c.est_start - now if c.est_start is not None else math.inf for c in candidates]
        return _pick(candidates, scores, "earliest estimated start")


def _load(c: Candidate) -> float:
    """Allocated plus pending cores (and GPUs), over the partition's total."""
    p = c.state.partition(c.partition)
    if p is None or p.total_cpus <= 0:
        return math.inf
    load = (p.alloc_cpus + p.pending_cpus) / p.total_cpus
    if p.total_gpus:
        load = max(load, (p.alloc_gpus + p.pending_gpus) / p.total_gpus)
    return load


class LeastLoadedPolicy(Policy):
    """The site whose partition has the least allocated + pending work per core."""

    name = "least-loaded"

    def decide(self, job: JobRequest, candidates: Sequence[Candidate], now: float) -> Decision:
        return _pick(candidates, [_load(c) for c in candidates], "least loaded partition")


class CheapestPolicy(Policy):
    """The site where the job costs least (:attr:`Candidate.cost`; unknown cost ranks last)."""

    name = "cheapest"

    def decide(self, job: JobRequest, candidates: Sequence[Candidate], now: float) -> Decision:
        scores = [c.cost if c.cost is not None else math.inf for c in candidates]
        return _pick(candidates, scores, "lowest cost")


#: shortest run time a slack or a slowdown is measured against (the bounded-slowdown threshold)
MIN_RUN_S = 10.0


class GreenestPolicy(Policy):
    """The site with the lowest grid carbon intensity now (unknown ranks last).

    Alone it sends everything to the greenest site however long the queue there. With ``slack``
    it chooses only among the sites whose estimated start is at most ``slack_s`` seconds plus
    ``slack`` times the job's time limit (at least 10 s) after the earliest, so a job waits at
    most about ``slack`` of its own length (and its bounded slowdown grows by at most ``slack``)
    for greener power.
    """

    name = "greenest"
    reads_carbon = True

    def __init__(self, slack: float | None = None, slack_s: float = 0.0) -> None:
        if (slack is not None and slack < 0) or slack_s < 0:
            raise HyperionError(
                f"policy {self.name!r}: slack and slack_s must be >= 0 "
                f"(got slack={slack}, slack_s={slack_s})"
            )
        self.slack = None if slack is None else float(slack)
        self.slack_s = float(slack_s)
        self.needs_start_estimate = slack is not None

    def eligible(self, job: JobRequest, candidates: Sequence[Candidate], now: float) -> list[bool]:
        """Which candidates start within the slack of the earliest (all without a slack)."""
        if self.slack is None:
            return [True] * len(candidates)
        est = [c.est_start if c.est_start is not None else math.inf for c in candidates]
        first = min(est)
        if not math.isfinite(first):
            return [True] * len(candidates)
        limit = first + self.slack_s + self.slack * max(job.time_limit_s or 0.0, MIN_RUN_S)
        return [e <= limit for e in est]

    def intensity(self, c: Candidate, start: float, seconds: float) -> float:
        """The intensity the job would run at on ``c`` (here: the current one; inf: unknown)."""
        return c.carbon_g_per_kwh if c.carbon_g_per_kwh is not None else math.inf

    def decide(self, job: JobRequest, candidates: Sequence[Candidate], now: float) -> Decision:
        ok = self.eligible(job, candidates, now)
        run = run_seconds(job)
        scores = [
            self.intensity(c, max(c.est_start or now, now), run) if good else math.inf
            for c, good in zip(candidates, ok, strict=True)
        ]
        if all(math.isinf(x) for x in scores):  # nothing known: the earliest / first site
            scores = [0.0 if good else 1.0 for good in ok]
        reason = "lowest carbon intensity"
        if self.slack is not None:
            reason += f" among sites starting within slack {self.slack:g}x run + {self.slack_s:g} s"
        return _pick(candidates, scores, reason)


def _span(seconds: float) -> str:
    """A hold's length for people: hours from an hour on, else minutes or seconds."""
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


class CarbonAwarePolicy(GreenestPolicy):
    """Greenest within a slack of the earliest start, judged on the forecast over the job's run;
    flexible jobs are time-shifted.

    A job without flexibility goes to the site with the lowest forecast mean intensity over its
    estimated run among the sites whose estimated start is within the slack of the earliest
    (see :class:`GreenestPolicy`); it is never delayed. A job that declares flexibility
    (``carbon_flex_s``, ``deadline``; with ``shift``) may start as late as its flexibility
    allows (now + flex, deadline - time limit) and, to keep its slowdown bounded, no later than
    ``slack_s`` plus ``flex_slack`` times its time limit after the earliest estimated start.
    Every site whose estimated start falls in that window or in the slack (a deadline still
    holds) is scored by the forecast mean over the run, at that estimated start and at each
    later hour boundary in the window; the job is held (``not_before``) until the best of those
    when that is greener than the best immediate start by at least ``min_gain`` (a fraction) and
    ``min_gain_g`` gCO2/kWh (holding a job costs the sites its capacity now; a small gain does
    not pay for that). Hours into which held jobs
    already amount to ``book_cap`` of a site's cores are not offered again, so held jobs do not
    all pile into the same dip. Without a forecast the current intensity stands for the whole
    run and nothing is held.
    """

    name = "carbon-aware"
    needs_forecast = True

    def __init__(
        self,
        slack: float = 4.0,
        slack_s: float = 0.0,
        shift: bool = True,
        flex_slack: float = 4.0,
        min_gain: float = 0.05,
        min_gain_g: float = 25.0,
        book_cap: float = 0.5,
    ) -> None:
        super().__init__(slack, slack_s)
        if (
            not 0.0 <= min_gain < 1.0
            or min(flex_slack, min_gain_g) < 0
            or not 0.0 < book_cap <= 1.0
        ):
            raise HyperionError(
                f"policy {self.name!r}: need min_gain in [0, 1), flex_slack >= 0, min_gain_g >= 0 "
                f"and book_cap in (0, 1] (got {min_gain}, {flex_slack}, {min_gain_g}, {book_cap})"
            )
        self.shift = bool(shift)
        self.flex_slack = float(flex_slack)
        self.min_gain = float(min_gain)
        self.min_gain_g = float(min_gain_g)
        self.book_cap = float(book_cap)
        self._booked: dict[tuple[str, float], int] = {}
        self._pruned = -math.inf

    def intensity(self, c: Candidate, start: float, seconds: float) -> float:
        curve = forecast_curve(c)
        if curve is None:
            return super().intensity(c, start, seconds)
        return curve.mean(start, seconds)

    def decide(self, job: JobRequest, candidates: Sequence[Candidate], now: float) -> Decision:
        latest = latest_start(job, now) if self.shift else None
        if latest is not None and latest > now:
            d = self._shifted(job, candidates, now, latest)
            if d is not None:
                return d
        return super().decide(job, candidates, now)

    def _free(self, c: Candidate, t: float, cores: int) -> bool:
        """Whether held jobs leave room for ``cores`` more in the hour starting at ``t``."""
        p = c.state.partition(c.partition)
        total = p.total_cpus if p is not None else 0
        return total <= 0 or self._booked.get((c.site, t), 0) + cores <= self.book_cap * total

    def _book(
        self, site: str, t: float, run: float, cores: int, now: float, step: float = 3600.0
    ) -> None:
        for h in range(min(max(math.ceil(run / step), 1), 48)):
            key = (site, t + h * step)
            self._booked[key] = self._booked.get(key, 0) + cores
        if now - self._pruned > 86400.0:
            self._booked = {k: v for k, v in self._booked.items() if k[1] >= now - 3600.0}
            self._pruned = now

    def _shifted(
        self, job: JobRequest, candidates: Sequence[Candidate], now: float, latest: float
    ) -> Decision | None:
        """The greenest (site, start) within the job's flexibility, or None if no site's
        estimated start meets it."""
        run = run_seconds(job)
        firsts = [max(c.est_start if c.est_start is not None else now, now) for c in candidates]
        first = min(firsts)
        hold_until = min(latest, first + self.slack_s + self.flex_slack * max(run, MIN_RUN_S))
        window = max(hold_until, first + self.slack_s + (self.slack or 0.0) * max(run, MIN_RUN_S))
        if job.deadline is not None:
            window = min(window, job.deadline - run)
        best: tuple[float, float, bool, int] | None = None  # (score, start, not home, index)
        asap: tuple[float, float, bool, int] | None = None
        per_site: list[float] = []
        for i, (c, start) in enumerate(zip(candidates, firsts, strict=True)):
            if start > window:
                per_site.append(math.inf)
                continue
            here = (self.intensity(c, start, run), start, not c.home, i)
            asap = here if asap is None or here < asap else asap
            site_best = here
            curve = forecast_curve(c)
            if curve is not None:
                step = curve.step
                t = curve.t0 + (math.floor((start - curve.t0) / step) + 1) * step
                while t <= hold_until:
                    if self._free(c, t, job.cpus):
                        site_best = min(site_best, (curve.mean(t, run), t, not c.home, i))
                    t += step
            best = site_best if best is None or site_best < best else best
            per_site.append(site_best[0])
        if best is None or asap is None:
            return None
        scores = {c.site: x for c, x in zip(candidates, per_site, strict=True)}
        gain = asap[0] - best[0]
        if best[1] > firsts[best[3]] and gain >= max(self.min_gain * asap[0], self.min_gain_g):
            c = candidates[best[3]]
            curve = forecast_curve(c)
            self._book(c.site, best[1], run, job.cpus, now, curve.step if curve else 3600.0)
            return Decision(
                site=c.site,
                partition=c.partition,
                reason=f"flexible: held {_span(best[1] - now)} for a greener window "
                f"({best[0]:.0f} instead of {asap[0]:.0f} gCO2/kWh)",
                scores=scores,
                not_before=best[1],
            )
        c = candidates[asap[3]]
        return Decision(
            site=c.site,
            partition=c.partition,
            reason="flexible: the greenest start within its flexibility is its earliest",
            scores=scores,
        )


def _normalise(values: Sequence[float]) -> list[float]:
    """Scale to [0, 1] by the largest finite value; unknown (inf/nan) becomes 1."""
    finite = [v for v in values if math.isfinite(v)]
    top = max(finite, default=0.0)
    return [(v / top if top > 0 else 0.0) if math.isfinite(v) else 1.0 for v in values]


class WeightedPolicy(Policy):
    """A weighted sum of normalised estimated wait, cost and carbon.

    The wait term is the estimated wait over the job's time limit (at least 10 s): what the wait
    adds to the job's bounded slowdown, so an hour matters for a short job and not for a day-long
    one (without a time limit: the wait over the largest candidate's, in [0, 1]). Cost and carbon
    are scaled to [0, 1] by their largest candidate; carbon is the intensity now times the job's
    estimated energy when known, else the intensity. With the default weights a job waits for a
    site about ten times greener up to about 0.9 of its own length.
    """

    name = "weighted"
    needs_start_estimate = True

    def __init__(self, wait: float = 1.0, cost: float = 1.0, carbon: float = 1.0) -> None:
        if min(wait, cost, carbon) < 0 or wait + cost + carbon <= 0:
            raise HyperionError(
                f"weighted policy: weights must be >= 0 and not all 0 "
                f"(got wait={wait}, cost={cost}, carbon={carbon})"
            )
        self.weights = (float(wait), float(cost), float(carbon))
        self.reads_carbon = carbon > 0
        self.needs_start_estimate = wait > 0

    def decide(self, job: JobRequest, candidates: Sequence[Candidate], now: float) -> Decision:
        ww, wc, wg = self.weights
        raw = (
            [
                max(c.est_start - now, 0.0) if c.est_start is not None else math.inf
                for c in candidates
            ]
            if ww
            else [0.0] * len(candidates)
        )
        if job.time_limit_s:
            scale = max(float(job.time_limit_s), MIN_RUN_S)
            waits = [w / scale if math.isfinite(w) else math.inf for w in raw]
            if any(math.isinf(w) for w in waits):
                top = max((w for w in waits if math.isfinite(w)), default=0.0)
                waits = [w if math.isfinite(w) else top + 1.0 for w in waits]
        else:
            waits = _normalise(raw)
        costs = _normalise([c.cost if c.cost is not None else math.inf for c in candidates])
        carbon = _normalise(
            [
                c.carbon_g_per_kwh * (c.est_energy_kwh if c.est_energy_kwh else 1.0)
                if c.carbon_g_per_kwh is not None
                else math.inf
                for c in candidates
            ]
        )
        scores = [ww * a + wc * b + wg * g for a, b, g in zip(waits, costs, carbon, strict=True)]
        return _pick(candidates, scores, f"weighted wait/cost/carbon {ww:g}/{wc:g}/{wg:g}")


#: policy names -> classes, for :func:`get_policy`
POLICIES: dict[str, Callable[..., Policy]] = {
    "home": HomePolicy,
    "random": RandomPolicy,
    "round-robin": RoundRobinPolicy,
    "earliest-start": EarliestStartPolicy,
    "least-loaded": LeastLoadedPolicy,
    "cheapest": CheapestPolicy,
    "greenest": GreenestPolicy,
    "weighted": WeightedPolicy,
    "carbon-aware": CarbonAwarePolicy,
}


#: prefix of learned policies: ``rl:PATH`` (a ``model.hyp`` from ``hyperion train``)
RL_PREFIX = "rl:"


#: ``--policy rl``: the model shipped inside the package (objective ``bsld``; docs/rl.md)
RL_DEFAULT = "rl"


def default_model_path() -> str:
    """The path of the shipped default model (``hyperion/data/default-bsld.hyp``)."""
    from importlib.resources import files

    return str(files("hyperion") / "data" / "default-bsld.hyp")


def is_policy_name(name: str) -> bool:
    """True for a heuristic's name, for ``rl`` (the shipped model) and for any ``rl:PATH``."""
    return name in POLICIES or name == RL_DEFAULT or name.startswith(RL_PREFIX)


def _learned(path: str, options: dict[str, object]) -> Policy:
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(k for k in given if k not in LEARNED_OPTIONS)
    if unknown:
        raise HyperionError(
            f"policy rl:{path} has no option {', '.join(unknown)}",
            hint=f"its options: {', '.join(LEARNED_OPTIONS)}",
        )
    try:
        from hyperion.rl.policy import DEFAULT_FALLBACK, GUARD_SLACK, LearnedPolicy
    except ImportError as exc:
        from hyperion.rl.extra import missing_extra

        raise missing_extra(exc) from None
    try:
        guard = float(given.get("guard", GUARD_SLACK))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise HyperionError(f"policy rl:{path}: guard must be a number of job lengths") from None
    fallback = given.get("fallback", DEFAULT_FALLBACK)
    if not isinstance(fallback, str) or (fallback != "none" and fallback not in POLICIES):
        raise HyperionError(
            f"policy rl:{path}: fallback {fallback!r} is not a heuristic",
            hint=f"one of {', '.join(POLICIES)}, or none (the model decides every job)",
        )
    return LearnedPolicy(path, guard=guard, fallback=None if fallback == "none" else fallback)


#: the options of learned policies (``rl``, ``rl:PATH``)
LEARNED_OPTIONS = ("guard", "fallback")


def policy_options(name: str) -> list[str]:
    """The keyword options a policy accepts (heuristics and learned policies)."""
    if name == RL_DEFAULT or name.startswith(RL_PREFIX):
        return list(LEARNED_OPTIONS)
    factory = POLICIES[name]
    return [p for p in inspect.signature(factory).parameters if p != "self"]


def get_policy(name: str, **options: object) -> Policy:
    """A new policy by name; unknown names and options are errors that list the valid ones.

    Options that a policy does not take are ignored only when their value is None, so callers can
    pass e.g. ``seed=None`` generically. ``rl:PATH`` loads a trained model (no options); ``rl``
    the one shipped inside the package.
    """
    if name == RL_DEFAULT:
        return _learned(default_model_path(), options)
    if name.startswith(RL_PREFIX):
        return _learned(name[len(RL_PREFIX) :], options)
    factory = POLICIES.get(name)
    if factory is None:
        raise HyperionError(
            f"unknown placement policy {name!r}",
            hint=f"valid policies: {', '.join(POLICIES)}, rl (the shipped model), "
            "rl:PATH (a trained model)",
        )
    valid = policy_options(name)
    given = {k: v for k, v in options.items() if v is not None or k in valid}
    unknown = sorted(k for k in given if k not in valid)
    if unknown:
        raise HyperionError(
            f"policy {name!r} has no option {', '.join(unknown)}",
            hint=f"its options: {', '.join(valid) or '(none)'}",
        )
    try:
        return factory(**given)
    except (TypeError, ValueError) as exc:
        raise HyperionError(f"policy {name!r}: bad option value: {exc}") from None
