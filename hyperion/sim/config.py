"""Simulated sites from the live site-config TOML, plus simulator-only fields.

The ``[sites.NAME]`` tables are read with :func:`hyperion.config.load_config`, exactly as the
daemon reads them. The live schema rejects unknown keys, so the fields it does not have live in
a separate *simulator file* (``--sim-config``; by default ``NAME.sim.toml`` beside ``NAME.toml``
when it exists)::

    [sim.defaults]            # for every site; power: default the site's [sites.NAME.power]
    core_w = 10.0             # watts per busy core
    gpu_w = 300.0             # watts per busy GPU
    idle_w_per_node = 50.0    # watts every node draws, busy or not
    pue = 1.2
    backfill = true           # EASY backfilling; "conservative"; false: none (plain queue order)
    order = "fcfs"            # queue order: "fcfs" (submission) or "priority" (job priority first)
    plan_depth = 100          # queued jobs in the start-time plan (like Slurm's bf_max_job_test)
    checkpoint_interval_s = 0 # requeued (preempted) jobs keep work up to their last checkpoint
    node_packing = false      # true: plain partitions are nodes (cores, memory, GPUs per node)

    [sim.sites.campus]        # per site, overriding the defaults
    carbon_csv = "${HYPERION_CARBON}/DE_2023_hourly.csv"   # or carbon_g_per_kwh = 350.0
    carbon_column = "Carbon Intensity gCO₂eq/kWh (direct)" # optional
    carbon_offset_s = 0       # simulated t=0 reads the series at its start + offset
    share_nodes = [["gpu", "gpu-priority"]]  # partitions on the same nodes (default: inferred)

Relative ``carbon_csv`` paths are resolved against the simulator file's directory.

From the live schema: ``cloud = true`` partitions become :class:`~hyperion.sim.cloud.CloudPool`
(``nodes`` is the capacity cap, ``boot_time``, ``idle_poweroff``, priced by ``prices.node_hour``
per powered-up node-hour). Partitions on the same nodes become one
:class:`~hyperion.sim.preempt.SharedPool` with preemption of ``preemptible`` partitions by
higher ``priority_tier`` ones. Which partitions share nodes the live schema does not say:
``share_nodes`` lists the groups; without it, non-cloud partitions of identical node shape
(nodes, cores, GPUs, GPU type, memory) are grouped when one of them is preemptible and another
has a higher tier (``share_nodes = []`` turns that off). With ``node_packing = true`` the other
non-cloud partitions become :class:`~hyperion.sim.nodepool.NodePool` (``nodes`` nodes of
``cores_per_node`` cores, ``mem_per_node`` MB and ``gpus_per_node`` GPUs; EASY or no backfilling
only); cloud partitions already hand out whole nodes and node-sharing groups stay pooled.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from hyperion.config.loader import expand_env, load_config
from hyperion.config.schema import PartitionConfig, SiteConfig
from hyperion.errors import ConfigError
from hyperion.sim.carbon import CarbonSeries, read_carbon_csv
from hyperion.sim.cloud import CloudPool
from hyperion.sim.nodepool import NodePool
from hyperion.sim.pool import BACKFILL_MODES, ORDERS, Pool, backfill_mode
from hyperion.sim.preempt import Member, SharedPool
from hyperion.sim.site import EnergyModel, PriceModel, SimSite

#: simulator-only keys accepted in ``[sim.defaults]`` and ``[sim.sites.NAME]``
SIM_KEYS: dict[str, type | tuple[type, ...]] = {
    "core_w": (int, float),
    "gpu_w": (int, float),
    "idle_w_per_node": (int, float),
    "pue": (int, float),
    "backfill": (bool, str),
    "order": str,
    "plan_depth": int,
    "checkpoint_interval_s": (int, float),
    "node_packing": bool,
    "share_nodes": list,
    "carbon_csv": str,
    "carbon_column": str,
    "carbon_g_per_kwh": (int, float),
    "carbon_offset_s": (int, float),
}


def _check_table(table: object, where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    for key, value in table.items():
        if key not in SIM_KEYS:
            raise ConfigError(
                f"{where}.{key}: unknown simulator key",
                hint=f"valid keys: {', '.join(SIM_KEYS)}",
            )
        allowed = SIM_KEYS[key]
        if isinstance(value, bool) and bool not in (allowed if isinstance(allowed, tuple) else ()):
            if allowed is not bool:
                raise ConfigError(f"{where}.{key}: expected a number, got {value!r}")
        if not isinstance(value, allowed):
            raise ConfigError(f"{where}.{key}: wrong type {type(value).__name__} ({value!r})")
        _check_value(key, value, f"{where}.{key}")
    return dict(table)


def _check_value(key: str, value: Any, where: str) -> None:
    if key == "backfill" and isinstance(value, str) and value not in BACKFILL_MODES:
        raise ConfigError(
            f"{where}: unknown backfill mode {value!r}",
            hint=f"use true, false or one of {', '.join(BACKFILL_MODES)}",
        )
    if key == "order" and value not in ORDERS:
        raise ConfigError(f"{where}: unknown order {value!r}", hint=f"use {' or '.join(ORDERS)}")
    if key == "checkpoint_interval_s" and value < 0:
        raise ConfigError(f"{where}: must be >= 0 (0: no checkpoints), got {value!r}")
    if key == "share_nodes" and not all(
        isinstance(g, list) and all(isinstance(n, str) for n in g) for g in value
    ):
        raise ConfigError(
            f"{where}: expected a list of lists of partition names",
            hint='e.g. share_nodes = [["gpu", "gpu-priority"]]',
        )


def sim_options(path: Path | None, sites: list[str]) -> dict[str, dict[str, Any]]:
    """The merged ``[sim]`` options per site from a simulator file (defaults, then per site)."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such simulator file") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the simulator file: {exc}") from None
    other = sorted(set(raw) - {"sim"})
    if other:
        raise ConfigError(
            f"{path}: {other[0]}: unknown table",
            hint="put everything under [sim.defaults] or [sim.sites.NAME]",
        )
    sim = raw.get("sim", {})
    if not isinstance(sim, dict):
        raise ConfigError(f"{path}: [sim] must be a table")
    unknown = sorted(set(sim) - {"defaults", "sites"})
    if unknown:
        raise ConfigError(
            f"{path}: sim.{unknown[0]}: unknown table",
            hint="use [sim.defaults] or [sim.sites.NAME]",
        )
    defaults = _check_table(sim.get("defaults", {}), f"{path}: sim.defaults")
    per_site = sim.get("sites", {})
    if not isinstance(per_site, dict):
        raise ConfigError(f"{path}: sim.sites must be a table of sites")
    extra = sorted(set(per_site) - set(sites))
    if extra:
        raise ConfigError(
            f"{path}: sim.sites.{extra[0]}: no such site",
            hint=f"sites are: {', '.join(sites)}",
        )
    out = {}
    for name in sites:
        opts = dict(defaults)
        opts.update(_check_table(per_site.get(name, {}), f"{path}: sim.sites.{name}"))
        out[name] = opts
    return out


def _carbon(opts: dict[str, Any], base: Path, where: str) -> CarbonSeries | None:
    if "carbon_csv" in opts and "carbon_g_per_kwh" in opts:
        raise ConfigError(f"{where}: set carbon_csv or carbon_g_per_kwh, not both")
    offset = float(opts.get("carbon_offset_s", 0.0))
    if "carbon_csv" in opts:
        p = Path(expand_env(opts["carbon_csv"], where=f"{where}.carbon_csv")).expanduser()
        if not p.is_absolute():
            p = base / p
        return read_carbon_csv(p, column=opts.get("carbon_column"), offset=offset)
    if "carbon_g_per_kwh" in opts:
        return CarbonSeries.constant(float(opts["carbon_g_per_kwh"]))
    return None


def _shape(p: PartitionConfig) -> tuple[object, ...]:
    return (p.nodes, p.cores_per_node, p.gpus_per_node, p.gpu_type, p.mem_per_node)


def node_groups(sc: SiteConfig, given: list[list[str]] | None) -> list[list[str]]:
    """Groups of partitions on the same nodes: ``given`` (checked), else inferred (see the
    module docstring). Each group lists the default partition first, then config order."""
    where = f"sim.sites.{sc.name}.share_nodes"
    if given is None:
        buckets: dict[tuple[object, ...], list[PartitionConfig]] = {}
        for p in sc.partitions:
            if not p.cloud:
                buckets.setdefault(_shape(p), []).append(p)
        groups = [
            [p.name for p in ps]
            for ps in buckets.values()
            if any(p.preemptible and any(q.priority_tier > p.priority_tier for q in ps) for p in ps)
        ]
    else:
        groups = [list(g) for g in given if g]
        seen: set[str] = set()
        for g in groups:
            shape: tuple[object, ...] | None = None
            for n in g:
                part = sc.partition(n)
                if part is None:
                    raise ConfigError(
                        f"{where}: site {sc.name!r} has no partition {n!r}",
                        hint=f"partitions: {', '.join(q.name for q in sc.partitions)}",
                    )
                if n in seen:
                    raise ConfigError(f"{where}: partition {n!r} is in more than one group")
                if part.cloud:
                    raise ConfigError(f"{where}: {n!r} is a cloud partition (cannot share nodes)")
                shape = shape or _shape(part)[:3]
                if _shape(part)[:3] != shape:
                    raise ConfigError(
                        f"{where}: {n!r} and {g[0]!r} differ in nodes, cores or GPUs per node",
                        hint="partitions that share nodes must describe the same nodes",
                    )
                seen.add(n)
    default = sc.default_partition.name
    order = {p.name: i for i, p in enumerate(sc.partitions)}
    return [sorted(g, key=lambda n: (n != default, order[n])) for g in groups if len(g) > 1]


def site_from_config(
    sc: SiteConfig, opts: dict[str, Any], *, base: Path, backfill: bool | None = None
) -> SimSite:
    """One :class:`SimSite` from a live :class:`SiteConfig` and its simulator options."""
    common: dict[str, Any] = {
        "backfill": opts.get("backfill", True) if backfill is None else backfill,
        "order": opts.get("order", "fcfs"),
        "plan_depth": int(opts.get("plan_depth", 100)),
    }
    packing = bool(opts.get("node_packing", False))
    if packing and backfill_mode(common["backfill"]) == "conservative":
        raise ConfigError(
            f"sim.sites.{sc.name}: node_packing does not support conservative backfilling",
            hint="use backfill = true (EASY) or false with node_packing = true",
        )
    groups = node_groups(sc, opts.get("share_nodes"))
    group_of = {n: i for i, g in enumerate(groups) for n in g}
    emitted: set[int] = set()
    pools: list[Pool] = []
    for p in sc.partitions:
        gi = group_of.get(p.name)
        if gi is not None:
            if gi not in emitted:  # the group goes where its first partition is
                emitted.add(gi)
                g = groups[gi]
                parts = [sc.partition(n) for n in g]
                pools.append(
                    SharedPool(
                        "+".join(g),
                        p.nodes * p.cores_per_node,
                        p.nodes * p.gpus_per_node,
                        nodes=p.nodes,
                        members=[
                            Member(q.name, q.priority_tier, q.preemptible, q.max_time)
                            for q in parts
                            if q is not None
                        ],
                        checkpoint_s=float(opts.get("checkpoint_interval_s", 0)),
                        **common,
                    )
                )
        elif p.cloud:
            pools.append(
                CloudPool(
                    p.name,
                    p.nodes,
                    p.cores_per_node,
                    p.gpus_per_node,
                    boot_time=float(p.boot_time or 0),
                    idle_poweroff=None if p.idle_poweroff is None else float(p.idle_poweroff),
                    max_time=p.max_time,
                    priority_tier=p.priority_tier,
                    preemptible=p.preemptible,
                    **common,
                )
            )
        elif packing:
            pools.append(
                NodePool(
                    p.name,
                    p.nodes,
                    p.cores_per_node,
                    p.gpus_per_node,
                    mem_per_node=p.mem_per_node,
                    max_time=p.max_time,
                    priority_tier=p.priority_tier,
                    preemptible=p.preemptible,
                    **common,
                )
            )
        else:
            pools.append(
                Pool(
                    p.name,
                    p.nodes * p.cores_per_node,
                    p.nodes * p.gpus_per_node,
                    nodes=p.nodes,
                    max_time=p.max_time,
                    priority_tier=p.priority_tier,
                    preemptible=p.preemptible,
                    **common,
                )
            )
    first = sc.default_partition.name
    pools.sort(key=lambda q: first not in q.names)  # default partition first
    default = sc.power  # the site config's power model (docs/ledger.md); the sim file overrides
    energy = EnergyModel(
        core_w=float(opts.get("core_w", default.core_w)),
        gpu_w=float(opts.get("gpu_w", default.gpu_w)),
        idle_w_per_node=float(opts.get("idle_w_per_node", default.idle_w_per_node)),
        pue=float(opts.get("pue", default.pue)),
    )
    prices = PriceModel(
        core_hour=sc.prices.core_hour,
        gpu_hour=sc.prices.gpu_hour,
        node_hour=sc.prices.node_hour,
        currency=sc.prices.currency,
    )
    return SimSite(
        sc.name,
        pools,
        energy=energy,
        prices=prices,
        carbon=_carbon(opts, base, f"sim.sites.{sc.name}"),
        cloud=frozenset(p.name for p in sc.partitions if p.cloud),
    )


def load_sim_sites(
    path: str | Path,
    *,
    sim_config: str | Path | None = None,
    backfill: bool | None = None,
    carbon: dict[str, str] | None = None,
) -> list[SimSite]:
    """Every enabled site of a config file as a :class:`SimSite`.

    ``sim_config`` is the simulator file (default: ``NAME.sim.toml`` beside the config, if it
    exists); ``carbon`` maps site names to carbon CSV paths, overriding the simulator file.
    """
    path = Path(path)
    cfg = load_config(path)
    names = [n for n, s in cfg.sites.items() if s.enabled]
    if not names:
        raise ConfigError(f"{path}: every site is disabled (enabled = false)")
    sim_path = Path(sim_config) if sim_config is not None else path.with_suffix(".sim.toml")
    if sim_config is None and not sim_path.exists():
        opts = sim_options(None, list(cfg.sites))
        base = path.resolve().parent
    else:
        opts = sim_options(sim_path, list(cfg.sites))
        base = sim_path.resolve().parent
    for name, csv_path in (carbon or {}).items():
        if name not in cfg.sites:
            raise ConfigError(
                f"--carbon {name}=...: no site {name!r} in {path}",
                hint=f"sites: {', '.join(names)}",
            )
        opts[name].pop("carbon_g_per_kwh", None)
        opts[name]["carbon_csv"] = str(Path(csv_path).resolve())
    return [site_from_config(cfg.sites[n], opts[n], base=base, backfill=backfill) for n in names]


def uniform_sites(
    names: list[str],
    cores: int,
    *,
    gpus: int = 0,
    backfill: bool = True,
    carbon: dict[str, CarbonSeries] | None = None,
    prices: dict[str, PriceModel] | None = None,
    energy: EnergyModel | None = None,
    plan_depth: int = 100,
) -> list[SimSite]:
    """Sites of one partition each with the same size (e.g. a trace's machine size)."""
    return [
        SimSite(
            n,
            [Pool("batch", cores, gpus, backfill=backfill, plan_depth=plan_depth)],
            energy=energy or EnergyModel(),
            prices=(prices or {}).get(n, PriceModel()),
            carbon=(carbon or {}).get(n),
        )
        for n in names
    ]
