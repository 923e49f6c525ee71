"""GB Carbon Intensity API client (api.carbonintensity.org.uk; no token; half-hourly data).

National: ``/intensity/{from}/{to}`` and ``/intensity/{from}/fw48h`` answer
``{"data": [{"from", "to", "intensity": {"forecast", "actual", "index"}}]}`` (``actual`` is null
for future periods). Regional (``regionid`` 1-17): ``/regional/intensity/{from}/{to}/regionid/N``
and ``.../fw48h/regionid/N`` answer ``{"data": {"regionid", "shortname", "data": [...]}}``
(some endpoints wrap that object in a one-element list) whose entries carry ``intensity``
(forecast only) and ``generationmix``. Zones: ``GB`` (national) or a region id (``"13"``).
Half hours are averaged into hours; history prefers ``actual`` over ``forecast``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hyperion.carbon.electricitymaps import parse_time
from hyperion.carbon.http import FetchError, check_http_url, get_json
from hyperion.carbon.providers import Clock, RemoteProvider
from hyperion.carbon.series import HOUR, CarbonError, IntensityPoint

DEFAULT_URL = "https://api.carbonintensity.org.uk"
REGION_IDS = range(1, 18)
_RANGE_MAX = 13 * 24 * HOUR  # the API refuses ranges over 14 days


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


def _periods(body: Any, regional: bool) -> list[Any]:
    data = body.get("data") if isinstance(body, dict) else None
    if regional:
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        data = data.get("data") if isinstance(data, dict) else None
    if not isinstance(data, list):
        raise FetchError("GB carbon intensity: the answer has no 'data' list")
    return data


def hourly_means(body: Any, *, regional: bool, prefer_actual: bool) -> list[IntensityPoint]:
    """Half-hourly periods averaged per hour (start of the hour as time)."""
    sums: dict[float, list[float]] = defaultdict(list)
    for item in _periods(body, regional):
        try:
            intensity = item["intensity"]
            value = intensity.get("actual") if prefer_actual else None
            if value is None:
                value = intensity.get("forecast")
            if value is None:
                continue
            t = parse_time(item["from"])
            sums[t - t % HOUR].append(float(value))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise FetchError(f"GB carbon intensity: unreadable period {item!r}: {exc}") from None
    return [IntensityPoint(t, sum(v) / len(v)) for t, v in sorted(sums.items())]


class CarbonIntensityGBProvider(RemoteProvider):
    """National and regional GB carbon intensity, with NESO's 48-hour forecast."""

    name = "carbonintensity-gb"

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_URL,
        timeout_s: float = 10.0,
        cache_dir: Path | None = None,
        ttl_s: float = 300.0,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(timeout_s=timeout_s, cache_dir=cache_dir, ttl_s=ttl_s, clock=clock)
        try:
            self.base_url = check_http_url(base_url, "the GB carbon intensity base_url")
        except ValueError as exc:
            raise CarbonError(str(exc)) from None

    @staticmethod
    def region(zone: str) -> int | None:
        """None for the national zone ``GB``, else the region id."""
        if zone.upper() == "GB":
            return None
        if zone.isdigit() and int(zone) in REGION_IDS:
            return int(zone)
        raise CarbonError(
            f"unknown GB carbon-intensity zone {zone!r}",
            hint="use 'GB' for the national figure or a region id from 1 to 17 (e.g. '13')",
        )

    def check_zone(self, zone: str) -> None:
        self.region(zone)

    def _url(self, zone: str, window: str) -> str:
        rid = self.region(zone)
        if rid is None:
            return f"{self.base_url}/intensity/{window}"
        return f"{self.base_url}/regional/intensity/{window}/regionid/{rid}"

    def fetch_history(self, zone: str, start: float, end: float) -> list[IntensityPoint]:
        regional = self.region(zone) is not None
        out: list[IntensityPoint] = []
        t = start - start % HOUR
        while t < end:
            t1 = min(end, t + _RANGE_MAX)
            body = get_json(self._url(zone, f"{_stamp(t)}/{_stamp(t1)}"), timeout=self.timeout_s)
            out.extend(hourly_means(body, regional=regional, prefer_actual=True))
            t = t1
        return out

    def fetch_forecast(self, zone: str, now: float) -> list[IntensityPoint]:
        hour = now - now % HOUR
        body = get_json(self._url(zone, f"{_stamp(hour)}/fw48h"), timeout=self.timeout_s)
        regional = self.region(zone) is not None
        return hourly_means(body, regional=regional, prefer_actual=False)
