"""Carbon-intensity forecasts for the simulator's time-shifting policies.

A *forecaster* is a function ``(history, horizon) -> values``: ``history`` holds the hourly
intensities observed up to and including the current hour (oldest first, never anything later)
and it returns the ``horizon`` values of the hours after the current one. That is all a
forecaster sees, so it cannot peek at the future; :data:`FORECASTERS` names the built-in ones
(``hyperion sim --forecast NAME``):

* ``profile`` (the default): the mean of the same hour of the last ``days`` (3) days, shifted
  by how far the current hour sits from its own profile value (the shift fading over 6 hours);
  persistence until a day of history exists;
* ``persistence``: the current value for every hour;
* ``oracle``: the real future series (not a forecaster: an upper bound on what forecasting can
  give, reported separately);
* any name :func:`hyperion.carbon.forecast.make_forecaster` knows (``daily-profile:7``,
  ``daily-profile-blend``, ``same-hour-yesterday``, ...): the forecasters of the live carbon
  providers, which see only the hours that have ended (not the current one).

:class:`CarbonForecasts` turns a site's :class:`~hyperion.sim.carbon.CarbonSeries` into the
``Candidate.carbon_forecast`` points, computed once per site and hour. History stops at the
series' first hour (it does not wrap around to the end of the year, which would be the future).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from hyperion.errors import HyperionError
from hyperion.sim.carbon import HOUR, CarbonSeries

#: ``(history, horizon) -> the next horizon hourly values`` (see the module docstring)
Forecaster = Callable[[Sequence[float], int], Sequence[float]]

#: the name of the perfect forecast (the real series), handled by :class:`CarbonForecasts`
ORACLE = "oracle"


def persistence(history: Sequence[float], horizon: int) -> list[float]:
    """Every future hour at the last observed value."""
    return [history[-1]] * horizon


def daily_profile(history: Sequence[float], horizon: int, days: int = 3) -> list[float]:
    """Mean of the same hour over the last ``days`` days, level-corrected (module docstring)."""
    n = len(history)
    if n < 25:
        return persistence(history, horizon)

    def same_hour(idx: int) -> float:
        """Mean of the values whole days before history index ``idx`` (at most ``days``)."""
        first = idx - 24 * -(-(idx - n + 1) // 24) if idx >= n else idx - 24
        vals = [history[first - 24 * d] for d in range(days) if first - 24 * d >= 0]
        return sum(vals) / len(vals)

    gap = history[-1] - same_hour(n - 1)
    return [
        max(same_hour(n - 1 + h) + gap * math.exp(-h / 6.0), 0.0) for h in range(1, horizon + 1)
    ]


#: built-in forecasters by name (``oracle`` is handled by :class:`CarbonForecasts`)
FORECASTERS: dict[str, Forecaster] = {
    "profile": daily_profile,
    "persistence": persistence,
}


def forecast_names() -> list[str]:
    """Every valid ``--forecast`` name."""
    return [*FORECASTERS, ORACLE]


class CarbonForecasts:
    """Hourly forecast points per site, computed once per site and hour.

    ``method`` is a name from :func:`forecast_names` or a :data:`Forecaster`; ``horizon_h``
    hours are forecast after the current one from the last ``history_h`` hours.
    """

    def __init__(
        self, method: str | Forecaster = "profile", *, horizon_h: int = 48, history_h: int = 168
    ) -> None:
        self.live: Any = None  # a hyperion.carbon.forecast.Forecaster
        self._prepared: dict[int, Any] = {}
        if isinstance(method, str):
            self.name = method
            self.fn = FORECASTERS.get(method)
            if self.fn is None and method != ORACLE:
                self.live = _live_forecaster(method)
        else:
            self.name = getattr(method, "__name__", "custom")
            self.fn = method
        if horizon_h < 1 or history_h < 1:
            raise HyperionError(
                f"carbon forecast: horizon and history must be >= 1 hour "
                f"(got {horizon_h} and {history_h})"
            )
        self.horizon_h = horizon_h
        self.history_h = history_h
        self._last: dict[int, tuple[int, tuple[tuple[float, float], ...]]] = {}

    def reset(self) -> None:
        """Forget the cached forecasts (a new run)."""
        self._last.clear()

    def _live(self, series: CarbonSeries, k: int) -> list[float]:
        """The live forecaster's values for hours k .. k + horizon (current value at k)."""
        prep = self._prepared.get(id(series))
        if prep is None:
            from hyperion.carbon.series import Hourly

            prep = self.live.prepare(Hourly(-series.offset, tuple(series.values)))
            self._prepared[id(series)] = prep
        n = len(series.values)
        if k < 1:
            return [series.values[k % n]] * (self.horizon_h + 1)
        ahead = prep.at(k * HOUR - series.offset, self.horizon_h + 1)
        return [series.values[k % n], *ahead[1:]]

    def points(self, series: CarbonSeries, now: float) -> tuple[tuple[float, float], ...]:
        """``(hour start, intensity)`` from the current hour on, ``1 + horizon_h`` points."""
        k = int((now + series.offset) // HOUR)
        hit = self._last.get(id(series))
        if hit is not None and hit[0] == k:
            return hit[1]
        vals = series.values
        n = len(vals)
        if self.live is not None:
            future = self._live(series, k)
        elif self.fn is None:
            future = [vals[(k + h) % n] for h in range(self.horizon_h + 1)]
        else:
            history = [vals[j % n] for j in range(max(0, k - self.history_h + 1), k + 1)]
            ahead = list(self.fn(history, self.horizon_h))
            if len(ahead) < self.horizon_h:
                raise HyperionError(
                    f"carbon forecast {self.name!r} returned {len(ahead)} values, "
                    f"expected {self.horizon_h}"
                )
            future = [vals[k % n], *ahead[: self.horizon_h]]
        t0 = k * HOUR - series.offset
        pts = tuple((t0 + h * HOUR, float(v)) for h, v in enumerate(future))
        self._last[id(series)] = (k, pts)
        return pts


def _live_forecaster(name: str) -> Any:
    """A forecaster of :mod:`hyperion.carbon.forecast` by name; a clear error if unknown."""
    try:
        from hyperion.carbon.forecast import make_forecaster

        return make_forecaster(name)
    except (ImportError, HyperionError):
        pass
    raise HyperionError(
        f"unknown carbon forecast {name!r}",
        hint=f"valid forecasts: {', '.join(forecast_names())} or a hyperion.carbon forecaster "
        "(daily-profile[:DAYS], daily-profile-blend[:DAYS[:TAU]], same-hour-yesterday)",
    )
