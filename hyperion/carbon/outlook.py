"""The forecast a placement uses: the provider's own when it has one, else a forecaster's.

:func:`outlook` asks the provider for its forecast; when there is none (CSV, or a provider with
no forecast for the zone, or a stale empty one) it forecasts from the provider's history of the
last ``history_days`` days with the given forecaster.
"""

from __future__ import annotations

from dataclasses import dataclass

from hyperion.carbon.forecast import Forecaster
from hyperion.carbon.providers import CarbonProvider
from hyperion.carbon.series import HOUR, hourly_from_points


@dataclass(frozen=True, slots=True)
class Outlook:
    """``values[h]`` is the intensity expected in hour ``start + h``; ``source`` says whence."""

    zone: str
    start: float
    values: tuple[float, ...]
    source: str
    stale: bool = False
    error: str | None = None


def outlook(
    provider: CarbonProvider,
    zone: str,
    now: float,
    horizon: int,
    forecaster: Forecaster,
    *,
    history_days: int = 8,
) -> Outlook | None:
    """``horizon`` hourly values from the hour of ``now``; None when nothing is known at all."""
    hour = now - now % HOUR
    published = provider.forecast(zone, now)
    if published is not None and published.points:
        by_hour = {p.time: p.value for p in published.points}
        if hour in by_hour:
            values: list[float] = []
            last = by_hour[hour]
            for h in range(horizon):
                last = by_hour.get(hour + h * HOUR, last)  # past its end: the last value
                values.append(last)
            return Outlook(
                zone, hour, tuple(values), provider.name, published.stale, published.error
            )
    hist = provider.history(zone, hour - history_days * 24 * HOUR, hour)
    if not hist.points:
        return None
    series = hourly_from_points(hist.points, name=zone)
    values_t = forecaster.forecast(series, now, horizon)
    return Outlook(
        zone, hour, values_t, f"{provider.name}+{forecaster.name}", hist.stale, hist.error
    )
