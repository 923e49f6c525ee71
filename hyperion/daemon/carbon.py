"""The daemon's carbon outlook: per site, the intensity now and a forecast, kept in memory.

:meth:`CarbonOutlooks.refresh` runs in the snapshot loop (providers may call the network);
placement only reads the cache (:meth:`CarbonOutlooks.get`), so a submission never waits for
a provider. A provider that failed answers its last known values: the outlook is then marked
stale. Replayed CSV series may run faster than wall time (``time_scale``): outlook points are
in wall time, spaced ``3600 / time_scale`` seconds apart. :meth:`CarbonOutlooks.intensity` is
the ledger's :data:`~hyperion.daemon.ledger.IntensitySource`.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hyperion.carbon.config import SiteCarbonConfig, build_providers
from hyperion.carbon.forecast import Forecaster, make_forecaster
from hyperion.carbon.outlook import outlook
from hyperion.carbon.providers import CarbonProvider
from hyperion.carbon.series import HOUR, CarbonError
from hyperion.config.schema import HyperionConfig
from hyperion.daemon.ledger import Intensity

#: forecast points kept per site (series hours)
HORIZON = 48
Points = tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class SiteOutlook:
    """One site's carbon outlook: ``points`` are (wall start, gCO2/kWh), the first being the
    period that contained ``refreshed_at`` (its observed value when known)."""

    site: str
    zone: str
    source: str
    points: Points
    stale: bool
    error: str | None
    refreshed_at: float

    def at(self, t: float) -> float:
        """The intensity expected at wall time ``t`` (held flat outside the points)."""
        i = bisect.bisect_right([p[0] for p in self.points], t) - 1
        return self.points[max(i, 0)][1]

    def as_dict(self, now: float) -> dict[str, object]:
        return {
            "zone": self.zone,
            "source": self.source,
            "g_per_kwh": round(self.at(now), 1),
            "stale": self.stale,
            "error": self.error,
            "refreshed_at": self.refreshed_at,
        }


@dataclass(frozen=True, slots=True)
class _Source:
    provider: CarbonProvider
    zone: str
    forecaster: Forecaster


class CarbonOutlooks:
    """The cached outlook of every site with a carbon source (thread-safe)."""

    def __init__(
        self,
        config: HyperionConfig,
        log: Callable[..., None],
        *,
        providers: dict[str, CarbonProvider] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.log = log
        self.clock = clock
        base = Path(config.source).resolve().parent if config.source else None
        if providers is None:
            providers = build_providers(config.carbon, base_dir=base, wall_origin=clock())
        self.sources: dict[str, _Source] = {}
        for name in config.sites:
            sc = config.site_carbon(name)
            if sc is not None:
                self.sources[name] = self._source(name, sc, providers)
        self._cache: dict[str, SiteOutlook] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _source(site: str, sc: SiteCarbonConfig, providers: dict[str, CarbonProvider]) -> _Source:
        provider = providers[sc.provider]
        try:
            provider.check_zone(sc.zone)
        except CarbonError as exc:
            raise CarbonError(f"sites.{site}.carbon: {exc.message}", hint=exc.hint) from None
        return _Source(provider, sc.zone, make_forecaster(sc.forecaster))

    def get(self, site: str) -> SiteOutlook | None:
        """The cached outlook of ``site`` (None: no carbon source, or nothing known yet)."""
        with self._lock:
            return self._cache.get(site)

    def refresh(self, now: float | None = None) -> None:
        """Ask every site's provider again (the snapshot loop); errors are logged, not raised."""
        t = self.clock() if now is None else now
        for site, src in self.sources.items():
            try:
                got = self._fetch(site, src, t)
            except Exception as exc:  # noqa: BLE001 - one provider must not stop the loop
                self.log(f"carbon outlook of {site}: {exc}")
                got = self._stale_copy(site, str(exc))
            if got is not None:
                with self._lock:
                    self._cache[site] = got

    def _stale_copy(self, site: str, error: str) -> SiteOutlook | None:
        old = self.get(site)
        if old is None:
            return None
        return SiteOutlook(
            old.site, old.zone, old.source, old.points, True, error, old.refreshed_at
        )

    def _fetch(self, site: str, src: _Source, now: float) -> SiteOutlook | None:
        ts = src.provider.time_scale
        t = ts.to_series(now)
        o = outlook(src.provider, src.zone, t, HORIZON, src.forecaster)
        latest = src.provider.latest(src.zone, t)
        if o is None and not latest.points:
            return self._stale_copy(site, latest.error or "no carbon data")
        values = list(o.values) if o is not None else [latest.points[-1].value]
        start = o.start if o is not None else t - t % HOUR
        if latest.points and latest.points[-1].time == start:
            values[0] = latest.points[-1].value  # the current hour: observed, not forecast
        points = tuple((ts.to_wall(start + h * HOUR), v) for h, v in enumerate(values))
        stale = bool(latest.stale or (o is not None and o.stale))
        error = latest.error or (o.error if o is not None else None)
        source = o.source if o is not None else src.provider.name
        return SiteOutlook(site, src.zone, source, points, stale, error, now)

    def intensity(self, site: str, start: float, end: float) -> Intensity | None:
        """The mean intensity over [start, end] (wall time) from the provider's history, and
        whether it is stale; None for a site without a carbon source or without data."""
        src = self.sources.get(site)
        if src is None:
            return None
        ts = src.provider.time_scale
        s0, s1 = ts.to_series(start), ts.to_series(max(end, start))
        hist = src.provider.history(src.zone, s0 - s0 % HOUR, s1 + 1e-6)
        if not hist.points:
            if hist.stale:  # the provider failed and nothing is known: say so in the ledger
                raise CarbonError(f"{src.provider.name} ({src.zone}): {hist.error or 'no data'}")
            return None
        return Intensity(_mean(hist.points, s0, s1), hist.stale)


def _mean(points: tuple[tuple[float, float], ...], s0: float, s1: float) -> float:
    """The time-weighted mean of hourly ``points`` over [s0, s1] (the point at s0 if empty)."""
    if s1 <= s0:
        return next((v for t, v in reversed(points) if t <= s0), points[0][1])
    area = weight = 0.0
    for t, v in points:
        w = max(0.0, min(t + HOUR, s1) - max(t, s0))
        area, weight = area + w * v, weight + w
    return area / weight if weight > 0 else points[-1][1]
