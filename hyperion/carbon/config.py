"""Configuration of carbon providers (pydantic; unknown keys refused) and the factory.

A site configuration holds named providers and each site names one with a zone::

    [carbon.providers.em]
    kind = "electricitymaps"
    token_env = "ELECTRICITYMAPS_TOKEN"
    cache_dir = "/var/cache/hyperion/carbon"

    [sites.alpha.carbon]
    provider = "em"
    zone = "DE"
    forecaster = "daily-profile"   # used when the provider publishes no forecast
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hyperion.carbon.providers import CarbonProvider, Clock, RemoteProvider, TimeScale
from hyperion.carbon.series import CarbonError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CsvProviderConfig(_Strict):
    """Recorded series: ``files`` (zone -> CSV) and/or ``directory`` (``ZONE_*.csv``).

    Replay (tests, demos): ``time_scale`` series seconds pass per wall second from the daemon's
    start, ``start`` is the series time at that moment (default: the wall time itself) and
    ``loop`` repeats the series before its first and after its last hour.
    """

    kind: Literal["csv"]
    files: dict[str, Path | list[Path]] = Field(default_factory=dict)
    directory: Path | None = None
    #: short series in the config itself: zone -> hourly values (gCO2/kWh) from 2024-01-01 UTC
    hourly: dict[str, list[Annotated[float, Field(ge=0)]]] = Field(default_factory=dict)
    column: str | None = None
    time_scale: float = Field(1.0, gt=0)
    start: datetime | None = None
    loop: bool = False


class _RemoteConfig(_Strict):
    timeout_s: float = Field(10.0, gt=0)
    cache_dir: Path | None = None
    cache_ttl_s: float = Field(300.0, ge=0)


class ElectricityMapsConfig(_RemoteConfig):
    """Electricity Maps API v3; the token comes from ``token`` or the variable ``token_env``."""

    kind: Literal["electricitymaps"]
    base_url: str = "https://api.electricitymap.org"
    token: str | None = None
    token_env: str = "ELECTRICITYMAPS_TOKEN"
    emission_factor_type: Literal["direct", "lifecycle"] | None = "direct"
    zones: list[str] | None = None


class CarbonIntensityGBConfig(_RemoteConfig):
    """GB Carbon Intensity API (no token); zones ``GB`` or a region id ``1``..``17``."""

    kind: Literal["carbonintensity-gb"]
    base_url: str = "https://api.carbonintensity.org.uk"


ProviderConfig = Annotated[
    CsvProviderConfig | ElectricityMapsConfig | CarbonIntensityGBConfig,
    Field(discriminator="kind"),
]


class CarbonConfig(_Strict):
    """The ``[carbon]`` table: named providers; ``default_provider`` serves the sites that
    give only ``carbon_zone`` (default: the only provider, when there is one)."""

    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    default_provider: str | None = None
    default_forecaster: str = "daily-profile"

    def default(self) -> str | None:
        """The provider a bare ``carbon_zone`` refers to, if any."""
        if self.default_provider is not None:
            return self.default_provider
        return next(iter(self.providers)) if len(self.providers) == 1 else None


class SiteCarbonConfig(_Strict):
    """A site's ``carbon`` table: which provider and zone, and the fallback forecaster."""

    provider: str
    zone: str
    forecaster: str = "daily-profile"


def _path(p: Path | None, base: Path | None) -> Path | None:
    if p is None:
        return None
    p = p.expanduser()
    return p if p.is_absolute() or base is None else base / p


def _time_scale(cfg: CsvProviderConfig, wall_origin: float) -> TimeScale:
    start = cfg.start
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    origin = start.timestamp() if start is not None else None
    return TimeScale(cfg.time_scale, origin, wall_origin)


def make_provider(
    cfg: ProviderConfig,
    *,
    base_dir: Path | None = None,
    clock: Clock = time.time,
    wall_origin: float | None = None,
) -> CarbonProvider:
    """The provider a configuration describes; relative paths are taken from ``base_dir``;
    ``wall_origin`` (default: now) is when a CSV replay's time scale starts."""
    if isinstance(cfg, CsvProviderConfig):
        from hyperion.carbon.providers import CsvProvider

        files: dict[str, list[Path]] = {}
        for zone, paths in cfg.files.items():
            many = paths if isinstance(paths, list) else [paths]
            files[zone] = [p for p in (_path(x, base_dir) for x in many) if p is not None]
        csv = CsvProvider(
            files,
            _path(cfg.directory, base_dir),
            column=cfg.column,
            loop=cfg.loop,
            hourly=cfg.hourly,
        )
        csv.time_scale = _time_scale(cfg, clock() if wall_origin is None else wall_origin)
        return csv
    cache_dir = _path(cfg.cache_dir, base_dir)
    if isinstance(cfg, ElectricityMapsConfig):
        from hyperion.carbon.electricitymaps import ElectricityMapsProvider

        return ElectricityMapsProvider(
            token=cfg.token,
            token_env=cfg.token_env,
            base_url=cfg.base_url,
            emission_factor_type=cfg.emission_factor_type,
            zones=cfg.zones,
            timeout_s=cfg.timeout_s,
            cache_dir=cache_dir,
            ttl_s=cfg.cache_ttl_s,
            clock=clock,
        )
    from hyperion.carbon.gb import CarbonIntensityGBProvider

    return CarbonIntensityGBProvider(
        base_url=cfg.base_url,
        timeout_s=cfg.timeout_s,
        cache_dir=cache_dir,
        ttl_s=cfg.cache_ttl_s,
        clock=clock,
    )


def load_providers(
    table: Mapping[str, Any], *, where: str = "carbon", base_dir: Path | None = None
) -> dict[str, CarbonProvider]:
    """Validate a ``[carbon]`` table and build its providers; errors name the key."""
    try:
        cfg = CarbonConfig.model_validate(table)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(x) for x in first["loc"])
        raise CarbonError(
            f"{where}.{key}: {first['msg']}",
            hint="provider kinds: csv, electricitymaps, carbonintensity-gb (see docs/carbon.md)",
        ) from None
    return build_providers(cfg, base_dir=base_dir)


def build_providers(
    cfg: CarbonConfig, *, base_dir: Path | None = None, wall_origin: float | None = None
) -> dict[str, CarbonProvider]:
    """The providers of a validated ``[carbon]`` table, by name."""
    out: dict[str, CarbonProvider] = {}
    for name, p in cfg.providers.items():
        out[name] = provider = make_provider(p, base_dir=base_dir, wall_origin=wall_origin)
        if isinstance(provider, RemoteProvider):
            provider.cache_name = name
    return out
