"""Before PPO: feature statistics and an imitation warm start, both from earliest-start runs.

:func:`demonstrations` plays episodes of the training environment placing every job where its
estimated start is earliest (ties: home site, then slot order), recording observations and
choices. :func:`normalisation` measures the feature statistics the model stores, and
:func:`imitate` fits the model to the choices (cross-entropy over the masked softmax), so PPO
starts from the best simple heuristic instead of from a random policy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hyperion.rl.env import EnvConfig, PlacementEnv
from hyperion.rl.model import PlacementModel


@dataclass
class Demonstrations:
    """Stacked observations and the expert's actions."""

    job: np.ndarray
    sites: np.ndarray
    mask: np.ndarray
    action: np.ndarray


def demonstrations(config: EnvConfig, seed: int, steps: int) -> Demonstrations:
    """About ``steps`` decisions of earliest-start over as many episodes as that takes."""
    env = PlacementEnv(config)
    rows: dict[str, list[np.ndarray]] = {"job": [], "sites": [], "mask": []}
    actions: list[int] = []
    obs, _ = env.reset(seed=seed)
    while len(actions) < steps:
        slot = {s.name: i for i, s in enumerate(env.sites)}
        best = min(env.candidates, key=lambda c: (c.est_start or 0.0, not c.home))
        for k in rows:
            rows[k].append(obs[k])
        actions.append(slot[best.site])
        obs, _, done, _, _ = env.step(slot[best.site])
        if done:
            obs, _ = env.reset()
    return Demonstrations(
        job=np.stack(rows["job"]),
        sites=np.stack(rows["sites"]),
        mask=np.stack(rows["mask"]),
        action=np.asarray(actions, np.int64),
    )


def normalisation(d: Demonstrations) -> tuple[list[float], list[float], list[float], list[float]]:
    """Mean and standard deviation of job features and of feasible sites' features."""
    feasible = d.sites[d.mask > 0]
    return (
        d.job.mean(0).tolist(),
        d.job.std(0).tolist(),
        feasible.mean(0).tolist(),
        feasible.std(0).tolist(),
    )


def imitate(model: PlacementModel, d: Demonstrations, epochs: int, seed: int) -> float:
    """Fit ``model`` to the demonstrations; returns the share of choices it then agrees with."""
    gen = torch.Generator().manual_seed(seed)
    job, sites = torch.as_tensor(d.job), torch.as_tensor(d.sites)
    mask, action = torch.as_tensor(d.mask), torch.as_tensor(d.action)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = len(action)
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, 256):
            idx = order[start : start + 256]
            loss = torch.nn.functional.cross_entropy(
                model(job[idx], sites[idx], mask[idx]), action[idx]
            )
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
    with torch.no_grad():
        agree = (model(job, sites, mask).argmax(-1) == action).float().mean().item()
    return float(agree)
