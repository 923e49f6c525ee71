"""Grid carbon-intensity time series for the simulator (hourly, gCO2eq/kWh).

Reads Electricity Maps CSV exports (``Datetime (UTC)`` plus ``Carbon Intensity gCO₂eq/kWh
(direct)``; dates as ``YYYY-MM-DD HH:MM:SS`` or ``DD/MM/YYYY HH:MM``) and generic two-column
``time,value`` CSVs (ISO 8601 or epoch seconds). The series is resampled to hourly steps by
carrying the last value forward; simulated time ``t`` reads hour ``(t + offset) // 3600`` of the
series, wrapping around at its end so a long trace never runs off a one-year series.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from itertools import accumulate
from pathlib import Path

from hyperion.errors import HyperionError

HOUR = 3600.0


class CarbonError(HyperionError):
    """A carbon-intensity file is missing or cannot be understood."""

    exit_code = 2


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


_TIME_KEYS = ("datetime", "timestamp", "time", "date")


def _parse_time(text: str, dayfirst: bool) -> float:
    s = text.strip()
    try:
        return float(s)
    except ValueError:
        pass
    if "/" in s:
        fmt_date = "%d/%m/%Y" if dayfirst else "%m/%d/%Y"
        for fmt in (f"{fmt_date} %H:%M", f"{fmt_date} %H:%M:%S", fmt_date):
            try:
                return datetime.strptime(s, fmt).replace(tzinfo=UTC).timestamp()
            except ValueError:
                continue
        raise ValueError(s)
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _pick_columns(header: list[str], column: str | None) -> tuple[int, int]:
    low = [h.strip().lower() for h in header]
    t_idx = next((i for i, h in enumerate(low) for k in _TIME_KEYS if k in h), 0)
    if column is not None:
        if column not in header:
            raise CarbonError(
                f"no column {column!r}", hint=f"columns are: {', '.join(h.strip() for h in header)}"
            )
        return t_idx, header.index(column)
    prefs: tuple[Callable[[str], bool], ...] = (
        lambda h: "carbon" in h and "intensity" in h and "direct" in h,
        lambda h: "carbon" in h and "intensity" in h,
        lambda h: "intensity" in h or "gco2" in h,
    )
    for pref in prefs:
        for i, h in enumerate(low):
            if i != t_idx and pref(h):
                return t_idx, i
    if len(header) == 2:
        return t_idx, 1 - t_idx
    raise CarbonError(
        "cannot tell which column holds the carbon intensity",
        hint=f"pass the column name; columns are: {', '.join(h.strip() for h in header)}",
    )


def read_carbon_csv(
    path: str | Path, *, column: str | None = None, offset: float = 0.0
) -> CarbonSeries:
    """Read an hourly carbon-intensity CSV (see the module docstring)."""
    p = Path(path)
    try:
        with p.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise CarbonError(f"{p}: no such carbon-intensity file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CarbonError(f"{p}: cannot read the carbon-intensity file: {exc}") from None
    if len(rows) < 2:
        raise CarbonError(f"{p}: needs a header line and at least one row")
    try:
        t_idx, v_idx = _pick_columns(rows[0], column)
    except CarbonError as exc:
        raise CarbonError(f"{p}: {exc.message}", hint=exc.hint) from None
    body = [r for r in rows[1:] if len(r) > max(t_idx, v_idx) and r[v_idx].strip()]
    dayfirst = True
    for r in body:
        parts = r[t_idx].strip().split(" ")[0].split("/")
        if len(parts) == 3 and parts[1].isdigit() and int(parts[1]) > 12:
            dayfirst = False
            break
    points: list[tuple[float, float]] = []
    for lineno, r in enumerate(rows[1:], 2):
        if len(r) <= max(t_idx, v_idx) or not r[v_idx].strip():
            continue
        try:
            points.append((_parse_time(r[t_idx], dayfirst), float(r[v_idx])))
        except ValueError:
            raise CarbonError(
                f"{p}, line {lineno}: cannot read time {r[t_idx]!r} or value {r[v_idx]!r}"
            ) from None
    if not points:
        raise CarbonError(f"{p}: no values in column {rows[0][v_idx]!r}")
    points.sort()
    start = points[0][0] - points[0][0] % HOUR
    hours = int((points[-1][0] - start) // HOUR) + 1
    values: list[float] = []
    k = 0
    last = points[0][1]
    for h in range(hours):
        edge = start + (h + 1) * HOUR
        while k < len(points) and points[k][0] < edge:
            last = points[k][1]
            k += 1
        values.append(last)
    return CarbonSeries(values, name=p.stem, start_epoch=start, offset=offset)
