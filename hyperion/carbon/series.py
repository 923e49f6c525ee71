"""Value types shared by the carbon providers and forecasters (hourly gCO2eq/kWh, UTC epochs)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from hyperion.errors import HyperionError

HOUR = 3600.0


class CarbonError(HyperionError):
    """A carbon-intensity source is misconfigured: missing file, unknown zone, missing token."""

    exit_code = 2


class IntensityPoint(NamedTuple):
    """One value: ``time`` is the UTC epoch of the start of the period it covers."""

    time: float
    value: float


@dataclass(frozen=True, slots=True)
class IntensityResult:
    """What a provider answers: points, and whether they are fresh.

    ``stale`` is true when the provider could not be reached and ``points`` are the last known
    values (possibly none); ``error`` then says why. ``fetched_at`` is when the points were
    obtained from the source (None when never).
    """

    zone: str
    points: tuple[IntensityPoint, ...]
    source: str
    fetched_at: float | None = None
    stale: bool = False
    error: str | None = None

    @property
    def values(self) -> list[float]:
        return [p.value for p in self.points]


@dataclass(frozen=True, slots=True)
class Hourly:
    """A gap-free hourly series: ``values[i]`` covers ``[start + i h, start + (i + 1) h)``."""

    start: float
    values: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.values)

    def points(self) -> tuple[IntensityPoint, ...]:
        return tuple(IntensityPoint(self.start + i * HOUR, v) for i, v in enumerate(self.values))


def hourly_from_points(points: Iterable[tuple[float, float]], name: str = "") -> Hourly:
    """Resample points to whole hours: the last value of each hour, carried over empty hours."""
    pts = sorted(points)
    if not pts:
        raise CarbonError(f"carbon series {name!r} has no values")
    start = pts[0][0] - pts[0][0] % HOUR
    hours = int((pts[-1][0] - start) // HOUR) + 1
    values: list[float] = []
    k = 0
    last = pts[0][1]
    for h in range(hours):
        edge = start + (h + 1) * HOUR
        while k < len(pts) and pts[k][0] < edge:
            last = pts[k][1]
            k += 1
        values.append(float(last))
    return Hourly(start, tuple(values))
