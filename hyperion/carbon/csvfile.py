"""Carbon-intensity CSV files: Electricity Maps exports and generic ``time,value`` files.

Electricity Maps exports have ``Datetime (UTC)`` and ``Carbon Intensity gCO₂eq/kWh (direct)``
columns (the direct column is preferred over LCA); dates are ``YYYY-MM-DD HH:MM:SS`` or
``DD/MM/YYYY HH:MM`` (month first only when a day above 12 proves it). Generic files have a time
column (ISO 8601 or epoch seconds) and one value column. This is the one CSV reader: the
simulator (:mod:`hyperion.sim.carbon`) and the CSV provider both use it.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from hyperion.carbon.series import CarbonError, Hourly, hourly_from_points

_TIME_KEYS = ("datetime", "timestamp", "time", "date")


def zone_of_file(path: str | Path) -> str:
    """The zone a file is named after: ``DE_2023_hourly.csv`` -> ``DE``."""
    stem = Path(path).stem
    return stem.split("_")[0] or stem


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


def read_points(path: str | Path, *, column: str | None = None) -> list[tuple[float, float]]:
    """The (epoch, gCO2eq/kWh) rows of a carbon-intensity CSV, sorted by time."""
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
    width = max(t_idx, v_idx)
    body = [(n, r) for n, r in enumerate(rows[1:], 2) if len(r) > width and r[v_idx].strip()]
    dayfirst = True
    for _, r in body:
        parts = r[t_idx].strip().split(" ")[0].split("/")
        if len(parts) == 3 and parts[1].isdigit() and int(parts[1]) > 12:
            dayfirst = False
            break
    points: list[tuple[float, float]] = []
    for lineno, r in body:
        try:
            points.append((_parse_time(r[t_idx], dayfirst), float(r[v_idx])))
        except ValueError:
            raise CarbonError(
                f"{p}, line {lineno}: cannot read time {r[t_idx]!r} or value {r[v_idx]!r}"
            ) from None
    if not points:
        raise CarbonError(f"{p}: no values in column {rows[0][v_idx]!r}")
    points.sort()
    return points


def read_hourly(path: str | Path, *, column: str | None = None) -> Hourly:
    """A CSV as a gap-free hourly series (missing hours carry the last value forward)."""
    return hourly_from_points(read_points(path, column=column), name=Path(path).stem)
