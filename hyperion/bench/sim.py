"""``hyperion bench sim``: simulated jobs per second on a trace the user gives.

Measures (best of ``--repeat`` runs, wall clock of the engine only, trace parsing excluded):

* FCFS + EASY backfilling on one site of the trace's machine size;
* plain FCFS on that site (the correctness anchor's configuration);
* ``earliest-start`` over 4 sites of the trace's size, jobs homed by user, submit times scaled by
  1/4 so each site sees the trace's original load;
* side by side with AccaSim (PyPI ``accasim``, when installed: ``pip install hyperion[bench]``):
  its EASY and FIFO dispatchers on the same jobs (once each: it is slow), their jobs/s, the ratio
  to ours and both sets of metrics (see :mod:`hyperion.sim.accasim` for why EASY differs).
  Without AccaSim the bench says it skipped this and why; ``--no-accasim`` skips it;
* with ``--cores-per-node N``, the EASY and multi-site cases again on node-aware partitions
  (:class:`~hyperion.sim.nodepool.NodePool`) of N-core nodes.

The trace comes from ``--trace PATH`` or the ``HYPERION_TRACES`` environment variable (a file,
or a directory holding ``lublin_256.swf``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hyperion.errors import HyperionError

DEFAULT_TRACE = "lublin_256.swf"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trace", help=f"SWF trace (default: $HYPERION_TRACES or $HYPERION_TRACES/{DEFAULT_TRACE})"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the best is reported")
    parser.add_argument("--sites", type=int, default=4, help="sites in the multi-site case")
    parser.add_argument(
        "--no-accasim", action="store_true", help="skip the side-by-side run of AccaSim"
    )
    parser.add_argument(
        "--accasim-jobs",
        type=int,
        default=0,
        metavar="N",
        help="compare with AccaSim on the first N jobs only (default: all; AccaSim's FIFO "
        "runs a few hundred jobs/s)",
    )
    parser.add_argument(
        "--cores-per-node",
        type=int,
        default=0,
        metavar="N",
        help="also run the EASY and multi-site cases on nodes of N cores (node packing)",
    )
    parser.add_argument("--json", action="store_true")


def trace_path(given: str | None) -> Path:
    """The trace to use, from the flag or HYPERION_TRACES; a clear error if there is none."""
    if given:
        return Path(given)
    env = os.environ.get("HYPERION_TRACES")
    if not env:
        raise HyperionError(
            "no trace given for the benchmark",
            hint="pass --trace FILE.swf or set HYPERION_TRACES (a file or a directory)",
        )
    p = Path(env)
    if p.is_dir():
        cand = p / DEFAULT_TRACE
        if not cand.exists():
            found = ", ".join(sorted(x.name for x in p.glob("*.swf"))) or "none"
            raise HyperionError(
                f"HYPERION_TRACES={env}: no {DEFAULT_TRACE} there",
                hint=f"pass --trace; .swf files there: {found}",
            )
        return cand
    return p


def _best(run: Any, repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(max(1, repeat)):
        m = run()
        if m.seconds < best:
            best, result = m.seconds, m
    return best, result


def measure(
    path: Path,
    repeat: int = 3,
    n_sites: int = 4,
    *,
    accasim: bool = True,
    accasim_jobs: int = 0,
    progress: Callable[[str], None] | None = None,
    cores_per_node: int = 0,
) -> dict[str, Any]:
    """Run the benchmark cases; returns a JSON-able dict."""
    from hyperion.placement.heuristics import get_policy
    from hyperion.sim.config import uniform_sites
    from hyperion.sim.engine import Engine
    from hyperion.sim.nodepool import NodePool
    from hyperion.sim.site import SimSite
    from hyperion.sim.swf import read_swf
    from hyperion.sim.workload import assign_homes, scale_time

    tr = read_swf(path)
    size = tr.machine_size
    cpn = cores_per_node
    if cpn and (cpn < 1 or size % cpn):
        raise HyperionError(
            f"--cores-per-node {cpn}: the machine's {size} processors are not whole nodes of it",
            hint="give a divisor of the machine size",
        )
    cases: list[dict[str, Any]] = []

    def single(jobs: list[Any], backfill: bool) -> Any:
        sites = uniform_sites(["site"], size, backfill=backfill)
        return Engine(sites, get_policy("home")).run(jobs)

    names = [f"site{i}" for i in range(n_sites)]
    multi_jobs = scale_time(assign_homes(tr.jobs, names, "user"), 1.0 / n_sites)

    def multi() -> Any:
        sites = uniform_sites(names, size)
        return Engine(sites, get_policy("earliest-start")).run(multi_jobs)

    def nodes(names: list[str], jobs: list[Any], policy: str) -> Any:
        sites = [SimSite(n, [NodePool("batch", size // cpn, cpn)]) for n in names]
        return Engine(sites, get_policy(policy)).run(jobs)

    runs: list[tuple[str, Callable[[], Any]]] = [
        ("FCFS+EASY, 1 site", lambda: single(tr.jobs, True)),
        ("FCFS (no backfill), 1 site", lambda: single(tr.jobs, False)),
        (f"earliest-start, {n_sites} sites", multi),
    ]
    if cpn:
        runs += [
            (f"FCFS+EASY, 1 site, {cpn}-core nodes", lambda: nodes(["site"], tr.jobs, "home")),
            (
                f"earliest-start, {n_sites} sites, {cpn}-core nodes",
                lambda: nodes(names, multi_jobs, "earliest-start"),
            ),
        ]
    for label, fn in runs:
        if progress:
            progress(f"hyperion: {label}")
        secs, m = _best(fn, repeat)
        cases.append(_row(label, m, secs))
    if not accasim:
        side: dict[str, Any] = {"status": "skipped", "reason": "--no-accasim"}
    else:
        jobs = tr.jobs[:accasim_jobs] if 0 < accasim_jobs < len(tr.jobs) else tr.jobs
        mine = {"EASY": cases[0], "FIFO": cases[1]}
        if jobs is not tr.jobs:  # our side on the same subset
            for d, backfill in (("EASY", True), ("FIFO", False)):
                secs, m = _best(lambda b=backfill: single(jobs, b), repeat)
                mine[d] = _row(f"{'FCFS+EASY' if backfill else 'FCFS'}, 1 site", m, secs)
        side = accasim_side_by_side(jobs, size, mine, progress)
    return {
        "trace": str(path),
        "trace_summary": tr.summary(),
        "machine_size": size,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cases": cases,
        "accasim": side,
    }


def _row(label: str, m: Any, secs: float) -> dict[str, Any]:
    return {
        "case": label,
        "jobs": m.jobs,
        "seconds": secs,
        "jobs_per_s": m.jobs / secs if secs > 0 else None,
        "mean_wait": m.mean_wait,
        "max_wait": m.max_wait,
        "mean_bsld": m.mean_bsld,
        "utilisation": m.utilisation,
    }


def accasim_side_by_side(
    jobs: list[Any],
    size: int,
    ours: dict[str, dict[str, Any]],
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """AccaSim's EASY and FIFO on ``jobs`` beside our rows ``ours`` (same dispatcher names);
    ``{"status": "skipped", "reason": ...}`` when AccaSim cannot run."""
    from hyperion.sim import accasim

    why = accasim.unavailable()
    if why is not None:
        return {"status": "skipped", "reason": why}
    out: list[dict[str, Any]] = []
    for d in accasim.DISPATCHERS:
        if progress:
            progress(f"AccaSim {accasim.version()}: {d} on {len(jobs):,} jobs (slow)")
        r = accasim.run(jobs, size, d)
        mine = ours[d]
        out.append(
            {
                "dispatcher": d,
                "accasim": {
                    "jobs": r.jobs,
                    "seconds": r.seconds,
                    "jobs_per_s": r.jobs_per_s,
                    "mean_wait": r.mean_wait,
                    "max_wait": r.max_wait,
                    "mean_bsld": r.mean_bsld,
                },
                "hyperion": mine,
                "speed_ratio": (mine["jobs_per_s"] or 0.0) / r.jobs_per_s if r.seconds else None,
            }
        )
    return {
        "status": "ran",
        "version": accasim.version(),
        "jobs": len(jobs),
        "compat": accasim.compat_note(),
        "cases": out,
    }


def run(args: argparse.Namespace) -> int:
    path = trace_path(args.trace)
    from rich.console import Console

    err = Console(stderr=True)
    if args.json:
        result = measure(
            path,
            args.repeat,
            args.sites,
            accasim=not args.no_accasim,
            accasim_jobs=args.accasim_jobs,
            cores_per_node=args.cores_per_node,
        )
        from hyperion.sim.cli import jsonable

        print(json.dumps(jsonable(result), indent=2))
        return 0
    with err.status("benchmarking") as status:
        result = measure(
            path,
            args.repeat,
            args.sites,
            accasim=not args.no_accasim,
            accasim_jobs=args.accasim_jobs,
            progress=lambda msg: status.update(msg),
            cores_per_node=args.cores_per_node,
        )
    render(result, path)
    return 0


def render(result: dict[str, Any], path: Path) -> None:
    """The benchmark's tables on stdout."""
    from rich.console import Console
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=160)
    console.print(f"[dim]{result['trace_summary']}[/dim]", highlight=False)
    t = Table(title=f"hyperion bench sim — {path.name} ({result['machine_size']} processors)")
    for col in ("case", "jobs", "seconds", "jobs/s", "mean wait s", "mean bsld", "util"):
        t.add_column(col, justify="left" if col == "case" else "right", no_wrap=True)
    for c in result["cases"]:
        t.add_row(
            c["case"],
            f"{c['jobs']:,}",
            f"{c['seconds']:.3f}",
            f"{c['jobs_per_s']:,.0f}",
            f"{c['mean_wait']:,.2f}",
            f"{c['mean_bsld']:,.2f}",
            f"{c['utilisation']:.1%}",
        )
    console.print(t)
    side = result["accasim"]
    if side["status"] != "ran":
        console.print(
            f"AccaSim side-by-side run skipped: {side['reason']}", highlight=False, markup=False
        )
        return
    t = Table(title=f"side by side with AccaSim {side['version']} ({side['jobs']:,} jobs)")
    for col in ("dispatcher", "simulator", "jobs", "seconds", "jobs/s", "mean wait s",
                "max wait s", "mean bsld"):  # fmt: skip
        t.add_column(col, justify="left" if col in {"dispatcher", "simulator"} else "right")
    for c in side["cases"]:
        for who, r in (("AccaSim", c["accasim"]), ("hyperion", c["hyperion"])):
            t.add_row(
                c["dispatcher"],
                who,
                f"{r['jobs']:,}",
                f"{r['seconds']:.3f}",
                f"{r['jobs_per_s']:,.0f}",
                f"{r['mean_wait']:,.2f}",
                f"{r['max_wait']:,.0f}",
                f"{r['mean_bsld']:,.2f}",
            )
        t.add_section()
    console.print(t)
    for c in side["cases"]:
        console.print(
            f"{c['dispatcher']}: hyperion simulates {c['speed_ratio']:,.0f}x as many jobs/s "
            "as AccaSim",
            highlight=False,
        )
    console.print(
        "[dim]FIFO is plain FCFS in both (same metrics expected). AccaSim's EASY keeps no "
        "reservation for the blocked head (any job that fits now starts), ours is EASY with "
        "a reservation at the shadow time: see docs/simulator.md.[/dim]",
        highlight=False,
    )
    if side.get("compat"):
        console.print(side["compat"], style="dim", highlight=False, markup=False)
