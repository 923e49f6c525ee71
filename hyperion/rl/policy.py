"""``rl:PATH``: a trained model (:mod:`.artifact`) as a placement :class:`Policy`."""

from __future__ import annotations

import math
from collections.abc import Sequence

from hyperion.placement.policy import Candidate, Decision, Policy
from hyperion.rl.artifact import load
from hyperion.rl.features import job_features, site_features
from hyperion.rl.model import PlacementModel
from hyperion.rl.objective import Objective
from hyperion.types import JobRequest


class LearnedPolicy(Policy):
    """The site the model likes best. ``Decision.scores`` are the model's per-site scores as
    -log(probability) (lower is better, as for every policy)."""

    needs_start_estimate = True

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
        logp = self.model.log_probs(job_features(job, now), site_features(job, candidates, now))
        best = max(range(len(candidates)), key=lambda i: (logp[i], candidates[i].home, -i))
        c = candidates[best]
        return Decision(
            site=c.site,
            partition=c.partition,
            reason=f"learned policy ({self.objective}): p={math.exp(logp[best]):.2f}",
            scores={cand.site: -v for cand, v in zip(candidates, logp, strict=True)},
        )
