"""Carbon-intensity forecasts for the simulator's time-shifting policies.

The simulator uses the forecasters of the live system (:mod:`hyperion.carbon.forecast`, by the
names :func:`~hyperion.carbon.forecast.make_forecaster` knows: ``daily-profile-blend`` by
default, ``daily-profile[:DAYS]``, ``same-hour-yesterday``, ``persistence``), which see only the
hours that have ended, plus ``oracle``: the real future series, not a forecaster but an upper
bound on what forecasting can give (reported separately).

:class:`CarbonForecasts` turns a site's :class:`~hyperion.sim.carbon.CarbonSeries` into the
``Candidate.carbon_forecast`` points, computed once per site and hour: the current hour's
value (known, as a provider's ``latest`` is) followed by the forecast of the hours after it.
Before the series' first full hour there is no history: the current value stands for every
hour (the history never wraps around to the end of the series, which would be the future);
once the simulation has run past the series' end (it wraps around), each lap is forecast
from its own earlier hours.
"""

from __future__ import annotations

from typing import Any

from hyperion.errors import HyperionError
from hyperion.sim.carbon import HOUR, CarbonSeries

#: the name of the perfect forecast (the real series), handled by :class:`CarbonForecasts`
ORACLE = "oracle"
#: the forecaster the simulator uses unless told otherwise (best mean error on the 2023 series)
DEFAULT_FORECAST = "daily-profile-blend"


class CarbonForecasts:
    """Hourly forecast points per site, computed once per site and hour.

    ``method`` is ``oracle`` or a forecaster name of :mod:`hyperion.carbon.forecast`;
    ``horizon_h`` hours are forecast after the current one.
    """

    def __init__(self, method: str = DEFAULT_FORECAST, *, horizon_h: int = 48) -> None:
        if horizon_h < 1:
            raise HyperionError(f"carbon forecast: horizon must be >= 1 hour (got {horizon_h})")
        self.name = method
        self.horizon_h = horizon_h
        self.live: Any = None if method == ORACLE else _live_forecaster(method)
        self._prepared: dict[int, Any] = {}
        self._last: dict[int, tuple[int, tuple[tuple[float, float], ...]]] = {}

    def reset(self) -> None:
        """Forget the cached forecasts (a new run)."""
        self._last.clear()

    def _ahead(self, series: CarbonSeries, k: int) -> list[float]:
        """The forecast of hours k + 1 .. k + horizon, made from the hours before k."""
        vals = series.values
        if self.live is None:  # the oracle
            return [vals[(k + h) % len(vals)] for h in range(1, self.horizon_h + 1)]
        k %= len(vals)  # the series wraps around: forecast from its own past in this lap
        if k < 1:
            return [vals[k]] * self.horizon_h
        prep = self._prepared.get(id(series))
        if prep is None:
            from hyperion.carbon.series import Hourly

            prep = self._prepared[id(series)] = self.live.prepare(
                Hourly(-series.offset, tuple(vals))
            )
        return list(prep.at(k * HOUR - series.offset, self.horizon_h + 1)[1:])

    def points(self, series: CarbonSeries, now: float) -> tuple[tuple[float, float], ...]:
        """``(hour start, intensity)`` from the current hour on, ``1 + horizon_h`` points."""
        k = int((now + series.offset) // HOUR)
        hit = self._last.get(id(series))
        if hit is not None and hit[0] == k:
            return hit[1]
        future = [series.values[k % len(series.values)], *self._ahead(series, k)]
        t0 = k * HOUR - series.offset
        pts = tuple((t0 + h * HOUR, float(v)) for h, v in enumerate(future))
        self._last[id(series)] = (k, pts)
        return pts


def _live_forecaster(name: str) -> Any:
    """A forecaster of :mod:`hyperion.carbon.forecast` by name; a clear error if unknown."""
    from hyperion.carbon.forecast import make_forecaster

    try:
        return make_forecaster(name)
    except HyperionError:
        raise HyperionError(
            f"unknown carbon forecast {name!r}",
            hint=f"use {ORACLE}, persistence, same-hour-yesterday, daily-profile[:DAYS] or "
            "daily-profile-blend[:DAYS[:TAU_HOURS]]",
        ) from None
