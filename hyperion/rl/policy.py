"""``rl:PATH``: a trained model (:mod:`.artifact`) as a placement :class:`Policy`."""

from __future__ import annotations

import math
from collections.abc import Sequence

from hyperion.placement.policy import Candidate, Decision, Policy
from hyperion.rl.artifact import load
from hyperion.rl.features import job_features, observe
from hyperion.rl.model import PlacementModel
from hyperion.rl.objective import Objective
from hyperion.types import JobRequest


class LearnedPolicy(Policy):
    """The site the model likes best, then its best choice there: start now, or hold the job
    until the site's delay target (``Decision.not_before``; only for flexible jobs, within their
    flexibility). ``Decision.scores`` are the per-site scores as -log(probability of the site,
    any choice) (lower is better, as for every policy)."""

    needs_start_estimate = True
    needs_forecast = True
    reads_carbon = True  # its features include the intensities

    def __init__(self, path: str) -> None:
        self.model, self.meta = load(path)
        self.name = f"rl:{path}"
        self.objective = Objective(**self.meta["objective"])

    @classmethod
    def from_model(
        cls, model: PlacementModel, objective: Objective, name: str = "rl:(training)"
    ) -> LearnedPolicy:
        """A policy over an in-memory model (training's checkpoint selection), no file."""
        self = cls.__new__(cls)
        self.model, self.meta, self.name, self.objective = model, {}, name, objective
        return self

    def decide(self, job: JobRequest, candidates: Sequence[Candidate], now: float) -> Decision:
        rows, targets = observe(job, candidates, now)
        logp = self.model.log_probs(job_features(job, now), rows, [t is not None for t in targets])
        site_p = [sum(math.exp(v) for v in row) for row in logp]
        best = max(range(len(candidates)), key=lambda i: (site_p[i], candidates[i].home, -i))
        c, row, target = candidates[best], logp[best], targets[best]
        hold = target is not None and row[1] > row[0]
        reason = f"learned policy ({self.objective}): p={site_p[best]:.2f}"
        if hold and target is not None:
            reason += f", held {(target - now) / 3600:.1f} h for a greener window"
        scores = {
            cand.site: -math.log(max(p, 1e-300)) for cand, p in zip(candidates, site_p, strict=True)
        }
        return Decision(
            site=c.site,
            partition=c.partition,
            reason=reason,
            scores=scores,
            not_before=target if hold else None,
        )
