"""Before PPO: feature statistics and an imitation warm start, both from a heuristic's runs.

:func:`demonstrations` plays episodes of the training environment with an expert heuristic
(``earliest-start`` by default, or e.g. ``carbon-aware``) deciding every step, recording
observations and its choices as actions: its site, and the delay choice there when it held the
job (``Decision.not_before`` after now) and the site offers one (the environment then holds the
job until its own delay target, the greenest hour in the flexibility, which may differ from the
expert's hour). :func:`normalisation` measures the feature statistics the model stores, and
:func:`imitate` fits the model to the choices (cross-entropy over the masked softmax), so PPO
starts from a good simple heuristic instead of from a random policy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hyperion.errors import HyperionError
from hyperion.placement.heuristics import get_policy
from hyperion.placement.policy import Decision
from hyperion.rl.env import EnvConfig, PlacementEnv
from hyperion.rl.features import OPTIONS
from hyperion.rl.model import PlacementModel


@dataclass
class Demonstrations:
    """Stacked observations and the expert's actions."""

    job: np.ndarray
    sites: np.ndarray
    mask: np.ndarray
    action: np.ndarray


def action_of(env: PlacementEnv, decision: Decision, mask: np.ndarray) -> int:
    """The environment's action for a heuristic's decision (see the module docstring)."""
    slot = env.slot_of(decision.site)
    held = decision.not_before is not None and decision.not_before > env.now
    return slot * OPTIONS + (1 if held and mask[slot, 1] > 0 else 0)


def demonstrations(
    config: EnvConfig,
    seed: int,
    steps: int,
    expert: str = "earliest-start",
    learner: PlacementModel | None = None,
) -> Demonstrations:
    """``steps`` decisions of the ``expert`` heuristic (a name of
    :data:`~hyperion.placement.heuristics.POLICIES`) over as many episodes as that takes.

    With a ``learner`` (DAgger), the learner's choices drive the episodes and the expert only
    labels the states the learner reaches: the states where its own mistakes have led it."""
    if expert.startswith("rl:"):
        raise HyperionError(f"cannot imitate {expert!r}", hint="imitate a heuristic")
    policy = get_policy(expert)
    env = PlacementEnv(config)
    rows: dict[str, list[np.ndarray]] = {"job": [], "sites": [], "mask": []}
    actions: list[int] = []
    obs, _ = env.reset(seed=seed)
    while len(actions) < steps:
        assert env.request is not None
        decision = policy.decide(env.request, env.candidates, env.now)
        for k in rows:
            rows[k].append(obs[k])
        actions.append(action_of(env, decision, obs["mask"]))
        taken = actions[-1] if learner is None else _greedy(learner, obs)
        obs, _, done, _, _ = env.step(taken)
        if done:
            obs, _ = env.reset()
            policy = get_policy(expert)  # a fresh one per episode: carbon-aware books holds
    return Demonstrations(
        job=np.stack(rows["job"]),
        sites=np.stack(rows["sites"]),
        mask=np.stack(rows["mask"]),
        action=np.asarray(actions, np.int64),
    )


def _greedy(model: PlacementModel, obs: dict[str, np.ndarray]) -> int:
    """The model's most probable action for one observation."""
    with torch.no_grad():
        logits = model(
            torch.as_tensor(obs["job"])[None],
            torch.as_tensor(obs["sites"])[None],
            torch.as_tensor(obs["mask"])[None],
        )
    return int(logits.argmax(-1).item())


def merge(a: Demonstrations, b: Demonstrations) -> Demonstrations:
    """Both sets of demonstrations, stacked."""
    return Demonstrations(
        job=np.concatenate([a.job, b.job]),
        sites=np.concatenate([a.sites, b.sites]),
        mask=np.concatenate([a.mask, b.mask]),
        action=np.concatenate([a.action, b.action]),
    )


def normalisation(d: Demonstrations) -> tuple[list[float], list[float], list[float], list[float]]:
    """Mean and standard deviation of job features and of feasible sites' features."""
    feasible = d.sites[d.mask[..., 0] > 0]
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
