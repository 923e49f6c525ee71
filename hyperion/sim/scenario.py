"""Build a simulation scenario (sites + workload) from command-line style arguments.

Workload specs: a path to an SWF file, optionally ``PATH@SITE`` to give its jobs that home
site, or ``lublin:JOBS:LOAD[:SIZE]`` for a generated workload (see :mod:`hyperion.sim.lublin`).

Sites come from a site-config TOML (``--sites``, plus an optional simulator file
``--sim-config``, see :mod:`hyperion.sim.config`), or, without one, are built to the first
workload's machine size: one site per carbon CSV (named after the file's zone, e.g. ``DE`` for
``DE_2023_hourly.csv``), or a single site ``site``. With N such synthetic sites and no explicit
time scale, submit times are multiplied by 1/N so each site sees the trace's original load.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from hyperion.errors import HyperionError
from hyperion.sim.carbon import read_carbon_csv
from hyperion.sim.config import load_sim_sites, uniform_sites
from hyperion.sim.job import SimJob
from hyperion.sim.lublin import generate
from hyperion.sim.site import SimSite
from hyperion.sim.swf import read_swf
from hyperion.sim.workload import (
    ESTIMATES,
    annotate_gpus,
    assign_flex,
    assign_homes,
    assign_partitions,
    assign_priorities,
    merge,
    scale_time,
    user_estimates,
)


@dataclass
class Workload:
    """One workload stream: its jobs, the machine size it was written for, a label."""

    label: str
    jobs: list[SimJob]
    machine_size: int
    home: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Scenario:
    """Sites and the merged job stream to run on them."""

    sites: list[SimSite]
    jobs: list[SimJob]
    label: str
    notes: list[str] = field(default_factory=list)


def load_workload(
    spec: str,
    *,
    seed: int = 0,
    max_procs: int | None = None,
    skip_bad: bool = False,
    segment: int = 0,
) -> Workload:
    """A workload from a spec (see the module docstring); ``segment`` > 0 cuts an SWF trace to
    the ``seed``-th run of ``segment`` consecutive jobs (:func:`trace_segment`)."""
    if spec.startswith("lublin:"):
        parts = spec.split(":")
        try:
            n = int(parts[1])
            load = float(parts[2])
            size = int(parts[3]) if len(parts) > 3 else 256
            if len(parts) > 4:
                raise ValueError
        except (ValueError, IndexError):
            raise HyperionError(
                f"bad generated workload {spec!r}",
                hint="write lublin:JOBS:LOAD[:SIZE], e.g. lublin:5000:0.8:256",
            ) from None
        jobs = generate(size, n, load=load, seed=seed)
        return Workload(
            f"lublin-{n}-{load:g}-{size}", jobs, size, notes=[f"{spec}: generated, seed {seed}"]
        )
    path, home = spec, None
    if "@" in spec and not Path(spec).exists():
        path, home = spec.rsplit("@", 1)
    tr = read_swf(path, max_procs=max_procs, skip_bad=skip_bad, home=home)
    label, jobs, notes = Path(path).stem, tr.jobs, [tr.summary()]
    if segment > 0:
        jobs, first = trace_segment(jobs, segment, seed)
        notes.append(
            f"{label}: jobs {first + 1}-{first + len(jobs)} (segment of {segment}, seed {seed})"
        )
    return Workload(label, jobs, tr.machine_size, home, notes)


def trace_segment(jobs: list[SimJob], size: int, seed: int) -> tuple[list[SimJob], int]:
    """The ``seed``-th run of ``size`` consecutive jobs (in submit order, wrapping around the
    trace's whole segments), submit times shifted to start at 0; and the index of its first job.

    Different seeds give different stretches of a real trace: its spread, as generator seeds
    give for generated workloads.
    """
    if size <= 0:
        raise HyperionError(f"--segment {size}: must be a positive number of jobs")
    if len(jobs) < size:
        raise HyperionError(
            f"--segment {size}: the trace has only {len(jobs)} jobs",
            hint="give a smaller segment or none",
        )
    ordered = sorted(jobs, key=lambda j: j.submit)
    first = (seed % (len(ordered) // size)) * size  # seeds past the last whole segment wrap
    part = ordered[first : first + size]
    t0 = part[0].submit
    out = []
    for j in part:
        c = j.copy()
        c.submit = j.submit - t0
        out.append(c)
    return out, first


def _zone_name(path: str) -> str:
    return Path(path).stem.split("_")[0] or Path(path).stem


def build(
    workloads: list[str],
    *,
    sites_config: str | None = None,
    sim_config: str | None = None,
    carbon: list[str] | None = None,
    backfill: bool = True,
    homes: str = "user",
    time_scale: float | None = None,
    gpu_share: float = 0.0,
    seed: int = 0,
    max_procs: int | None = None,
    skip_bad: bool = False,
    plan_depth: int = 100,
    priority_shares: dict[int, float] | None = None,
    partition_shares: dict[str, float] | None = None,
    flex_share: float = 0.0,
    flex_s: float = 6 * 3600.0,
    segment: int = 0,
    estimates: str = "trace",
) -> Scenario:
    """A scenario from workload specs and site options (see the module docstring).

    ``carbon`` entries are ``SITE=CSV`` (with ``sites_config``: that site's series) or ``CSV``
    (without: one synthetic site per file). ``priority_shares`` and ``partition_shares`` give
    seeded shares of jobs a priority or a partition request (:func:`assign_priorities`,
    :func:`assign_partitions`); SWF traces carry neither. ``flex_share`` of the jobs (seeded,
    :func:`assign_flex`) may start up to ``flex_s`` seconds late for greener power.
    ``segment`` > 0 runs the ``seed``-th stretch of that many jobs of each SWF trace.
    ``estimates``: requested times as the workload gives them (``trace``), as users write them
    where it gives none (``user``, :func:`user_estimates`), or either, drawn by seed (``mixed``).
    """
    if segment < 0:
        raise HyperionError(f"--segment {segment}: must be a positive number of jobs (0: all)")
    if estimates not in ESTIMATES:
        raise HyperionError(
            f"estimates {estimates!r}: unknown", hint=f"one of {', '.join(ESTIMATES)}"
        )
    if not workloads:
        raise HyperionError(
            "no workload given", hint="pass --trace FILE (an SWF file) or lublin:JOBS:LOAD"
        )
    wls = [
        load_workload(w, seed=seed, max_procs=max_procs, skip_bad=skip_bad, segment=segment)
        for w in workloads
    ]
    notes = [n for w in wls for n in w.notes]
    carbon = carbon or []
    if sites_config:
        pairs: dict[str, str] = {}
        for c in carbon:
            site, sep, csv_path = c.partition("=")
            if not sep:
                raise HyperionError(f"--carbon {c!r}: with --sites write SITE=CSV")
            pairs[site] = csv_path
        sites = load_sim_sites(
            sites_config, sim_config=sim_config, backfill=None if backfill else False, carbon=pairs
        )
        for s in sites:
            for p in s.pools:
                p.plan_depth = plan_depth
    else:
        size = max(w.machine_size for w in wls)
        series = {}
        for c in carbon:
            if "=" in c:
                name, _, csv_path = c.partition("=")
            else:
                name, csv_path = _zone_name(c), c
            if name in series:
                raise HyperionError(f"two carbon series for site {name!r}")
            series[name] = read_carbon_csv(csv_path)
        names = list(series) or ["site"]
        sites = uniform_sites(names, size, backfill=backfill, carbon=series, plan_depth=plan_depth)
        if time_scale is None and len(names) > 1:
            time_scale = 1.0 / len(names)
            notes.append(
                f"{len(names)} sites of {size} cores: submit times scaled by 1/{len(names)}"
            )
    names = [s.name for s in sites]
    for w in wls:
        if w.home is not None and w.home not in names:
            raise HyperionError(
                f"workload {w.label}: home site {w.home!r} is not a site",
                hint=f"sites: {', '.join(names)}",
            )
    streams: list[tuple[list[SimJob], str | None]] = []
    for i, w in enumerate(wls):
        if w.home is not None:
            streams.append((w.jobs, w.home))
        elif len(wls) > 1 and i < len(names):
            streams.append((w.jobs, names[i]))
        else:
            streams.append((assign_homes(w.jobs, names, homes, seed), None))
    jobs = merge(streams)
    if time_scale is not None and time_scale != 1.0:
        jobs = scale_time(jobs, time_scale)
    if gpu_share > 0:
        jobs = annotate_gpus(jobs, gpu_share, seed=seed)
    if priority_shares:
        jobs = assign_priorities(jobs, priority_shares, seed=seed)
    if partition_shares:
        jobs = assign_partitions(jobs, partition_shares, seed=seed + 1)
    if estimates == "user" or (estimates == "mixed" and random.Random(seed ^ 0xE57).random() < 0.5):
        jobs = user_estimates(jobs, seed=seed + 3)
        notes.append("requested times as users write them (where the workload gives none)")
    if flex_share > 0:
        jobs = assign_flex(jobs, flex_share, flex_s, seed=seed + 2)
        notes.append(f"{flex_share:.0%} of the jobs may start up to {flex_s / 3600:g} h late")
    label = "+".join(w.label for w in wls)
    return Scenario(sites, jobs, label, notes)
