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
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hyperion.carbon.providers import CarbonProvider, Clock
from hyperion.carbon.series import CarbonError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CsvProviderConfig(_Strict):
    """Recorded series: ``files`` (zone -> CSV) and/or ``directory`` (``ZONE_*.csv``)."""

    kind: Literal["csv"]
    files: dict[str, Path | list[Path]] = Field(default_factory=dict)
    directory: Path | None = None
    column: str | None = None


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
    """The ``[carbon]`` table: named providers."""

    providers: dict[str, ProviderConfig] = Field(default_factory=dict)


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


def make_provider(
    cfg: ProviderConfig, *, base_dir: Path | None = None, clock: Clock = time.time
) -> CarbonProvider:
    """The provider a configuration describes; relative paths are taken from ``base_dir``."""
    if isinstance(cfg, CsvProviderConfig):
        from hyperion.carbon.providers import CsvProvider

        files: dict[str, list[Path]] = {}
        for zone, paths in cfg.files.items():
            many = paths if isinstance(paths, list) else [paths]
            files[zone] = [p for p in (_path(x, base_dir) for x in many) if p is not None]
        return CsvProvider(files, _path(cfg.directory, base_dir), column=cfg.column)
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
    return {name: make_provider(p, base_dir=base_dir) for name, p in cfg.providers.items()}
