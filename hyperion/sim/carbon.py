"""Grid carbon-intensity time series for the simulator (hourly, gCO2eq/kWh).

Reads Electricity Maps CSV exports and generic ``time,value`` CSVs through the one reader in
:mod:`hyperion.carbon.csvfile` (``CarbonError`` lives in :mod:`hyperion.carbon.series`). The
series is resampled to hourly steps by carrying the last value forward; simulated time ``t``
reads hour ``(t + offset) // 3600`` of the series, wrapping around at its end so a long trace
never runs off a one-year series.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate
from pathlib import Path

from hyperion.carbon.csvfile import read_hourly
from hyperion.carbon.series import HOUR, CarbonError

__all__ = ["HOUR", "CarbonError", "CarbonSeries", "read_carbon_csv"]


class CarbonSeries:
    """Piecewise-constant hourly intensity with O(1) lookups and integrals."""

    __slots__ = ("name", "values", "start_epoch", "offset", "_cum", "_n", "_total")

    def __init__(
        self,
        values: Sequence[float],
        *,
        name: str = "",
        start_epoch: float = 0.0,
        offset: float = 0.0,
    ) -> None:
        if not values:
            raise CarbonError(f"carbon series {name!r} has no values")
        self.name = name
        self.values = [float(v) for v in values]
        self.start_epoch = start_epoch
        self.offset = offset
        self._n = len(self.values)
        self._cum = [0.0, *accumulate(self.values)]
        self._total = self._cum[-1]

    @classmethod
    def constant(cls, value: float, name: str = "constant") -> CarbonSeries:
        return cls([value], name=name)

    def at(self, t: float) -> float:
        """Intensity (g/kWh) at simulated time ``t`` (seconds)."""
        return self.values[int((t + self.offset) // HOUR) % self._n]

    def _cum_at(self, hours: float) -> float:
        """Integral from series start over ``hours`` hours (wrapping), in g/kWh x h."""
        whole = int(hours // 1)
        cycles, idx = divmod(whole, self._n)
        frac = hours - whole
        return cycles * self._total + self._cum[idx] + frac * self.values[idx]

    def integral(self, t0: float, t1: float) -> float:
        """Integral of intensity over [t0, t1] seconds, in g/kWh x hours."""
        if t1 <= t0:
            return 0.0
        a = (t0 + self.offset) / HOUR
        b = (t1 + self.offset) / HOUR
        base = (a // self._n) * self._n  # keep numbers small and non-negative
        return self._cum_at(b - base) - self._cum_at(a - base)

    def mean(self, t0: float, t1: float) -> float:
        """Mean intensity over [t0, t1] (the value at t0 when the interval is empty)."""
        if t1 <= t0:
            return self.at(t0)
        return self.integral(t0, t1) * HOUR / (t1 - t0)

    def forecast(self, t: float, hours: int) -> tuple[tuple[float, float], ...]:
        """``hours`` hourly (time, intensity) points from ``t`` on (a perfect forecast)."""
        return tuple((t + h * HOUR, self.at(t + h * HOUR)) for h in range(hours))


def read_carbon_csv(
    path: str | Path, *, column: str | None = None, offset: float = 0.0
) -> CarbonSeries:
    """Read an hourly carbon-intensity CSV (see :mod:`hyperion.carbon.csvfile`)."""
    hourly = read_hourly(path, column=column)
    name = Path(path).stem
    return CarbonSeries(hourly.values, name=name, start_epoch=hourly.start, offset=offset)
