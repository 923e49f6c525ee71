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
        engine = Engine(sc.sites, policy, forecast=config.forecast)
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
                "held": m.held,
                "jobs": m.jobs,
            }
        )
    return rows


def summarise(rows: list[dict[str, Any]], baseline: str = "earliest-start") -> list[dict[str, Any]]:
    """One row per policy over all seeds of :func:`evaluate`'s rows: the means of the objective,
    the bounded slowdown and the carbon, and against ``baseline`` on the same (workload, seed):
    the geometric mean of the ratios of the objective (``nan`` where a ratio is undefined), the
    number of strict wins, and the ratios of the summed carbon and bounded slowdown.

    Per-seed results of this simulator are heavy-tailed (one policy can be 3x better on one seed
    and 3x worse on the next), so a handful of seeds says little; the ratio and win count are
    paired by seed, which removes the workload's own difficulty.
    """
    base = {(r["workload"], r["seed"]): r["objective"] for r in rows if r["policy"] == baseline}
    out = []
    for name in dict.fromkeys(r["policy"] for r in rows):
        mine = [r for r in rows if r["policy"] == name]
        paired = [
            (r["objective"], base[r["workload"], r["seed"]])
            for r in mine
            if (r["workload"], r["seed"]) in base
        ]
        logs = [math.log(a / b) for a, b in paired if a > 0 and b > 0]
        out.append(
            {
                "policy": name,
                "seeds": len(mine),
                "objective": sum(r["objective"] for r in mine) / len(mine),
                "ratio": math.exp(sum(logs) / len(logs))
                if logs and len(logs) == len(paired)
                else math.nan,
                "wins": sum(a < b for a, b in paired),
                "mean_bsld": _mean(mine, "mean_bsld"),
                "carbon_kg": _mean(mine, "carbon_kg"),
                "bsld_ratio": _sum_ratio(mine, rows, baseline, "mean_bsld"),
                "carbon_ratio": _sum_ratio(mine, rows, baseline, "carbon_kg"),
            }
        )
    return out


def _mean(rows: list[dict[str, Any]], key: str) -> float:
    vals = [float(r[key]) for r in rows if key in r]
    return sum(vals) / len(vals) if vals else math.nan


def _sum_ratio(
    mine: list[dict[str, Any]], rows: list[dict[str, Any]], baseline: str, key: str
) -> float:
    """Sum of ``key`` over ``mine`` over the baseline's sum on the same (workload, seed)s."""
    base = {(r["workload"], r["seed"]): r for r in rows if r["policy"] == baseline}
    pairs = [(r, base.get((r["workload"], r["seed"]))) for r in mine]
    if not pairs or any(b is None or key not in a or key not in b for a, b in pairs):
        return math.nan
    total = sum(float(b[key]) for _, b in pairs if b is not None)
    return sum(float(a[key]) for a, _ in pairs) / total if total > 0 else math.nan
