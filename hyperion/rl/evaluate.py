"""Evaluate policies on one held-out scenario: simulator metrics plus the training objective."""

from __future__ import annotations

import math
from typing import Any

from hyperion.placement.policy import Policy
from hyperion.rl.env import EnvConfig
from hyperion.rl.objective import Objective
from hyperion.sim.engine import Engine


def evaluate(config: EnvConfig, policies: list[Policy], seed: int) -> list[dict[str, Any]]:
    """One row per policy: workload, policy, seed, the mean per-job objective and metrics."""
    objective = Objective.parse(config.objective)
    rows = []
    for policy in policies:
        sc = config.scenario(seed)
        engine = Engine(sc.sites, policy)
        m = engine.run(sc.jobs)
        ran = [j for j in sc.jobs if j.start >= 0]
        value = 0.0
        for j in ran:
            value += objective.final(j, engine.by_name[str(j.site)])
        rows.append(
            {
                "workload": sc.label,
                "policy": policy.name,
                "seed": seed,
                "objective": value / len(ran) if ran else math.nan,
                "mean_wait": m.mean_wait,
                "mean_bsld": m.mean_bsld,
                "cost": m.cost,
                "carbon_kg": m.carbon_kg,
                "jobs": m.jobs,
            }
        )
    return rows
