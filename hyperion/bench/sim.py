"""``hyperion bench sim``: simulated jobs per second on a trace the user gives.

Measures (best of ``--repeat`` runs, wall clock of the engine only, trace parsing excluded):

* FCFS + EASY backfilling on one site of the trace's machine size;
* plain FCFS on that site (the correctness anchor's configuration);
* ``earliest-start`` over 4 sites of the trace's size, jobs homed by user, submit times scaled by
  1/4 so each site sees the trace's original load.

The trace comes from ``--trace PATH`` or the ``HYPERION_TRACES`` environment variable (a file,
or a directory holding ``lublin_256.swf``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
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


def measure(path: Path, repeat: int = 3, n_sites: int = 4) -> dict[str, Any]:
    """Run the benchmark cases; returns a JSON-able dict."""
    from hyperion.placement.heuristics import get_policy
    from hyperion.sim.config import uniform_sites
    from hyperion.sim.engine import Engine
    from hyperion.sim.swf import read_swf
    from hyperion.sim.workload import assign_homes, scale_time

    tr = read_swf(path)
    size = tr.machine_size
    cases: list[dict[str, Any]] = []

    def single(backfill: bool) -> Any:
        sites = uniform_sites(["site"], size, backfill=backfill)
        return Engine(sites, get_policy("home")).run(tr.jobs)

    names = [f"site{i}" for i in range(n_sites)]
    multi_jobs = scale_time(assign_homes(tr.jobs, names, "user"), 1.0 / n_sites)

    def multi() -> Any:
        sites = uniform_sites(names, size)
        return Engine(sites, get_policy("earliest-start")).run(multi_jobs)

    for label, fn in (
        ("FCFS+EASY, 1 site", lambda: single(True)),
        ("FCFS (no backfill), 1 site", lambda: single(False)),
        (f"earliest-start, {n_sites} sites", multi),
    ):
        secs, m = _best(fn, repeat)
        cases.append(
            {
                "case": label,
                "jobs": m.jobs,
                "seconds": secs,
                "jobs_per_s": m.jobs / secs if secs > 0 else None,
                "mean_wait": m.mean_wait,
                "mean_bsld": m.mean_bsld,
                "utilisation": m.utilisation,
            }
        )
    return {
        "trace": str(path),
        "trace_summary": tr.summary(),
        "machine_size": size,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cases": cases,
        "accasim": _accasim_note(),
    }


def _accasim_note() -> str:
    try:
        import accasim  # noqa: F401
    except ImportError:
        return "AccaSim not installed (pip install accasim); side-by-side comparison skipped"
    return "AccaSim is installed, but the side-by-side run is not implemented yet"


def run(args: argparse.Namespace) -> int:
    path = trace_path(args.trace)
    result = measure(path, args.repeat, args.sites)
    if args.json:
        from hyperion.sim.cli import jsonable

        print(json.dumps(jsonable(result), indent=2))
        return 0
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
    console.print(f"[dim]{result['accasim']}[/dim]", highlight=False)
    return 0
