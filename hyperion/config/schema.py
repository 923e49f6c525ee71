"""The site-configuration schema (pydantic). One file describes every site Hyperion places on.

Unknown keys are errors (a typo must not silently change behaviour). Durations accept seconds
(int) or Slurm time strings ("2:00:00", "1-00:00:00"); memory accepts MiB (int) or "4G".
See ``site-configs/example-university.toml`` for a commented example.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from hyperion.carbon.config import CarbonConfig, SiteCarbonConfig

_TIME_RE = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")
_MEM_RE = re.compile(r"^(\d+)\s*([KMGT]?)i?B?$", re.IGNORECASE)


def _duration(value: object) -> object:
    """Seconds from an int or a Slurm-style time string ("D-HH:MM:SS", "HH:MM:SS", "MM")."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        text = value.strip().upper()
        if text in {"UNLIMITED", "INFINITE"}:
            return None
        m = _TIME_RE.match(text)
        if not m:
            raise ValueError(
                f"{value!r} is not a duration: use seconds (3600) or Slurm time "
                "('MM', 'HH:MM:SS', 'D-HH:MM:SS', 'UNLIMITED')"
            )
        days, a, b, c = m.groups()
        parts = [int(x) for x in (a, b, c) if x is not None]
        if days is not None:
            h, mi, s = (parts + [0, 0, 0])[:3]
            return int(days) * 86400 + h * 3600 + mi * 60 + s
        if len(parts) == 1:
            return parts[0] * 60
        if len(parts) == 2:
            return parts[0] * 60 + parts[1]
        return parts[0] * 3600 + parts[1] * 60 + parts[2]
    return value


def _memory(value: object) -> object:
    """MiB from an int or a string with a K/M/G/T suffix."""
    if isinstance(value, str):
        m = _MEM_RE.match(value.strip())
        if not m:
            raise ValueError(f"{value!r} is not a memory size: use MiB (4000) or '4G', '512M'")
        n, unit = int(m.group(1)), m.group(2).upper()
        factor = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 * 1024}[unit]
        return int(n * factor)
    return value


Duration = Annotated[int | None, BeforeValidator(_duration)]
MemoryMiB = Annotated[int, BeforeValidator(_memory), Field(ge=1)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalAccess(_Strict):
    """Slurm's CLI on this machine."""

    kind: Literal["local"]
    slurm_conf: Path | None = Field(None, description="SLURM_CONF for this cluster")
    bin_dir: Path | None = Field(None, description="directory of sbatch/squeue/...; PATH if unset")
    submit_as: Literal["runuser", "sudo", "none"] = "runuser"
    command_timeout_s: float = Field(30.0, gt=0)


class SshAccess(_Strict):
    """Slurm's CLI on a login node reached over SSH (key-based, known host keys only)."""

    kind: Literal["ssh"]
    host: str
    port: int = Field(22, ge=1, le=65535)
    user: str
    key_file: Path
    known_hosts: Path
    slurm_conf: Path | None = Field(None, description="SLURM_CONF on the remote side")
    bin_dir: Path | None = None
    submit_as: Literal["runuser", "sudo", "none"] = "sudo"
    connect_timeout_s: float = Field(10.0, gt=0)
    command_timeout_s: float = Field(30.0, gt=0)
    keepalive_s: int = Field(15, ge=0)
    remote_runner: bool = Field(
        True,
        description="run commands through one persistent python3 process on the login node "
        "(skips the login shell per command); falls back to one channel per command",
    )


class RestAccess(_Strict):
    """slurmrestd (OpenAPI v0.0.38) with JWT authentication.

    Per-user tokens are minted with the cluster's JWT key (``jwt_key_file``, the same file as
    slurm.conf's ``AuthAltParameters=jwt_key=``), or a fixed token is read from ``token_file``
    for the single user ``token_user``.
    """

    kind: Literal["rest"]
    url: str = Field(pattern=r"^https?://")
    api_version: Literal["v0.0.38"] = "v0.0.38"
    jwt_key_file: Path | None = None
    token_file: Path | None = None
    token_user: str | None = None
    token_lifespan_s: int = Field(3600, ge=60)
    admin_user: str = Field("slurm", description="user for read-only queries")
    timeout_s: float = Field(10.0, gt=0)
    verify_tls: bool = True

    @model_validator(mode="after")
    def _one_credential(self) -> RestAccess:
        if (self.jwt_key_file is None) == (self.token_file is None):
            raise ValueError("set exactly one of jwt_key_file or token_file")
        if self.token_file is not None and not self.token_user:
            raise ValueError("token_file needs token_user (the Unix user the token is for)")
        return self


AccessConfig = Annotated[LocalAccess | SshAccess | RestAccess, Field(discriminator="kind")]


class Prices(_Strict):
    """What running costs at a site; all in ``currency`` (see docs/ledger.md)."""

    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$")
    core_hour: float = Field(0.0, ge=0)
    gpu_hour: float = Field(0.0, ge=0)
    node_hour: float = Field(0.0, ge=0, description="cloud nodes: price per powered-up node-hour")
    boot_billed: bool = Field(
        True, description="cloud nodes: each job's nodes are also billed for the boot_time"
    )
    spot_discount: float = Field(
        0.0, ge=0, lt=1, description="share off the price on the site's preemptible partitions"
    )
    spot_preemption_rate: float = Field(
        0.0, ge=0, description="preemptions per hour expected on the preemptible partitions"
    )


class PowerModel(_Strict):
    """Electrical power of a partition's nodes, for the energy ledger (and the simulator).

    A job draws ``core_w`` per allocated core and ``gpu_w`` per GPU, plus its share of its
    nodes' ``idle_w_per_node``; ``pue`` multiplies the whole (cooling, distribution).
    """

    core_w: float = Field(10.0, ge=0, description="watts per allocated core")
    gpu_w: float = Field(300.0, ge=0, description="watts per allocated GPU")
    idle_w_per_node: float = Field(0.0, ge=0, description="watts a node draws, busy or not")
    pue: float = Field(1.0, ge=1.0, description="power usage effectiveness of the data centre")


class Limits(_Strict):
    """Caps Hyperion respects when placing on a site."""

    max_pending_jobs: int | None = Field(None, ge=0)
    max_jobs_per_user: int | None = Field(None, ge=0)
    max_nodes_per_job: int | None = Field(None, ge=1)


class PartitionConfig(_Strict):
    """One Slurm partition and the shape of its nodes."""

    name: Name
    slurm_name: str | None = Field(None, description="name on the cluster if it differs")
    nodes: int = Field(ge=1)
    cores_per_node: int = Field(ge=1)
    mem_per_node: MemoryMiB
    gpus_per_node: int = Field(0, ge=0)
    gpu_type: str | None = Field(None, description="site-neutral GPU type, e.g. 'a100'")
    slurm_gpu_type: str | None = Field(None, description="GRES type name on the cluster")
    max_time: Duration = None
    default: bool = False
    preemptible: bool = False
    priority_tier: int = Field(1, ge=0)
    cloud: bool = False
    boot_time: Duration = 0
    idle_poweroff: Duration = None
    power: PowerModel | None = Field(None, description="overrides the site's power model")

    @property
    def slurm_partition(self) -> str:
        return self.slurm_name or self.name

    @property
    def max_time_s(self) -> int | None:
        return self.max_time

    @model_validator(mode="after")
    def _gpus(self) -> PartitionConfig:
        if self.gpus_per_node == 0 and (self.gpu_type or self.slurm_gpu_type):
            raise ValueError("gpu_type is set but gpus_per_node is 0")
        return self


class SiteConfig(_Strict):
    """One Slurm cluster (or cloud partition set) Hyperion can place jobs on."""

    name: Name
    description: str = ""
    enabled: bool = True
    access: AccessConfig
    partitions: list[PartitionConfig] = Field(min_length=1)
    prices: Prices = Prices()
    power: PowerModel = PowerModel()
    limits: Limits = Limits()
    carbon_zone: str | None = Field(
        None, description="zone of the default carbon provider (carbon.default_provider)"
    )
    carbon: SiteCarbonConfig | None = Field(
        None, description="the site's carbon provider, zone and fallback forecaster"
    )
    account_map: dict[str, str] = Field(default_factory=dict)
    qos_map: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _partitions(self) -> SiteConfig:
        names = [p.name for p in self.partitions]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"partition names must be unique, repeated: {', '.join(dupes)}")
        if sum(p.default for p in self.partitions) > 1:
            raise ValueError("at most one partition may be default = true")
        spot = self.prices.spot_discount or self.prices.spot_preemption_rate
        if spot and not any(p.preemptible for p in self.partitions):
            raise ValueError(
                "prices.spot_discount and spot_preemption_rate apply to preemptible partitions, "
                "and this site has none: set preemptible = true on the spot partition"
            )
        return self

    def power_of(self, part: PartitionConfig) -> PowerModel:
        """The partition's power model: its own, else the site's."""
        return part.power or self.power

    def partition(self, name: str) -> PartitionConfig | None:
        """The partition called ``name`` (Hyperion's name), or None."""
        return next((p for p in self.partitions if p.name == name), None)

    @property
    def default_partition(self) -> PartitionConfig:
        return next((p for p in self.partitions if p.default), self.partitions[0])


class DaemonSettings(_Strict):
    """The optional ``[hyperion]`` table: how hyperiond places, polls and re-places."""

    admin_group: str = Field("hyperion-admins", description="members see and cancel all jobs")
    default_policy: str = "earliest-start"
    fallback_policy: str = Field(
        "earliest-start", description="used when a policy cannot be loaded (e.g. a bad model)"
    )
    policy_options: dict[str, float | int | str | bool] = Field(default_factory=dict)
    poll_interval_s: float = Field(5.0, gt=0, description="first poll interval")
    poll_max_interval_s: float = Field(60.0, gt=0, description="adaptive back-off ceiling")
    snapshot_interval_s: float = Field(30.0, gt=0)
    reconcile_interval_s: float = Field(60.0, gt=0)
    replace: bool = Field(True, description="move jobs that wait too long")
    replace_interval_s: float = Field(30.0, gt=0)
    replace_after_s: float = Field(300.0, ge=0, description="pending this long before a move")
    replace_margin_s: float = Field(120.0, ge=0, description="required gain in predicted start")
    replace_margin_ratio: float = Field(
        0.2, ge=0, description="required gain as a share of the wait still expected"
    )
    max_moves: int = Field(2, ge=0, description="moves per job, against ping-pong")
    down_after_s: float = Field(120.0, gt=0, description="unanswered this long: site is down")
    unknown_grace_s: float = Field(60.0, ge=0, description="wait before resubmitting UNKNOWN")
    estimate_timeout_s: float = Field(15.0, gt=0)
    late_binding: bool = Field(
        False, description="hold jobs in Hyperion until a site has room (False: send at once)"
    )
    site_backlog: float = Field(
        0.5,
        ge=0,
        description="with late binding, Hyperion's jobs at a site (waiting or running) may use "
        "up to (1 + site_backlog) x the CPUs of its largest partition",
    )
    held_poll_interval_s: float = Field(
        0.5,
        gt=0,
        description="with late binding, the poll interval while jobs are held: how soon "
        "Hyperion sees the cores a job's end frees",
    )
    event_min_interval_s: float = Field(
        0.05,
        ge=0,
        description="job-end events (POST /events, from a site's EpilogSlurmctld hook) start a "
        "poll at once, but polls never follow each other closer than this",
    )
    hold_bypass_s: float = Field(
        60.0,
        ge=0,
        description="a held job that finds no room lets younger jobs pass it this long, then "
        "blocks its candidate sites for them until it goes",
    )


Period = Literal["day", "week", "month", "quarter", "year"]


class AccountBudget(_Strict):
    """What one account may spend per period, in the budgets' currency."""

    amount: float = Field(ge=0)
    period: Period | None = Field(None, description="overrides budgets.period")


class Budgets(_Strict):
    """The optional ``[budgets]`` table: spending caps per account (see docs/ledger.md)."""

    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$")
    period: Period = Field("month", description="calendar periods in UTC")
    exchange_rates: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict,
        description="units of the budgets' currency per unit of a site's currency",
    )
    accounts: dict[str, AccountBudget] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _rates(self) -> Budgets:
        bad = sorted(c for c in self.exchange_rates if not re.fullmatch(r"[A-Z]{3}", c))
        if bad:
            raise ValueError(f"exchange_rates: {bad[0]!r} is not a currency code such as USD")
        return self

    def rate(self, currency: str) -> float | None:
        """Budget-currency units per unit of ``currency``; None when unknown."""
        return 1.0 if currency == self.currency else self.exchange_rates.get(currency)


class HyperionConfig(_Strict):
    """A whole configuration file: the sites and where it was read from."""

    sites: dict[str, SiteConfig]
    hyperion: DaemonSettings = DaemonSettings()
    budgets: Budgets = Budgets()
    carbon: CarbonConfig = CarbonConfig()
    source: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _carbon(self) -> HyperionConfig:
        from hyperion.carbon.forecast import make_forecaster
        from hyperion.errors import HyperionError

        names = ", ".join(sorted(self.carbon.providers)) or "none"
        fix = f"add [carbon.providers.NAME] or use one of: {names}"
        default = self.carbon.default_provider
        if default is not None and default not in self.carbon.providers:
            raise ValueError(f"carbon.default_provider: no provider {default!r}; {fix}")
        for spec, where in [(self.carbon.default_forecaster, "carbon.default_forecaster")] + [
            (s.carbon.forecaster, f"sites.{n}.carbon.forecaster")
            for n, s in self.sites.items()
            if s.carbon is not None
        ]:
            try:
                make_forecaster(spec)
            except HyperionError as exc:
                raise ValueError(f"{where}: {exc.message} ({exc.hint})") from None
        for name, site in sorted(self.sites.items()):
            sc = site.carbon
            if sc is not None and sc.provider not in self.carbon.providers:
                raise ValueError(
                    f"sites.{name}.carbon.provider: no provider {sc.provider!r}; {fix}"
                )
            if sc is not None and site.carbon_zone and site.carbon_zone != sc.zone:
                raise ValueError(
                    f"sites.{name}: carbon_zone {site.carbon_zone!r} and carbon.zone "
                    f"{sc.zone!r} differ: keep only sites.{name}.carbon"
                )
        return self

    def site_carbon(self, name: str) -> SiteCarbonConfig | None:
        """Where a site's carbon intensity comes from: its ``carbon`` table, else its
        ``carbon_zone`` at the default provider; None when it has no carbon source."""
        site = self.sites[name]
        if site.carbon is not None:
            return site.carbon
        default = self.carbon.default()
        if site.carbon_zone and default is not None:
            return SiteCarbonConfig(
                provider=default, zone=site.carbon_zone, forecaster=self.carbon.default_forecaster
            )
        return None

    @model_validator(mode="after")
    def _budget_currencies(self) -> HyperionConfig:
        if not self.budgets.accounts:
            return self
        for name, site in sorted(self.sites.items()):
            cur = site.prices.currency
            if self.budgets.rate(cur) is None:
                raise ValueError(
                    f"sites.{name}.prices.currency is {cur} but the budgets are in "
                    f"{self.budgets.currency}: add budgets.exchange_rates.{cur} = "
                    f"<{self.budgets.currency} per {cur}>"
                )
        return self

    def site(self, name: str) -> SiteConfig:
        """The site called ``name``; a clear error listing the known sites otherwise."""
        from hyperion.errors import ConfigError

        try:
            return self.sites[name]
        except KeyError:
            known = ", ".join(sorted(self.sites)) or "(none)"
            raise ConfigError(
                f"no site named {name!r} in {self.source}; known sites: {known}"
            ) from None
