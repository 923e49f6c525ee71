"""summarise: per-policy means and paired comparison with the baseline over seeds."""

from __future__ import annotations

import math
from typing import Any

import pytest

from hyperion.rl.evaluate import summarise


def _row(policy: str, seed: int, value: float) -> dict[str, Any]:
    return {"workload": "w", "policy": policy, "seed": seed, "objective": value}


def test_summarise_pairs_by_seed() -> None:
    rows = [
        _row("rl:m", 1, 50.0),
        _row("earliest-start", 1, 100.0),
        _row("rl:m", 2, 40.0),
        _row("earliest-start", 2, 20.0),
    ]
    rl, es = summarise(rows)
    assert (rl["policy"], rl["seeds"], rl["wins"]) == ("rl:m", 2, 1)
    assert rl["objective"] == pytest.approx(45.0)
    assert rl["ratio"] == pytest.approx(1.0)  # 0.5 and 2.0
    assert (es["ratio"], es["wins"], es["objective"]) == (pytest.approx(1.0), 0, 60.0)


def test_summarise_without_baseline_or_with_zero() -> None:
    (only,) = summarise([_row("least-loaded", 1, 3.0)])
    assert math.isnan(only["ratio"]) and only["wins"] == 0
    rl, _ = summarise([_row("rl:m", 1, 0.0), _row("earliest-start", 1, 2.0)])
    assert math.isnan(rl["ratio"]) and rl["wins"] == 1
