"""Electricity Maps API v3 client (``auth-token`` header; hourly values).

``/v3/carbon-intensity/history?zone=Z`` (last 24 hours, ``{"zone", "history": [...]}``),
``/v3/carbon-intensity/past-range?zone=Z&start=..&end=..`` (older ranges, ``{"data": [...]}``,
at most 10 days per call), ``/v3/carbon-intensity/forecast?zone=Z`` (``{"forecast": [...]}``)
and ``/v3/carbon-intensity/latest?zone=Z`` (one entry). Entries are
``{"carbonIntensity": int, "datetime": "2023-01-01T00:00:00.000Z", ...}``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from hyperion.carbon.http import FetchError, check_http_url, get_json
from hyperion.carbon.providers import Clock, RemoteProvider
from hyperion.carbon.series import HOUR, CarbonError, IntensityPoint, IntensityResult

DEFAULT_URL = "https://api.electricitymap.org"
DEFAULT_TOKEN_ENV = "ELECTRICITYMAPS_TOKEN"
_RECENT = 24 * HOUR  # what /history covers
_RANGE_MAX = 10 * 24 * HOUR  # what one /past-range call may span


def parse_time(text: Any) -> float:
    """An ISO 8601 UTC time (``...Z`` or with offset; naive means UTC) as epoch seconds."""
    if not isinstance(text, str):
        raise ValueError(f"not a time: {text!r}")
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def entries(body: Any, key: str, where: str) -> list[IntensityPoint]:
    """The ``{"carbonIntensity", "datetime"}`` entries under ``key`` (null values skipped)."""
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise FetchError(f"{where}: the answer has no {key!r} list")
    out: list[IntensityPoint] = []
    for item in items:
        try:
            value = item.get("carbonIntensity")
            if value is None:
                continue
            out.append(IntensityPoint(parse_time(item["datetime"]), float(value)))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise FetchError(f"{where}: unreadable entry {item!r}: {exc}") from None
    return out


class ElectricityMapsProvider(RemoteProvider):
    """Carbon intensity from the Electricity Maps API."""

    name = "electricitymaps"

    def __init__(
        self,
        *,
        token: str | None = None,
        token_env: str = DEFAULT_TOKEN_ENV,
        base_url: str = DEFAULT_URL,
        emission_factor_type: str | None = "direct",
        zones: Sequence[str] | None = None,
        timeout_s: float = 10.0,
        cache_dir: Path | None = None,
        ttl_s: float = 300.0,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(timeout_s=timeout_s, cache_dir=cache_dir, ttl_s=ttl_s, clock=clock)
        self.token = token or os.environ.get(token_env, "")
        if not self.token:
            raise CarbonError(
                "no Electricity Maps API token",
                hint=f"set the environment variable {token_env} or the provider's 'token'",
            )
        try:
            self.base_url = check_http_url(base_url, "the Electricity Maps base_url")
        except ValueError as exc:
            raise CarbonError(str(exc)) from None
        self.emission_factor_type = emission_factor_type
        self.zones = frozenset(zones) if zones else None

    def check_zone(self, zone: str) -> None:
        if self.zones is not None and zone not in self.zones:
            raise CarbonError(
                f"zone {zone!r} is not among the Electricity Maps provider's zones",
                hint=f"configured zones: {', '.join(sorted(self.zones))}",
            )

    def _get(self, endpoint: str, **params: str) -> Any:
        if self.emission_factor_type:
            params["emissionFactorType"] = self.emission_factor_type
        url = f"{self.base_url}/v3/carbon-intensity/{endpoint}?{urlencode(params)}"
        return get_json(url, timeout=self.timeout_s, headers={"auth-token": self.token})

    def fetch_history(self, zone: str, start: float, end: float) -> list[IntensityPoint]:
        if start >= self.clock() - _RECENT:
            return entries(self._get("history", zone=zone), "history", "history")
        out: list[IntensityPoint] = []
        t = start
        while t < end:
            t1 = min(end, t + _RANGE_MAX)
            body = self._get("past-range", zone=zone, start=iso(t), end=iso(t1))
            out.extend(entries(body, "data", "past-range"))
            t = t1
        return out

    def fetch_forecast(self, zone: str, now: float) -> list[IntensityPoint]:
        return entries(self._get("forecast", zone=zone), "forecast", "forecast")

    def latest(self, zone: str, now: float | None = None) -> IntensityResult:
        """The newest value from ``/latest``; the last known one, stale, when that fails."""
        self.check_zone(zone)
        key = ("latest", zone, str(self.clock() // 60))

        def fetch() -> list[IntensityPoint]:
            return entries({"latest": [self._get("latest", zone=zone)]}, "latest", "latest")

        res = self._guarded(key, "history", zone, fetch, float("-inf"), float("inf"))
        return IntensityResult(
            zone, res.points[-1:], res.source, res.fetched_at, res.stale, res.error
        )
