"""Carbon over a job's run, and the greenest start its flexibility allows (pure Python).

The learned policy's carbon features and its delay action (:mod:`.features`, :mod:`.policy`)
read :attr:`Candidate.carbon_forecast` through the ``carbon-aware`` heuristic's own curve and
flexibility window (:mod:`hyperion.placement.carbon_window`).

The delay target of a candidate (:func:`greenest_start`) is the hour boundary after the job's
estimated start there, and no later than its latest start (:func:`latest_start`: now + its
``carbon_flex_s``, its deadline minus its run), whose forecast mean over the run is lowest;
there is none for a job without flexibility or a site without a forecast.
"""

from __future__ import annotations

import math

from hyperion.placement.carbon_window import (
    forecast_curve,
    run_seconds,
)
from hyperion.placement.policy import Candidate
from hyperion.types import JobRequest

#: the shortest run a delay is measured against (the bounded-slowdown threshold)
MIN_RUN_S = 10.0
#: hour boundaries a delay target is searched over at most (two weeks)
MAX_HOURS = 336


def est_start(c: Candidate, now: float) -> float:
    """The candidate's estimated start, never before ``now`` (unknown: now)."""
    return max(c.est_start if c.est_start is not None else now, now)


def run_mean(c: Candidate, start: float, seconds: float) -> float | None:
    """Forecast mean intensity (g/kWh) over a run; without a forecast the current intensity."""
    f = forecast_curve(c)
    if f is not None:
        return f.mean(start, seconds)
    return c.carbon_g_per_kwh


def greenest_start(
    job: JobRequest, c: Candidate, now: float, latest: float | None
) -> tuple[float, float] | None:
    """``(start, mean g/kWh)`` of the greenest hour boundary after the estimated start on ``c``
    and at most ``latest`` (:func:`latest_start`); None without flexibility, forecast or hour."""
    f = forecast_curve(c)
    if latest is None or f is None:
        return None
    first, run = est_start(c, now), run_seconds(job)
    t = f.t0 + (math.floor((first - f.t0) / f.step) + 1) * f.step
    best: tuple[float, float] | None = None
    for _ in range(MAX_HOURS):
        if t > latest:
            break
        m = f.mean(t, run)
        if best is None or m < best[1]:
            best = (t, m)
        t += f.step
    return best
