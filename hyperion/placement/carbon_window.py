"""A job's carbon window: its estimated run, its latest start, and the forecast over it.

Shared by the ``carbon-aware`` heuristic and the learned policy's features and delays.
:class:`ForecastCurve` makes a candidate's ``carbon_forecast`` (evenly spaced ``(start,
gCO2/kWh)`` points: hourly in the simulator, closer when a replayed series runs faster than
wall time) a step function with O(1) means; before its first point it holds the first value,
past its last it repeats its last 24 points (a daily cycle).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate

from hyperion.placement.policy import Candidate
from hyperion.types import JobRequest

HOUR = 3600.0


def run_seconds(job: JobRequest) -> float:
    """The job's estimated run: its time limit, else an hour."""
    return float(job.time_limit_s) if job.time_limit_s else HOUR


def latest_start(job: JobRequest, now: float) -> float | None:
    """The latest start the job's flexibility allows: now + ``carbon_flex_s``, its deadline
    minus its run (the earlier of the two); None for a job without flexibility."""
    limits = []
    if job.carbon_flex_s:
        limits.append(now + job.carbon_flex_s)
    if job.deadline is not None:
        limits.append(job.deadline - run_seconds(job))
    return min(limits) if limits else None


class ForecastCurve:
    """Forecast points as a step function with O(1) means (see the module docstring)."""

    __slots__ = ("t0", "step", "vals", "cum", "tail", "tail_cum")

    def __init__(self, points: Sequence[tuple[float, float]]) -> None:
        self.t0 = points[0][0]
        gap = points[1][0] - points[0][0] if len(points) > 1 else HOUR
        self.step = gap if gap > 0 else HOUR
        self.vals = [float(v) for _, v in points]
        self.cum = [0.0, *accumulate(self.vals)]
        self.tail = self.vals[-24:]
        self.tail_cum = [0.0, *accumulate(self.tail)]

    def _area(self, steps: float) -> float:
        """Integral from ``t0`` over ``steps`` point spacings (>= 0), in value x steps."""
        n = len(self.vals)
        if steps < n:
            i = int(steps)
            return self.cum[i] + (steps - i) * self.vals[i]
        cycles, rest = divmod(steps - n, len(self.tail))
        i = int(rest)
        return (
            self.cum[n]
            + cycles * self.tail_cum[-1]
            + self.tail_cum[i]
            + (rest - i) * self.tail[min(i, len(self.tail) - 1)]
        )

    def mean(self, start: float, seconds: float) -> float:
        """Mean value over ``[start, start + seconds]``."""
        a = max(start - self.t0, 0.0) / self.step
        b = a + max(seconds, 1.0) / self.step
        return (self._area(b) - self._area(a)) / (b - a)


_CACHE: dict[int, tuple[tuple[tuple[float, float], ...], ForecastCurve]] = {}


def forecast_curve(c: Candidate) -> ForecastCurve | None:
    """The candidate's forecast as a :class:`ForecastCurve` (cached per forecast tuple: the
    simulator and the daemon hand the same tuple to every job of an hour), or None."""
    fc = c.carbon_forecast
    if not fc:
        return None
    hit = _CACHE.get(id(fc))
    if hit is not None and hit[0] is fc:
        return hit[1]
    if len(_CACHE) > 256:
        _CACHE.clear()
    made = ForecastCurve(fc)
    _CACHE[id(fc)] = (fc, made)
    return made
