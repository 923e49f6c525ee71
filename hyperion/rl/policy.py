"""``rl:PATH``: a trained model (:mod:`.artifact`) as a placement :class:`Policy`."""

from __future__ import annotations

import math
from collections.abc import Sequence

from hyperion.placement.carbon_window import run_seconds
from hyperion.placement.policy import Candidate, Decision, Policy
from hyperion.rl.artifact import load
from hyperion.rl.features import job_features, observe
from hyperion.rl.model import PlacementModel
from hyperion.rl.objective import Objective
from hyperion.rl.windows import MIN_RUN_S, est_start
from hyperion.types import JobRequest

#: the guard's default slack, in job lengths (chosen on validation seeds, docs/rl.md)
GUARD_SLACK = 32.0
#: added to the score of a site the guard left out
GUARDED = 1000.0


class LearnedPolicy(Policy):
    """The site the model likes best, then its best choice there: start now, or hold the job
    until the site's delay target (``Decision.not_before``; only for flexible jobs, within their
    flexibility). ``Decision.scores`` are the per-site scores as -log(probability of the site,
    any choice) (lower is better, as for every policy).

    A guard keeps the model among the sites whose estimated start is at most ``guard`` job
    lengths (time limit, at least 10 s) after the earliest one: what the model never saw in
    training cannot send a job to a queue hours longer than another site's (``guard=0``: only
    the earliest sites; a negative guard: no guard).
    """

    needs_start_estimate = True
    needs_forecast = True
    reads_carbon = True  # its features include the intensities

    def __init__(self, path: str, guard: float = GUARD_SLACK) -> None:
        self.model, self.meta = load(path)
        self.name = f"rl:{path}"
        self.objective = Objective(**self.meta["objective"])
        self.guard = float(guard)

    @classmethod
    def from_model(
        cls, model: PlacementModel, objective: Objective, name: str = "rl:(training)"
    ) -> LearnedPolicy:
        """A policy over an in-memory model (training's checkpoint selection), no file."""
        self = cls.__new__(cls)
        self.model, self.meta, self.name, self.objective = model, {}, name, objective
        self.guard = GUARD_SLACK
        return self

    def allowed(self, job: JobRequest, candidates: Sequence[Candidate], now: float) -> list[bool]:
        """Which candidates the guard lets the model choose (see the class docstring)."""
        if self.guard < 0 or len(candidates) < 2:
            return [True] * len(candidates)
        starts = [est_start(c, now) for c in candidates]
        limit = min(starts) + self.guard * max(run_seconds(job), MIN_RUN_S)
        return [s <= limit for s in starts]

    def decide(self, job: JobRequest, candidates: Sequence[Candidate], now: float) -> Decision:
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
