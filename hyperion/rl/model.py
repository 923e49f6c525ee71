"""The placement network: one shared scorer over (job, site) pairs, masked softmax over choices.

A plain torch module (no Ray needed to use it). It works for any number of candidate sites: the
same weights score each site from the job's and that site's features (:mod:`.features`), one
score per choice there (``options``: start now, hold until the site's delay target), and a
softmax over the feasible (site, choice) pairs turns the scores into probabilities. Logits are
flat, site-major: choice ``k`` at site slot ``i`` is index ``i * options + k``. Feature
normalisation (mean and standard deviation, measured before training) lives in its buffers, so
it is saved and loaded with the weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

#: the logit of an infeasible site: far below any real score, finite so softmax stays exact
MASKED = -1e9


class PlacementModel(nn.Module):
    """Scores candidate sites for a job; :meth:`forward` gives masked logits."""

    job_mean: torch.Tensor
    job_std: torch.Tensor
    site_mean: torch.Tensor
    site_std: torch.Tensor

    def __init__(self, job_dim: int, site_dim: int, hidden: int = 64, options: int = 2) -> None:
        super().__init__()
        self.job_dim, self.site_dim, self.hidden = job_dim, site_dim, hidden
        self.options = options
        self.register_buffer("job_mean", torch.zeros(job_dim))
        self.register_buffer("job_std", torch.ones(job_dim))
        self.register_buffer("site_mean", torch.zeros(site_dim))
        self.register_buffer("site_std", torch.ones(site_dim))
        self.encoder = nn.Sequential(
            nn.Linear(job_dim + site_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh()
        )
        self.head = nn.Linear(hidden, options)

    def set_normalisation(
        self,
        job_mean: Sequence[float],
        job_std: Sequence[float],
        site_mean: Sequence[float],
        site_std: Sequence[float],
    ) -> None:
        """Store feature statistics (standard deviations below 1e-3 count as 1)."""
        for name, values in (
            ("job_mean", job_mean),
            ("job_std", job_std),
            ("site_mean", site_mean),
            ("site_std", site_std),
        ):
            t = torch.as_tensor(list(values), dtype=torch.float32)
            if name.endswith("std"):
                t = torch.where(t < 1e-3, torch.ones_like(t), t)
            getattr(self, name).copy_(t)

    def embed(self, job: torch.Tensor, sites: torch.Tensor) -> torch.Tensor:
        """Hidden vectors ``(B, N, hidden)`` of ``job (B, J)`` with each of ``sites (B, N, S)``."""
        j = (job - self.job_mean) / self.job_std
        s = (sites - self.site_mean) / self.site_std
        pairs = torch.cat([j.unsqueeze(1).expand(-1, s.shape[1], -1), s], dim=-1)
        out: torch.Tensor = self.encoder(pairs)
        return out

    def logits(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Flat logits ``(B, N * options)`` from :meth:`embed`'s output and ``mask
        (B, N, options)``; infeasible choices get :data:`MASKED`."""
        scores: torch.Tensor = self.head(hidden)
        return scores.masked_fill(mask <= 0, MASKED).flatten(1)

    def forward(self, job: torch.Tensor, sites: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.logits(self.embed(job, sites), mask)

    @torch.no_grad()
    def log_probs(
        self,
        job: Sequence[float],
        sites: Sequence[Sequence[float]],
        delays: Sequence[bool] | None = None,
    ) -> list[list[float]]:
        """Log probabilities per site and choice for one decision: every site can start the job
        now; the other choices only where ``delays`` says (default: nowhere)."""
        j = torch.tensor([list(job)], dtype=torch.float32)
        s = torch.tensor([[list(r) for r in sites]], dtype=torch.float32)
        mask = torch.zeros(1, len(sites), self.options)
        mask[0, :, 0] = 1.0
        if delays is not None:
            mask[0, :, 1:] = torch.tensor([float(d) for d in delays]).unsqueeze(-1)
        out = torch.log_softmax(self.forward(j, s, mask), dim=-1).view(len(sites), self.options)
        values: list[list[float]] = out.tolist()
        return values
