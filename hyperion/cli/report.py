"""``hctl report``: ledger totals per user, account or site, as a table, CSV, JSON or a PNG.

    hctl report [--by user|account|site] [--since DATE|DURATION] [--until ...]
                [--csv FILE] [--png FILE] [--json]

``--since 2025-03-01`` (a local date or ISO time) or ``--since 7d`` (``s``, ``m``, ``h``,
``d``, ``w``; combined like ``1d12h``). matplotlib is imported only for ``--png``.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from hyperion.errors import HyperionError

BY = ("user", "account", "site")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?[smhdw])+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_WHEN_HINT = "give a date (2025-03-01), an ISO time (2025-03-01T08:00) or a duration (7d, 12h)"


def parse_since(text: str, now: float | None = None, *, option: str = "--since") -> float:
    """Epoch seconds from a date or ISO time (local time unless it names a zone) or from a
    duration back from ``now`` (``7d``, ``1d12h``, ``90m``)."""
    t = time.time() if now is None else now
    word = text.strip().lower()
    if _DURATION.match(word):
        return t - sum(float(n) * _UNITS[u] for n, u in _PART.findall(word))
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise HyperionError(
            f"{option} {text!r}: not a date, time or duration", hint=_WHEN_HINT
        ) from None
    try:
        return when.timestamp()  # naive: local time, as hq shows times
    except (ValueError, OverflowError, OSError):
        raise HyperionError(f"{option} {text!r}: out of range", hint=_WHEN_HINT) from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``hctl report``."""
    p.add_argument("--by", choices=BY, default="user", help="group by (default: user)")
    p.add_argument("--since", metavar="DATE|DURATION", help="only attempts that ended since")
    p.add_argument("--until", metavar="DATE|DURATION", help="only attempts that ended before")
    p.add_argument("--csv", metavar="FILE", help="also write the groups as CSV")
    p.add_argument("--png", metavar="FILE", help="also draw a bar chart (needs matplotlib)")
    p.add_argument("--json", action="store_true", help="print hyperiond's report as JSON")


def currencies(report: Mapping[str, Any]) -> list[str]:
    """Every currency in the report's costs, sorted."""
    return sorted({c for g in report.get("groups", []) for c in g.get("cost", {})})


def csv_rows(report: Mapping[str, Any]) -> list[list[Any]]:
    """The header and one row per group (costs one column per currency)."""
    curs = currencies(report)
    head = [str(report.get("by", "group")), "jobs", "attempts", "core_hours", "energy_kwh"]
    head += ["co2_g", "co2_missing", *(f"cost_{c}" for c in curs)]
    rows: list[list[Any]] = [head]
    for g in report.get("groups", []):
        row = [g["key"], g["jobs"], g["attempts"], round(g["core_hours"], 6)]
        row += [round(g["energy_kwh"], 6), round(g["co2_g"], 3), g["co2_missing"]]
        row += [round(g["cost"].get(c, 0.0), 6) for c in curs]
        rows.append(row)
    return rows


def write_csv(report: Mapping[str, Any], path: Path) -> None:
    """The groups as CSV at ``path``."""
    try:
        with path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(csv_rows(report))
    except OSError as exc:
        raise HyperionError(f"--csv {path}: cannot write: {exc.strerror or exc}") from None


def write_png(report: Mapping[str, Any], path: Path) -> None:
    """A bar chart per measure (core-hours, kWh, kg CO2, cost) at ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise HyperionError(
            "--png needs matplotlib, which is not installed", hint="pip install matplotlib"
        ) from None
    groups = report.get("groups", [])
    keys = [str(g["key"]) for g in groups]
    panels: list[tuple[str, list[float]]] = [
        ("core-hours", [g["core_hours"] for g in groups]),
        ("energy (kWh)", [g["energy_kwh"] for g in groups]),
        ("CO2 (kg)", [g["co2_g"] / 1000 for g in groups]),
    ]
    panels += [(f"cost ({c})", [g["cost"].get(c, 0.0) for g in groups]) for c in currencies(report)]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6), squeeze=False)
    for ax, (title, values) in zip(axes[0], panels, strict=True):
        ax.bar(keys, values, color="#4c72b0")
        ax.set_title(title)
        ax.tick_params(axis="x", labelrotation=45)
    fig.suptitle(f"Hyperion usage by {report.get('by')} ({_window(report)})")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except OSError as exc:
        raise HyperionError(f"--png {path}: cannot write: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


def _window(report: Mapping[str, Any]) -> str:
    def day(t: Any) -> str:
        return datetime.fromtimestamp(float(t)).strftime("%Y-%m-%d %H:%M")

    since, until = report.get("since"), report.get("until")
    if since is None and until is None:
        return "all time"
    if until is None:
        return f"since {day(since)}"
    return f"{day(since) if since is not None else 'start'} to {day(until)}"


def _cost_text(cost: Mapping[str, float]) -> str:
    return ", ".join(f"{v:.2f} {c}" for c, v in sorted(cost.items())) or "-"


def print_table(report: Mapping[str, Any]) -> None:
    """The report as a rich table with a total row."""
    from rich.console import Console
    from rich.table import Table

    title = f"usage by {report.get('by')}, {_window(report)} ({report.get('scope')})"
    table = Table(title=title, header_style="bold")
    columns = (str(report.get("by")).upper(), "JOBS", "CORE-H", "kWh", "kg CO2", "COST")
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i in (0, len(columns) - 1) else "right")
    missing = 0
    for g in [*report.get("groups", []), report.get("total") or {}]:
        if not g:
            continue
        co2 = f"{g['co2_g'] / 1000:.3f}" + ("*" if g["co2_missing"] else "")
        key = "total" if g is report.get("total") else str(g["key"])
        table.add_row(
            key,
            str(g["jobs"]),
            f"{g['core_hours']:.2f}",
            f"{g['energy_kwh']:.3f}",
            co2,
            _cost_text(g["cost"]),
            end_section=key != "total" and g is report["groups"][-1],
        )
        missing = max(missing, int(g["co2_missing"]))
    console = Console()
    console.print(table)
    if missing:
        console.print("* CO2 leaves out attempts on sites without a carbon source", style="dim")


def run(args: argparse.Namespace) -> int:
    """``hctl report``."""
    from hyperion.api.client import Client

    now = time.time()
    since = parse_since(args.since, now) if args.since else None
    until = parse_since(args.until, now, option="--until") if args.until else None
    client = Client()
    report = client.report(by=args.by, since=since, until=until)
    for warning in client.last_warnings:
        print(f"hctl: warning: {warning}", file=sys.stderr)
    if args.csv:
        write_csv(report, Path(args.csv))
    if args.png:
        write_png(report, Path(args.png))
    if args.json:
        json.dump({"report": report}, sys.stdout, indent=2)
        print()
    else:
        print_table(report)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hctl report`` alone (tests)."""
    from hyperion.cli.common import run_main

    p = argparse.ArgumentParser(prog="hctl report")
    add_arguments(p)
    args = p.parse_args(argv)
    return run_main(lambda: run(args), prog="hctl")
