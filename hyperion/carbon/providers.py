"""The ``CarbonProvider`` interface, the CSV provider and the cached remote-provider base.

Every provider answers ``history(zone, start, end)`` and ``forecast(zone, now)`` (None when it
publishes no forecast) with :class:`~hyperion.carbon.series.IntensityResult`. Remote providers
never raise for a failed call: they answer the last known values with ``stale=True``. Only
configuration errors (unknown zone, missing file, missing token) raise
:class:`~hyperion.carbon.series.CarbonError`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hyperion.carbon.cache import IntensityCache
from hyperion.carbon.csvfile import read_points, zone_of_file
from hyperion.carbon.http import FetchError
from hyperion.carbon.series import (
    HOUR,
    CarbonError,
    Hourly,
    IntensityPoint,
    IntensityResult,
    hourly_from_points,
)

Clock = Callable[[], float]
#: after a failed call, the same (kind, zone) answers its last known values this long without
#: asking the source again (a provider that times out must not hold up the daemon's loops)
RETRY_AFTER_S = 30.0
#: most points one looping history answer holds (two years of hours)
_MAX_LOOP_POINTS = 24 * 800


@dataclass(frozen=True, slots=True)
class TimeScale:
    """Wall time <-> series time of a replayed series: ``scale`` series seconds per wall
    second from ``wall_origin``, when the series read ``series_origin`` (None: the wall time
    itself). The identity for live providers."""

    scale: float = 1.0
    series_origin: float | None = None
    wall_origin: float = 0.0

    @property
    def identity(self) -> bool:
        return self.scale == 1.0 and self.series_origin is None

    def _origin(self) -> float:
        return self.wall_origin if self.series_origin is None else self.series_origin

    def to_series(self, wall: float) -> float:
        if self.identity:
            return wall
        return self._origin() + (wall - self.wall_origin) * self.scale

    def to_wall(self, t: float) -> float:
        if self.identity:
            return t
        return self.wall_origin + (t - self._origin()) / self.scale


class CarbonProvider(ABC):
    """A source of hourly carbon intensity (gCO2eq/kWh) per zone."""

    name: str = "provider"
    #: how wall time maps to the provider's times (a replay at another speed; else identity)
    time_scale: TimeScale = TimeScale()

    def check_zone(self, zone: str) -> None:  # noqa: B027 - optional hook
        """Raise :class:`CarbonError` for a zone this provider cannot serve (config error)."""

    @abstractmethod
    def history(self, zone: str, start: float, end: float) -> IntensityResult:
        """Values with ``start <= time < end`` (UTC epoch seconds)."""

    @abstractmethod
    def forecast(self, zone: str, now: float | None = None) -> IntensityResult | None:
        """The provider's forecast from the hour of ``now`` on, or None if it has none."""

    def latest(self, zone: str, now: float | None = None) -> IntensityResult:
        """The newest known value (at most one point) from the last 24 hours."""
        t = time.time() if now is None else now
        res = self.history(zone, t - 24 * HOUR, t)
        pts = res.points[-1:]
        return IntensityResult(zone, pts, res.source, res.fetched_at, res.stale, res.error)


#: where ``hourly`` series written in the config start (a midnight, UTC: 2024-01-01)
HOURLY_ORIGIN = 1704067200.0


class CsvProvider(CarbonProvider):
    """Recorded series from CSV files: ``files`` maps zones to CSVs; ``directory`` adds every
    ``ZONE_*.csv`` in it (several files of one zone are merged); ``hourly`` gives short series
    in the configuration itself (zone -> hourly values from :data:`HOURLY_ORIGIN`, e.g. one
    synthetic day for a testbed). Never stale, no forecast. With ``loop`` the series repeats
    for ever in both directions (replays, demos)."""

    name = "csv"

    def __init__(
        self,
        files: Mapping[str, str | Path | Sequence[str | Path]] | None = None,
        directory: str | Path | None = None,
        *,
        column: str | None = None,
        loop: bool = False,
        hourly: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        self.column = column
        self.loop = loop
        self._files: dict[str, list[Path]] = {}
        if directory is not None:
            d = Path(directory)
            if not d.is_dir():
                what = "is not a folder" if d.exists() else "does not exist"
                raise CarbonError(
                    f"carbon CSV directory {d} {what}",
                    hint="set 'directory' to a folder of ZONE_*.csv files",
                )
            for p in sorted(d.glob("*.csv")):
                self._files.setdefault(zone_of_file(p), []).append(p)
        for zone, paths in (files or {}).items():
            many = [paths] if isinstance(paths, str | Path) else list(paths)
            self._files[zone] = [Path(p) for p in many]
        for zone, paths in self._files.items():
            for p in paths:
                if not p.is_file():
                    raise CarbonError(
                        f"carbon CSV for zone {zone!r}: no such file {p}",
                        hint="fix the path in the provider's 'files' table",
                    )
        self._series: dict[str, Hourly] = {}
        for zone, values in (hourly or {}).items():
            if not values:
                raise CarbonError(f"carbon series {zone!r} in 'hourly' has no values")
            self._series[zone] = Hourly(HOURLY_ORIGIN, tuple(float(v) for v in values))
        if not self._files and not self._series:
            raise CarbonError(
                "the CSV carbon provider has no series",
                hint="give 'files' (ZONE = PATH), a 'directory' with ZONE_*.csv files or "
                "'hourly' (ZONE = [values])",
            )

    def zones(self) -> list[str]:
        return sorted({*self._files, *self._series})

    def series(self, zone: str) -> Hourly:
        """The whole hourly series of ``zone`` (read once, then kept)."""
        hit = self._series.get(zone)
        if hit is not None:
            return hit
        paths = self._files.get(zone)
        if paths is None:
            raise CarbonError(
                f"unknown carbon zone {zone!r} for the CSV provider",
                hint=f"known zones: {', '.join(self.zones())}",
            )
        points = [pt for p in paths for pt in read_points(p, column=self.column)]
        hit = self._series[zone] = hourly_from_points(points, name=zone)
        return hit

    def check_zone(self, zone: str) -> None:
        self.series(zone)

    def history(self, zone: str, start: float, end: float) -> IntensityResult:
        s = self.series(zone)
        lo = int(-((s.start - start) // HOUR))  # first index with time >= start
        hi = int(-((s.start - end) // HOUR))
        if self.loop:
            lo = max(lo, hi - _MAX_LOOP_POINTS)
            n = len(s)
            pts = tuple(IntensityPoint(s.start + i * HOUR, s.values[i % n]) for i in range(lo, hi))
        else:
            lo, hi = max(0, lo), min(len(s), max(0, hi))
            pts = tuple(IntensityPoint(s.start + i * HOUR, s.values[i]) for i in range(lo, hi))
        return IntensityResult(zone, pts, self.name, fetched_at=None)

    def forecast(self, zone: str, now: float | None = None) -> IntensityResult | None:
        self.series(zone)  # an unknown zone is still an error
        return None


class RemoteProvider(CarbonProvider):
    """Base of the HTTP providers: cache, time-to-live and degradation to stale values."""

    def __init__(
        self,
        *,
        timeout_s: float = 10.0,
        cache_dir: Path | None = None,
        ttl_s: float = 300.0,
        clock: Clock = time.time,
    ) -> None:
        self.timeout_s = timeout_s
        self.cache = IntensityCache(cache_dir, ttl_s)
        self.clock = clock
        #: the folder of its files in a shared ``cache_dir``: the name the config gives it
        #: (two providers of one kind must not overwrite each other's last known values)
        self.cache_name = self.name
        #: (retry after, error) per (provider, kind, zone) whose last call failed
        self._failed: dict[tuple[str, ...], tuple[float, str]] = {}

    @abstractmethod
    def check_zone(self, zone: str) -> None:
        """Raise :class:`CarbonError` for a zone this provider cannot serve (config error)."""

    @abstractmethod
    def fetch_history(self, zone: str, start: float, end: float) -> list[IntensityPoint]:
        """Points in [start, end) from the source; raise FetchError on failure."""

    @abstractmethod
    def fetch_forecast(self, zone: str, now: float) -> list[IntensityPoint]:
        """Forecast points from the source; raise FetchError on failure."""

    def history(self, zone: str, start: float, end: float) -> IntensityResult:
        self.check_zone(zone)
        key = ("history", zone, str(start // HOUR), str(-(-end // HOUR)))
        return self._guarded(
            key, "history", zone, lambda: self.fetch_history(zone, start, end), start, end
        )

    def forecast(self, zone: str, now: float | None = None) -> IntensityResult | None:
        self.check_zone(zone)
        t = self.clock() if now is None else now
        hour = t - t % HOUR
        key = ("forecast", zone, str(hour))
        return self._guarded(
            key, "forecast", zone, lambda: self.fetch_forecast(zone, t), hour, float("inf")
        )

    def _guarded(
        self,
        key: tuple[str, ...],
        kind: str,
        zone: str,
        fetch: Callable[[], list[IntensityPoint]],
        start: float,
        end: float,
    ) -> IntensityResult:
        now = self.clock()
        hit = self.cache.fresh(key, now)
        if hit is not None:
            return hit
        kind_key = (self.cache_name, kind, zone)
        failed = self._failed.get(kind_key)
        try:
            if failed is not None and now < failed[0]:  # it failed a moment ago: do not wait
                raise FetchError(f"{failed[1]} (not asked again before {RETRY_AFTER_S:.0f} s)")
            unique = {p.time: p for p in fetch() if start <= p.time < end}
        except FetchError as exc:
            if failed is None or now >= failed[0]:
                self._failed[kind_key] = (now + RETRY_AFTER_S, str(exc))
            known, fetched_at = self.cache.last_known(kind_key, start, end)
            return IntensityResult(
                zone, known, self.name, fetched_at=fetched_at, stale=True, error=str(exc)
            )
        self._failed.pop(kind_key, None)
        points = tuple(unique[t] for t in sorted(unique))
        result = IntensityResult(zone, points, self.name, fetched_at=now)
        self.cache.store(key, kind_key, result, merge=kind == "history")
        return result
