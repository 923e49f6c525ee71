"""The human-readable report of ``hyperion bench fidelity`` (``--json`` prints the document)."""

from __future__ import annotations

import math
from typing import Any

#: the goal of issue 4, section 4
GOAL_SPEARMAN = 0.9

_ROWS = (
    ("Spearman, start", "spearman_start", "{:.4f}"),
    ("Pearson, start", "pearson_start", "{:.4f}"),
    ("Spearman, wait", "spearman_wait", "{:.3f}"),
    ("Pearson, wait", "pearson_wait", "{:.3f}"),
    ("mean wait Slurm", "mean_wait_live", "{:.2f}"),
    ("mean wait sim", "mean_wait_sim", "{:.2f}"),
    ("MAE of waits", "mae_wait", "{:.2f}"),
    ("MAE / mean wait", "mae_wait_rel", "{:.1%}"),
    ("bias Slurm-sim", "bias_wait", "{:+.2f}"),
    ("max |error|", "max_abs_err", "{:.0f}"),
    ("within 2 s", "within_2s", "{:.0%}"),
    ("overtakers Slurm", "overtakers_live", "{}"),
    ("overtakers sim", "overtakers_sim", "{}"),
)
_PARTS = {"all": "", "one_node": " 1-node", "multi_node": " multi"}


def _cell(fmt: str, value: float) -> str:
    return "-" if isinstance(value, float) and math.isnan(value) else fmt.format(value)


def print_report(doc: dict[str, Any]) -> None:
    """Print the workload line, the agreement table (main mode by width, then every mode)."""
    from rich.console import Console
    from rich.table import Table

    w = doc["workload"]
    print(
        f"{doc['site']}: {w['jobs']} jobs ({w['multi_node_jobs']} on several nodes, "
        f"{w['not_completed']} not COMPLETED), makespan {w['makespan_s']:.0f} s"
        + (f", {w['foreign_jobs']} foreign job(s) in the window" if "foreign_jobs" in w else "")
    )
    main = doc["backfill"]
    cols = [(f"{main}{_PARTS[k]}", v) for k, v in doc["main"].items()]
    cols += [(m, v["all"]) for m, v in doc["variants"].items() if m != main]
    table = Table(title="Slurm vs simulator (times in s)")
    table.add_column("")
    for label, _ in cols:
        table.add_column(label, justify="right")
    for title, key, fmt in _ROWS:
        table.add_row(title, *(_cell(fmt, part[key]) for _, part in cols))
    Console(width=max(Console().width, 100)).print(table)
    rho = doc["main"]["all"]["spearman_start"]
    verdict = "met" if rho >= GOAL_SPEARMAN else "NOT met"
    spans = ", ".join(f"{m} {v:.0f} s" for m, v in doc["sim_makespan_s"].items())
    print(f"simulated makespan: {spans}")
    lat, sim = doc["slurm_latency"], doc["sim_latency"]
    print(
        f"Slurm: start latency of jobs that fit at once {_cell('{:.2f}', lat['launch_s'])} s "
        f"({lat['launch_jobs']:.0f} jobs), end-to-next-start gap of queued jobs "
        f"{_cell('{:.2f}', lat['handoff_s'])} s ({lat['handoff_jobs']:.0f} jobs); simulated "
        f"launch +{sim['launch_s']:g} s, release +{sim['release_s']:g} s"
    )
    if w.get("foreign_jobs"):
        print("WARNING: other jobs shared the cluster during the replay; rerun on an idle one")
    print(f"goal: Spearman of start order >= {GOAL_SPEARMAN}: {verdict} ({rho:.4f})")
