"""``hyperion bench fidelity``: the simulator against real Slurm on the same workload.

A seeded workload (``--jobs``, default 200; 1..8 cores; ``sleep`` 2-12 s; limits of whole
minutes, above the run times as users ask; Poisson arrivals at an offered load above 1 so that a
queue builds up) is replayed on one testbed cluster (default alpha, see
:mod:`hyperion.bench.fidelity_live`), then simulated on the site built from the same site
description (``--config``, through :mod:`hyperion.sim.config`) with the jobs as Slurm saw them:
its submit times, its measured run times (end - start) and its time limits. Reported: Spearman's
rank correlation of start times (ties share ranks) and of waits, Pearson's of both, mean waits on
both sides and the mean absolute error of the waits, for the site as the simulator file sets it
up and, from the same live run, for each of :data:`VARIANTS` (``--backfill`` and
``--node-packing`` change the main one). ``--save`` keeps Slurm's records, ``--observed``
re-runs only the simulated side from them. See docs/simulator.md, "Fidelity against real Slurm".
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hyperion.bench.fidelity_live import (
    Cluster,
    Observed,
    PlannedJob,
    foreign_jobs,
    replay,
    wait_idle,
)
from hyperion.bench.fidelity_stats import Agreement, agreement, latencies
from hyperion.errors import HyperionError
from hyperion.sim.site import SimSite

#: simulator settings compared from one live run: name -> simulator-file options
VARIANTS: dict[str, dict[str, Any]] = {
    "easy": {"backfill": "easy"},
    "conservative": {"backfill": "conservative"},
    "none": {"backfill": "none"},
    "easy-nodes": {"backfill": "easy", "node_packing": True},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=200, help="jobs in the workload")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--load", type=float, default=1.3, help="offered load (> 1: a queue)")
    parser.add_argument("--min-run", type=int, default=2, help="shortest sleep (s)")
    parser.add_argument("--max-run", type=int, default=12, help="longest sleep (s)")
    parser.add_argument(
        "--limit-factor", type=float, default=4.0, help="limit = ceil(run * U(1, this)) minutes"
    )
    parser.add_argument("--max-cores", type=int, default=8, help="widest job (cores)")
    parser.add_argument("--site", default="alpha", help="site (Slurm cluster) to replay on")
    parser.add_argument("--config", help="site config (default: $HYPERION_CONFIG)")
    parser.add_argument("--sim-config", help="simulator file (default: CONFIG's NAME.sim.toml)")
    parser.add_argument(
        "--backfill",
        choices=("easy", "conservative", "none"),
        help="main simulated backfill mode (default: the simulator file's)",
    )
    parser.add_argument(
        "--node-packing",
        action="store_true",
        help="main simulated site places jobs on nodes (default: the simulator file's)",
    )
    parser.add_argument("--slurm-conf", help="the cluster's slurm.conf (default: the testbed's)")
    parser.add_argument("--user", default="alice", help="user the jobs are submitted as")
    parser.add_argument("--mem-per-cpu", type=int, default=100, help="MB per core asked")
    parser.add_argument("--idle-timeout", type=float, default=300, help="wait for an idle cluster")
    parser.add_argument(
        "--launch-latency", type=float, default=0.0, help="simulated jobs arrive this much later"
    )
    parser.add_argument(
        "--release-latency", type=float, default=0.0, help="simulated jobs hold cores this longer"
    )
    parser.add_argument("--save", metavar="FILE", help="write Slurm's records of the run here")
    parser.add_argument(
        "--observed", metavar="FILE", help="no live run: simulate the records of an earlier --save"
    )
    parser.add_argument("--json", action="store_true")


def plan_workload(
    n: int,
    *,
    seed: int,
    total_cores: int,
    max_cores: int,
    load: float,
    min_run: int,
    max_run: int,
    limit_factor: float,
) -> list[PlannedJob]:
    """``n`` jobs: 45% serial, the rest log-uniform in 2..``max_cores``; log-uniform integer run
    times; limits ceil(run * U(1, ``limit_factor``) / 60) minutes; Poisson arrivals whose span
    makes the offered core-seconds ``load`` times the machine's."""
    if n < 1 or not 1 <= min_run <= max_run or max_cores < 1 or load <= 0 or limit_factor < 1:
        raise HyperionError("need jobs >= 1, 1 <= min-run <= max-run, max-cores >= 1, load > 0")
    rng = random.Random(seed)
    top = min(max_cores, total_cores)
    sizes = [
        1
        if top == 1 or rng.random() < 0.45
        else min(top, max(2, round(2 ** rng.uniform(0.5, math.log2(top)))))
        for _ in range(n)
    ]
    runs = [round(math.exp(rng.uniform(math.log(min_run), math.log(max_run)))) for _ in range(n)]
    limits = [max(1, math.ceil(r * rng.uniform(1, limit_factor) / 60)) for r in runs]
    span = sum(s * r for s, r in zip(sizes, runs, strict=True)) / (load * total_cores)
    gaps = [rng.expovariate(1.0) for _ in range(n - 1)]
    scale = span / sum(gaps) if gaps and sum(gaps) > 0 else 0.0
    offsets = [0.0]
    for g in gaps:
        offsets.append(offsets[-1] + g * scale)
    return [PlannedJob(i + 1, round(offsets[i], 1), sizes[i], runs[i], limits[i]) for i in range(n)]


def build_site(
    config: Path, name: str, sim_config: str | None, overrides: dict[str, Any]
) -> tuple[SimSite, int]:
    """The simulated site ``name`` of a site config, its simulator options replaced by
    ``overrides`` (and its cores per node)."""
    from hyperion.config import load_config
    from hyperion.sim.config import sim_options, site_from_config

    cfg = load_config(config)
    sc = cfg.site(name)
    sim_path = Path(sim_config) if sim_config else config.with_suffix(".sim.toml")
    known = sim_path if sim_config or sim_path.exists() else None
    opts = sim_options(known, list(cfg.sites))[name]
    opts.update(overrides)
    base = (known or config).resolve().parent
    return site_from_config(sc, opts, base=base), sc.default_partition.cores_per_node


def simulate(
    observed: Sequence[Observed],
    site: SimSite,
    mem_per_cpu: int,
    *,
    launch_s: float = 0.0,
    release_s: float = 0.0,
) -> list[float]:
    """Simulated start times (epoch s, as Slurm's) of the observed jobs, in their order.

    Each job arrives ``launch_s`` after Slurm's submit time and holds its cores ``release_s``
    beyond Slurm's end time (both 0: the jobs exactly as Slurm recorded them)."""
    from hyperion.placement.heuristics import get_policy
    from hyperion.sim.engine import Engine
    from hyperion.sim.job import SimJob

    t0 = min(o.submit for o in observed)
    jobs = [
        SimJob(
            int(o.job_id),
            o.submit - t0 + launch_s,
            o.end - o.start + release_s,
            o.limit_min * 60.0,
            o.cores,
            mem_per_core=mem_per_cpu,
            home=site.name,
        )
        for o in observed
    ]
    by_id = {j.job_id: j for j in jobs}
    Engine([site], get_policy("home")).run(sorted(jobs, key=lambda j: (j.submit, j.job_id)))
    missing = [j.job_id for j in jobs if j.start < 0]
    if missing:
        raise HyperionError(f"the simulator did not run job(s) {missing[:5]}")
    return [t0 + by_id[int(o.job_id)].start for o in observed]


def _conf(args: argparse.Namespace) -> str:
    if args.slurm_conf:
        return str(args.slurm_conf)
    root = (
        os.environ.get("HYPERION_TESTBED_DIR") or Path(__file__).resolve().parents[2] / ".testbed"
    )
    conf = Path(root) / args.site / "slurm.conf"
    if not conf.exists():
        raise HyperionError(
            f"no slurm.conf for {args.site} at {conf}",
            hint="bring the testbed up (scripts/testbed up) or pass --slurm-conf",
        )
    return str(conf)


def _live(args: argparse.Namespace, total_cores: int) -> tuple[list[Observed], dict[str, Any]]:
    plan = plan_workload(
        args.jobs,
        seed=args.seed,
        total_cores=total_cores,
        max_cores=args.max_cores,
        load=args.load,
        min_run=args.min_run,
        max_run=args.max_run,
        limit_factor=args.limit_factor,
    )
    cluster = Cluster(args.site, _conf(args), args.user, args.mem_per_cpu)
    wait_idle(cluster, args.idle_timeout)
    prefix = f"hfid-{uuid.uuid4().hex[:6]}-"
    observed = replay(cluster, plan, prefix=prefix)
    t_from = min(o.submit for o in observed)
    t_to = max(o.end for o in observed)
    info = {
        "seed": args.seed,
        "load": args.load,
        "runs_s": [args.min_run, args.max_run],
        "limit_factor": args.limit_factor,
        "max_cores": args.max_cores,
        "span_s": plan[-1].offset,
        "foreign_jobs": foreign_jobs(cluster, prefix, t_from, t_to),
    }
    if args.save:
        doc = {"info": info, "observed": [o.as_dict() for o in observed]}
        Path(args.save).write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return observed, info


def _load(path: str) -> tuple[list[Observed], dict[str, Any]]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        return [Observed(**o) for o in doc["observed"]], dict(doc.get("info") or {})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HyperionError(f"{path}: not a file written by --save ({exc})") from None


def compare(
    observed: Sequence[Observed],
    sites: dict[str, SimSite],
    cores_per_node: int,
    mem: int,
    **latency: float,
) -> dict[str, Any]:
    """Agreement of every simulated variant with the live run, overall and by job width."""
    bad = [o.job_id for o in observed if not (0 < o.submit <= o.start <= o.end)]
    if bad:
        raise HyperionError(f"job(s) {bad[:5]} have no complete submit/start/end in sacct")
    submit = [o.submit for o in observed]
    live = [o.start for o in observed]
    out: dict[str, Any] = {}
    for mode, site in sites.items():
        sim = simulate(observed, site, mem, **latency)
        parts: dict[str, Agreement] = {"all": agreement(submit, live, sim)}
        for label, keep in (("one_node", True), ("multi_node", False)):
            idx = [i for i, o in enumerate(observed) if (o.cores <= cores_per_node) == keep]
            if idx:
                parts[label] = agreement(*([xs[i] for i in idx] for xs in (submit, live, sim)))
        out[mode] = {"sim_start": sim, **{k: v.as_dict() for k, v in parts.items()}}
    return out


def _on_nodes(site: SimSite) -> bool:
    from hyperion.sim.nodepool import NodePool

    return isinstance(site.pools[0], NodePool)


def _no_nan(value: Any) -> Any:
    """``value`` with NaN (an undefined correlation) as None, so the JSON is standard."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


def run(args: argparse.Namespace) -> int:
    from hyperion.cli.common import config_path

    config = Path(config_path(args.config))
    main_opts: dict[str, Any] = {"backfill": args.backfill} if args.backfill else {}
    if args.node_packing:
        main_opts["node_packing"] = True
    main_site, per_node = build_site(config, args.site, args.sim_config, main_opts)
    sites = {"main": main_site}
    for name, opts in VARIANTS.items():
        sites[name] = build_site(config, args.site, args.sim_config, opts)[0]
    total = sum(p.cores for p in main_site.pools)
    observed, info = _load(args.observed) if args.observed else _live(args, total)
    observed.sort(key=lambda o: int(o.job_id))
    lat = {"launch_s": args.launch_latency, "release_s": args.release_latency}
    results = compare(observed, sites, per_node, args.mem_per_cpu, **lat)
    doc = _document(args.site, observed, info, results, total)
    doc["backfill"] = main_site.pools[0].mode + ("-nodes" if _on_nodes(main_site) else "")
    doc["sim_latency"] = lat
    if args.json:
        json.dump(_no_nan(doc), sys.stdout, indent=2)
        print()
    else:
        from hyperion.bench.fidelity_report import print_report

        print_report(doc)
    return 0


def _document(
    site: str,
    observed: Sequence[Observed],
    info: dict[str, Any],
    results: dict[str, Any],
    total_cores: int,
) -> dict[str, Any]:
    """The report: workload, Slurm's latencies, agreement of every variant, the jobs."""
    t0 = min(o.submit for o in observed)
    runs = [o.end - o.start for o in observed]
    main = results["main"]["sim_start"]
    return {
        "site": site,
        "workload": {
            **info,
            "jobs": len(observed),
            "multi_node_jobs": sum(1 for o in observed if o.nodes > 1),
            "not_completed": sum(1 for o in observed if o.state != "COMPLETED"),
            "makespan_s": max(o.end for o in observed) - t0,
        },
        "sim_makespan_s": {
            m: max(s + r for s, r in zip(results[m]["sim_start"], runs, strict=True)) - t0
            for m in VARIANTS
        },
        "slurm_latency": latencies(
            [o.submit for o in observed],
            [o.start for o in observed],
            [o.end for o in observed],
            [o.cores for o in observed],
            total_cores,
        ),
        "main": {k: v for k, v in results["main"].items() if k != "sim_start"},
        "variants": {
            m: {k: v for k, v in results[m].items() if k != "sim_start"} for m in VARIANTS
        },
        "jobs": [
            {
                "job_id": o.job_id,
                "cores": o.cores,
                "nodes": o.nodes,
                "limit_min": o.limit_min,
                "run_s": r,
                "submit_s": o.submit - t0,
                "wait_live_s": o.start - o.submit,
                "wait_sim_s": s - o.submit,
            }
            for o, r, s in zip(observed, runs, main, strict=True)
        ],
    }
