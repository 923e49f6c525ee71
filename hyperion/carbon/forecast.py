"""Forecasters for zones whose provider publishes no forecast.

A forecaster sees only the values of hours that have ended before ``now``: value ``i`` of an
:class:`~hyperion.carbon.series.Hourly` series covers ``[start + i h, start + (i + 1) h)`` and is
known at ``now`` when ``start + (i + 1) h <= now``. It returns ``horizon`` hourly values from the
hour that contains ``now`` on. :meth:`Forecaster.prepare` binds a forecaster to one series and
precomputes what it needs (O(n) once), so each later call costs O(horizon) and repeated calls
for the same hour are memoised: what the simulator needs when many jobs ask.

Names (:func:`make_forecaster`): ``persistence`` (last value repeated), ``same-hour-yesterday``
(the value 24 h before each target hour), ``daily-profile[:DAYS]`` (mean of the same hour of day
over the last DAYS days, default 7) and ``daily-profile-blend[:DAYS[:TAU]]`` (a DAYS-day
profile, default 3, plus the current deviation from it, fading with lead time: e-folding TAU
hours, default 12; these two defaults come from a small sweep on the 2023 series, see
``docs/carbon.md``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from math import fsum

from hyperion.carbon.series import HOUR, CarbonError, Hourly

DAY = 24
_MEMO_MAX = 4096


class PreparedForecast(ABC):
    """A forecaster bound to one series."""

    def __init__(self, series: Hourly) -> None:
        self.series = series
        self.values: Sequence[float] = series.values
        self._memo: dict[tuple[int, int, int], tuple[float, ...]] = {}

    @abstractmethod
    def compute(self, known: int, first: int, horizon: int) -> list[float]:
        """Values for indices ``first .. first + horizon - 1`` from ``values[:known]`` only."""

    def at(self, now: float, horizon: int) -> tuple[float, ...]:
        """``horizon`` hourly values from the hour containing ``now`` (epoch seconds) on."""
        if horizon < 1:
            raise CarbonError(f"forecast horizon must be at least 1 hour, got {horizon}")
        first = int((now - self.series.start) // HOUR)
        known = min(first, len(self.values))
        if known <= 0:
            raise CarbonError(
                "no carbon-intensity history before the forecast time",
                hint="the series must start at least one hour before 'now'",
            )
        key = (known, first, horizon)
        hit = self._memo.get(key)
        if hit is None:
            if len(self._memo) >= _MEMO_MAX:
                self._memo.clear()
            hit = self._memo[key] = tuple(self.compute(known, first, horizon))
        return hit


class Forecaster(ABC):
    """Makes hourly forecasts from past values only."""

    name: str = "forecaster"
    #: hours of history the forecaster needs to be at full strength
    warmup_hours: int = 1

    @abstractmethod
    def prepare(self, series: Hourly) -> PreparedForecast:
        """Bind to ``series`` (precompute) for fast repeated :meth:`PreparedForecast.at`."""

    def forecast(self, history: Hourly, now: float, horizon: int) -> tuple[float, ...]:
        """One forecast from ``history`` (values after ``now`` are ignored)."""
        return self.prepare(history).at(now, horizon)


# -- persistence ------------------------------------------------------------------------------


class _PreparedPersistence(PreparedForecast):
    def compute(self, known: int, first: int, horizon: int) -> list[float]:
        return [self.values[known - 1]] * horizon


class Persistence(Forecaster):
    """The last known value, repeated."""

    name = "persistence"

    def prepare(self, series: Hourly) -> PreparedForecast:
        return _PreparedPersistence(series)


# -- daily profile ----------------------------------------------------------------------------


def _same_hour_before(known: int, target: int) -> int:
    """The latest known index with the same hour of day as ``target``."""
    return (known - 1) - ((known - 1 - target) % DAY)


class _PreparedProfile(PreparedForecast):
    def __init__(self, series: Hourly, days: int, tau: float | None) -> None:
        super().__init__(series)
        self.tau = tau
        v = self.values
        #: mean of v[i], v[i-24], ..., over at most ``days`` days; as v[i] plus the mean
        #: deviation (fsum) so that a repeating day is reproduced exactly, not to rounding
        self.profile = [
            vi
            + fsum(v[j] - vi for j in range(i - DAY, max(-1, i - days * DAY), -DAY))
            / min(days, i // DAY + 1)
            for i, vi in enumerate(v)
        ]

    def compute(self, known: int, first: int, horizon: int) -> list[float]:
        prof = self.profile
        out = [prof[_same_hour_before(known, j)] for j in range(first, first + horizon)]
        if self.tau is not None and known > DAY:
            anomaly = self.values[known - 1] - prof[known - 1 - DAY]
            if anomaly:
                decay = math.exp(-1.0 / self.tau)
                lead0 = first - (known - 1)
                weight = decay**lead0
                for h in range(horizon):
                    out[h] += anomaly * weight
                    weight *= decay
        return out


class DailyProfile(Forecaster):
    """Mean of each hour of day over the last ``days`` days; ``days=1`` is the same hour
    yesterday. With ``tau``, the current deviation from the profile is added, fading as
    ``exp(-lead / tau)``."""

    def __init__(self, days: int = 7, tau: float | None = None, name: str | None = None) -> None:
        if days < 1:
            raise CarbonError(f"a daily profile needs at least 1 day, got {days}")
        if tau is not None and tau <= 0:
            raise CarbonError(f"the blend's fading time must be positive, got {tau}")
        self.days = days
        self.tau = tau
        self.warmup_hours = days * DAY + (DAY if tau is not None else 0)
        default = "daily-profile" if tau is None else "daily-profile-blend"
        self.name = name or default

    def prepare(self, series: Hourly) -> PreparedForecast:
        return _PreparedProfile(series, self.days, self.tau)


# -- names ------------------------------------------------------------------------------------

FORECASTERS = ("persistence", "same-hour-yesterday", "daily-profile", "daily-profile-blend")
_ALIASES = {"persistence-24h": "same-hour-yesterday", "blend": "daily-profile-blend"}


def make_forecaster(spec: str) -> Forecaster:
    """A forecaster from its name, e.g. ``daily-profile:14`` or ``daily-profile-blend:7:6``."""
    name, *params = spec.strip().split(":")
    name = _ALIASES.get(name, name)
    try:
        nums = [float(p) for p in params]
    except ValueError:
        nums = [-1.0]
    bad = CarbonError(
        f"unknown forecaster {spec!r}",
        hint="use persistence, same-hour-yesterday, daily-profile[:DAYS] or "
        "daily-profile-blend[:DAYS[:TAU_HOURS]]",
    )
    if not all(math.isfinite(n) for n in nums):
        raise bad
    if name in {"persistence", "same-hour-yesterday"}:
        if params:
            raise bad
        return Persistence() if name == "persistence" else DailyProfile(1, name=name)
    if name == "daily-profile" and len(nums) <= 1:
        return DailyProfile(int(nums[0]) if nums else 7, name=spec)
    if name == "daily-profile-blend" and len(nums) <= 2:
        days = int(nums[0]) if nums else 3
        tau = nums[1] if len(nums) > 1 else 12.0
        return DailyProfile(days, tau=tau, name=spec)
    raise bad
