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


class GreenestPolicy(Policy):
    """The site with the lowest grid carbon intensity now (unknown ranks last)."""

    name = "greenest"

    def decide(self, job: JobRequest, candidates: Sequence[Candidate], now: float) -> Decision:
        scores = [
            c.carbon_g_per_kwh if c.carbon_g_per_kwh is not None else math.inf for c in candidates
        ]
        return _pick(candidates, scores, "lowest carbon intensity")


def _normalise(values: Sequence[float]) -> list[float]:
    """Scale to [0, 1] by the largest finite value; unknown (inf/nan) becomes 1."""
    finite = [v for v in values if math.isfinite(v)]
    top = max(finite, default=0.0)
    return [(v / top if top > 0 else 0.0) if math.isfinite(v) else 1.0 for v in values]


class WeightedPolicy(Policy):
    """A weighted sum of normalised estimated wait, cost and carbon (each scaled to [0, 1]).

    Carbon is the intensity now times the job's estimated energy when known, else the intensity.
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
        self.needs_start_estimate = wait > 0

    def decide(self, job: JobRequest, candidates: Sequence[Candidate], now: float) -> Decision:
        ww, wc, wg = self.weights
        waits = _normalise(
            [
                max(c.est_start - now, 0.0) if c.est_start is not None else math.inf
                for c in candidates
            ]
            if ww
            else [0.0] * len(candidates)
        )
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
}


#: prefix of learned policies: ``rl:PATH`` (a ``model.hyp`` from ``hyperion train``)
RL_PREFIX = "rl:"


def is_policy_name(name: str) -> bool:
    """True for a heuristic's name and for any ``rl:PATH``."""
    return name in POLICIES or name.startswith(RL_PREFIX)


def _learned(path: str, options: dict[str, object]) -> Policy:
    given = sorted(k for k, v in options.items() if v is not None)
    if given:
        raise HyperionError(f"policy rl:{path} has no option {', '.join(given)}")
    try:
        from hyperion.rl.policy import LearnedPolicy
    except ImportError as exc:
        from hyperion.rl.extra import missing_extra

        raise missing_extra(exc) from None
    return LearnedPolicy(path)


def policy_options(name: str) -> list[str]:
    """The keyword options a policy accepts."""
    factory = POLICIES[name]
    return [p for p in inspect.signature(factory).parameters if p != "self"]


def get_policy(name: str, **options: object) -> Policy:
    """A new policy by name; unknown names and options are errors that list the valid ones.

    Options that a policy does not take are ignored only when their value is None, so callers can
    pass e.g. ``seed=None`` generically. ``rl:PATH`` loads a trained model (no options).
    """
    if name.startswith(RL_PREFIX):
        return _learned(name[len(RL_PREFIX) :], options)
    factory = POLICIES.get(name)
    if factory is None:
        raise HyperionError(
            f"unknown placement policy {name!r}",
            hint=f"valid policies: {', '.join(POLICIES)}, rl:PATH (a trained model)",
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
