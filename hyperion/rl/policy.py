"""``rl:PATH``: a trained model (:mod:`.artifact`) as a placement :class:`Policy`."""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from hyperion.errors import HyperionError
from hyperion.placement.carbon_window import run_seconds
from hyperion.placement.policy import Candidate, Decision, Policy
from hyperion.rl.artifact import load
from hyperion.rl.features import RANGE_FEATURES, job_features, observe, outside_range
from hyperion.rl.model import PlacementModel
from hyperion.rl.objective import Objective
from hyperion.rl.windows import MIN_RUN_S, est_start
from hyperion.types import JobRequest

#: the guard's default slack, in job lengths (chosen on validation seeds, docs/rl.md)
GUARD_SLACK = 32.0
#: added to the score of a site the guard left out
GUARDED = 1000.0
#: the heuristic that places jobs while the model steps aside (``fallback`` option)
DEFAULT_FALLBACK = "weighted"
#: the model steps aside while more than this share of the recent jobs lie outside its range
UNFAMILIAR_SHARE = 0.5
#: how many recent jobs (this one included) that share is taken over
FAMILIAR_WINDOW = 250


class LearnedPolicy(Policy):
    """The site the model likes best, then its best choice there: start now, or hold the job
    until the site's delay target (``Decision.not_before``; only for flexible jobs, within their
    flexibility). ``Decision.scores`` are the per-site scores as -log(probability of the site,
    any choice) (lower is better, as for every policy).

    A guard keeps the model among the sites whose estimated start is at most ``guard`` job
    lengths (time limit, at least 10 s) after the earliest one: what the model never saw in
    training cannot send a job to a queue hours longer than another site's (``guard=0``: only
    the earliest sites; a negative guard: no guard).

    The model steps aside on a workload unlike its training: while more than
    :data:`UNFAMILIAR_SHARE` of the last :data:`FAMILIAR_WINDOW` jobs the caller recorded
    (:meth:`record`: every real job on arrival; fewer at first) lie outside the job range
    recorded in the model (``job_range``: the sizes, time limits, GPUs and flexibility it was
    trained on), the ``fallback`` heuristic places the jobs, and each decision's reason and
    :meth:`status` say so. It takes the workload back once most recent jobs are in range again.
    Models without a recorded range, and ``fallback=None``, always decide themselves.
    """

    needs_start_estimate = True
    needs_forecast = True
    reads_carbon = True  # its features include the intensities
    watches_workload = True  # record(): does its workload lie within its training range?

    def __init__(
        self, path: str, guard: float = GUARD_SLACK, fallback: str | None = DEFAULT_FALLBACK
    ) -> None:
        self.model, self.meta = load(path)
        self.name = f"rl:{path}"
        self.objective = Objective(**self.meta["objective"])
        self.guard = float(guard)
        self.bounds = _bounds(path, self.meta.get("job_range"))
        self._watch(fallback)

    def _watch(self, fallback: str | None) -> None:
        """The fallback heuristic and the window of recorded jobs (see the class docstring)."""
        from hyperion.placement.heuristics import get_policy  # heuristics imports this lazily

        self.fallback = get_policy(fallback) if fallback is not None else None
        self._recent: deque[bool] = deque(maxlen=FAMILIAR_WINDOW)
        self._example = ""
        self._lock = threading.Lock()

    @classmethod
    def from_model(
        cls, model: PlacementModel, objective: Objective, name: str = "rl:(training)"
    ) -> LearnedPolicy:
        """A policy over an in-memory model (training's checkpoint selection), no file."""
        self = cls.__new__(cls)
        self.model, self.meta, self.name, self.objective = model, {}, name, objective
        self.guard = GUARD_SLACK
        self.bounds = None
        self._watch(None)
        return self

    def record(self, job: JobRequest, now: float) -> None:
        """Count whether this job of the workload lies outside the model's training range."""
        if self.bounds is None or self.fallback is None:
            return
        why = outside_range(job_features(job, now), self.bounds)
        with self._lock:
            self._recent.append(why is not None)
            if why is not None:
                self._example = why

    def status(self) -> str | None:
        """While the model steps aside, the sentence that says so (None: the model decides)."""
        with self._lock:
            n, out = len(self._recent), sum(self._recent)
            if self.fallback is None or out <= UNFAMILIAR_SHARE * n:
                return None
            return (
                f"the model steps aside: {out} of the last {n} jobs lie outside its training "
                f"range (e.g. {self._example}); {self.fallback.name} places them"
            )

    def allowed(self, job: JobRequest, candidates: Sequence[Candidate], now: float) -> list[bool]:
        """Which candidates the guard lets the model choose (see the class docstring)."""
        if self.guard < 0 or len(candidates) < 2:
            return [True] * len(candidates)
        starts = [est_start(c, now) for c in candidates]
        limit = min(starts) + self.guard * max(run_seconds(job), MIN_RUN_S)
        return [s <= limit for s in starts]

    def decide(self, job: JobRequest, candidates: Sequence[Candidate], now: float) -> Decision:
        aside = self.status()  # None without a fallback
        if aside is not None and self.fallback is not None:  # (the second test is for mypy)
            d = self.fallback.decide(job, candidates, now)
            return replace(d, reason=f"{d.reason} ({aside})")
        rows, targets = observe(job, candidates, now)
        logp = self.model.log_probs(job_features(job, now), rows, [t is not None for t in targets])
        site_p = [sum(math.exp(v) for v in row) for row in logp]
        ok = self.allowed(job, candidates, now)
        best = max(
            (i for i in range(len(candidates)) if ok[i]),
            key=lambda i: (site_p[i], candidates[i].home, -i),
        )
        c, row, target = candidates[best], logp[best], targets[best]
        hold = target is not None and row[1] > row[0]
        reason = f"learned policy ({self.objective}): p={site_p[best]:.2f}"
        if not all(ok):
            reason += f" (guard: {ok.count(False)} site(s) starting too late left out)"
        if hold and target is not None:
            reason += f", held {(target - now) / 3600:.1f} h for a greener window"
        scores = {  # a site the guard left out scores GUARDED more: the choice has the lowest
            cand.site: -math.log(max(p, 1e-300)) + (0.0 if fine else GUARDED)
            for cand, p, fine in zip(candidates, site_p, ok, strict=True)
        }
        return Decision(
            site=c.site,
            partition=c.partition,
            reason=reason,
            scores=scores,
            not_before=target if hold else None,
        )


def _bounds(path: str, raw: Any) -> dict[str, list[float]] | None:
    """A model's recorded job range, checked (None: the model records none)."""
    if raw is None:
        return None

    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

    ok = isinstance(raw, dict) and bool(raw) and set(raw) <= set(RANGE_FEATURES)
    ok = ok and all(
        isinstance(v, list) and len(v) == 2 and all(map(number, v)) and v[0] <= v[1]
        for v in raw.values()
    )
    if not ok:
        raise HyperionError(
            f"{path}: the model's job_range is damaged (expected {{feature: [min, max]}} "
            f"over {', '.join(RANGE_FEATURES)})",
            hint="retrain the model (`hyperion train`) or restore the file",
        )
    return {str(k): [float(v[0]), float(v[1])] for k, v in raw.items()}
