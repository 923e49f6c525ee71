"""Backtest of forecasters on recorded series: mean absolute error at a horizon.

At every hour ``k`` from the warm-up on (the largest warm-up of the forecasters compared, so all
are scored on the same hours) each forecaster sees ``values[:k]`` and forecasts hours
``k .. k + H - 1``. Reported: the MAE over all those lead times, relative to the series mean,
and the MAE of the last lead time alone (``H`` hours ahead).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from hyperion.carbon.csvfile import read_hourly, zone_of_file
from hyperion.carbon.forecast import Forecaster
from hyperion.carbon.series import CarbonError, Hourly

DATA_ENV = "HYPERION_CARBON_DATA"


@dataclass(frozen=True, slots=True)
class Score:
    """One forecaster on one series."""

    series: str
    forecaster: str
    horizon: int
    issues: int
    mean: float
    mae: float
    mae_rel: float
    mae_at_horizon: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def evaluate(
    series: Hourly, name: str, forecasters: Sequence[Forecaster], horizon: int
) -> list[Score]:
    """Score each forecaster on ``series`` at ``horizon`` hours."""
    if horizon < 1:
        raise CarbonError(f"--horizon must be at least 1 hour, got {horizon}")
    v = series.values
    warmup = max(max(f.warmup_hours for f in forecasters), 1)
    issues = range(warmup, len(v) - horizon + 1)
    if not issues:
        raise CarbonError(
            f"series {name!r} is too short: {len(v)} hours for a warm-up of {warmup} "
            f"and a horizon of {horizon}"
        )
    mean = sum(v) / len(v)
    out = []
    for f in forecasters:
        prepared = f.prepare(series)
        total = 0.0
        last = 0.0
        for k in issues:
            pred = prepared.compute(k, k, horizon)
            total += sum(abs(p - a) for p, a in zip(pred, v[k : k + horizon], strict=True))
            last += abs(pred[-1] - v[k + horizon - 1])
        mae = total / (len(issues) * horizon)
        out.append(
            Score(
                series=name,
                forecaster=f.name,
                horizon=horizon,
                issues=len(issues),
                mean=mean,
                mae=mae,
                mae_rel=mae / mean if mean else float("nan"),
                mae_at_horizon=last / len(issues),
            )
        )
    return out


def data_files(paths: Sequence[str]) -> list[Path]:
    """CSV files from files and folders given, else from ``$HYPERION_CARBON_DATA``."""
    given = list(paths)
    if not given:
        env = os.environ.get(DATA_ENV)
        if not env:
            raise CarbonError(
                "no carbon-intensity data given",
                hint=f"pass --data DIR_OR_FILES or set {DATA_ENV}",
            )
        given = env.split(os.pathsep)
    files: list[Path] = []
    for g in given:
        p = Path(g).expanduser()
        if p.is_dir():
            found = sorted(p.glob("*.csv"))
            if not found:
                raise CarbonError(f"{p}: no *.csv files in this folder")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise CarbonError(f"{p}: no such file or folder", hint="check --data")
    return files


def evaluate_files(
    files: Sequence[Path], forecasters: Sequence[Forecaster], horizon: int
) -> list[Score]:
    """Scores for every file (named after its zone)."""
    scores: list[Score] = []
    for p in files:
        scores.extend(evaluate(read_hourly(p), zone_of_file(p), forecasters, horizon))
    return scores
