"""``hyperion bench connectors``: connector latency on the real testbed, against plain Slurm.

For every site of the configuration (on the testbed: alpha over SSH, beta over slurmrestd,
gamma over the local CLI) it measures, in the same run:

* submit: ``connector.submit`` of a held job as a normal user, vs plain local ``sbatch``
  on the same cluster (``SLURM_CONF`` set, as root, no user switch);
* status of N tracked jobs (default 1,000 held jobs on the site): ``connector.jobs(ids)``
  (one Slurm call), vs plain local ``squeue --json`` of the same cluster;
* snapshot: ``connector.snapshot()`` vs plain local ``sinfo --json`` + ``squeue --json``.

Median and p95 in milliseconds, and each connector figure as a ratio to its plain baseline.
The plain baseline needs the cluster's slurm.conf on this machine; the testbed has them all.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hyperion.errors import HyperionError

HELD = "#!/bin/sh\n#SBATCH --hold\ntrue\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="site config (default: $HYPERION_CONFIG)")
    parser.add_argument("--site", action="append", help="only this site (repeatable)")
    parser.add_argument("--submits", type=int, default=30, help="submissions timed per site")
    parser.add_argument(
        "--tracked", type=int, default=1000, help="jobs tracked in the status query"
    )
    parser.add_argument(
        "--queries", type=int, default=10, help="status queries and snapshots timed"
    )
    parser.add_argument("--user", default="alice", help="user the jobs are submitted as")
    parser.add_argument(
        "--slurm-conf",
        action="append",
        default=[],
        metavar="SITE=PATH",
        help="slurm.conf for the plain baseline of a site (default: the "
        "testbed's $HYPERION_TESTBED_DIR/SITE/slurm.conf)",
    )
    parser.add_argument("--json", action="store_true")


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {"median_ms": statistics.median(ordered) * 1000, "p95_ms": p95 * 1000, "n": len(ordered)}


def _time(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _plain(argv: list[str], conf: str, stdin: str | None = None) -> str:
    env = {**os.environ, "SLURM_CONF": conf}
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise HyperionError(f"plain baseline {' '.join(argv)} failed: {proc.stderr.strip()}")
    return proc.stdout


def _site_conf(site: str, overrides: dict[str, str]) -> str:
    if site in overrides:
        return overrides[site]
    root = Path(
        os.environ.get("HYPERION_TESTBED_DIR") or Path(__file__).resolve().parents[2] / ".testbed"
    )
    conf = root / site / "slurm.conf"
    if not conf.exists():
        raise HyperionError(
            f"no slurm.conf for the plain baseline of site {site!r} at {conf}",
            hint="bring the testbed up (scripts/testbed up) or pass --slurm-conf SITE=PATH",
        )
    return str(conf)


def bench_site(site_cfg: Any, args: argparse.Namespace, conf: str) -> dict[str, Any]:
    """Measure one site; cancels every job it submitted, also on failure."""
    from hyperion.sites import Submission, connect

    conn = connect(site_cfg)
    sub = Submission(
        script=HELD, user=args.user, options=(("job-name", "hyperion-bench"), ("time", "5"))
    )
    ids: list[str] = []
    plain_ids: list[str] = []
    try:
        conn.ping()  # connect once (SSH handshake, token) outside the timed part
        submit = _time(lambda: ids.append(conn.submit(sub)), args.submits)
        plain_submit = _time(
            lambda: plain_ids.append(
                _plain(
                    [
                        "sbatch",
                        "--parsable",
                        "--hold",
                        "--chdir=/tmp",
                        "--job-name=hyperion-bench",
                        "--time=5",
                    ],
                    conf,
                    stdin=HELD,
                )
                .strip()
                .split(";")[0]
            ),
            args.submits,
        )
        while len(ids) < args.tracked:  # the rest of the tracked jobs, untimed
            ids.append(conn.submit(sub))
        calls_before = conn.calls
        status = _time(lambda: conn.jobs(ids), args.queries)
        calls_per_query = (conn.calls - calls_before) / args.queries
        found = len(conn.jobs(ids))
        plain_status = _time(lambda: json.loads(_plain(["squeue", "--json"], conf)), args.queries)
        snapshot = _time(conn.snapshot, args.queries)
        plain_snapshot = _time(
            lambda: (
                json.loads(_plain(["sinfo", "--json"], conf)),
                json.loads(_plain(["squeue", "--json"], conf)),
            ),
            args.queries,
        )
    finally:
        conn.cancel(ids)
        if plain_ids:
            _plain(["scancel", *plain_ids], conf)
        conn.close()
    result: dict[str, Any] = {
        "site": site_cfg.name,
        "transport": site_cfg.access.kind,
        "tracked_jobs": len(ids),
        "jobs_found": found,
        "slurm_calls_per_status_query": calls_per_query,
    }
    for name, mine, base in (
        ("submit", submit, plain_submit),
        ("status", status, plain_status),
        ("snapshot", snapshot, plain_snapshot),
    ):
        m, b = _stats(mine), _stats(base)
        result[name] = {
            **m,
            "plain_median_ms": b["median_ms"],
            "plain_p95_ms": b["p95_ms"],
            "ratio_median": m["median_ms"] / b["median_ms"],
            "added_median_ms": m["median_ms"] - b["median_ms"],
        }
    return result


def run(args: argparse.Namespace) -> int:
    from hyperion.cli.common import config_path
    from hyperion.config import load_config

    config = load_config(config_path(args.config))
    overrides = dict(s.split("=", 1) for s in args.slurm_conf)
    names = args.site or [n for n, s in config.sites.items() if s.enabled]
    results = []
    for name in names:
        print(f"benchmarking {name} ({config.site(name).access.kind}) ...", file=sys.stderr)
        results.append(bench_site(config.site(name), args, _site_conf(name, overrides)))
    if args.json:
        json.dump({"results": results}, sys.stdout, indent=2)
        print()
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="hyperion bench connectors (ms; ratio = connector / plain local CLI)")
    for col in (
        "site",
        "transport",
        "operation",
        "median",
        "p95",
        "plain median",
        "ratio",
        "added",
    ):
        table.add_column(
            col, justify="right" if col not in ("site", "transport", "operation") else "left"
        )
    for r in results:
        for op in ("submit", "status", "snapshot"):
            m = r[op]
            label = op if op != "status" else f"status of {r['tracked_jobs']} jobs"
            table.add_row(
                r["site"],
                r["transport"],
                label,
                f"{m['median_ms']:.1f}",
                f"{m['p95_ms']:.1f}",
                f"{m['plain_median_ms']:.1f}",
                f"{m['ratio_median']:.2f}x",
                f"{m['added_median_ms']:+.1f}",
            )
    Console().print(table)
    for r in results:
        print(
            f"{r['site']}: {r['slurm_calls_per_status_query']:.0f} Slurm call(s) per status query "
            f"of {r['tracked_jobs']} jobs; {r['jobs_found']} found"
        )
    return 0
