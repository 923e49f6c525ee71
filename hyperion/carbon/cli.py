"""``hyperion carbon``: carbon-intensity tools.

    hyperion carbon forecast-eval --data DIR_OR_FILES [--horizon 24] [--forecaster NAME ...]

Only argparse at import: the work is imported when the command runs.
"""

from __future__ import annotations

import argparse
import json

#: published GB (NESO) forecasts, for scale
GB_CONTEXT = (
    "For scale: published GB forecasts (NESO Carbon Intensity API) are off by about "
    "24 gCO2/kWh on average."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="carbon_command", required=True, metavar="SUBCOMMAND")
    p = sub.add_parser(
        "forecast-eval", help="backtest forecasters on recorded series (mean absolute error)"
    )
    p.add_argument(
        "--data",
        nargs="+",
        default=[],
        metavar="DIR_OR_FILE",
        help="carbon CSVs or folders of them (default: $HYPERION_CARBON_DATA)",
    )
    p.add_argument("--horizon", type=int, default=24, help="forecast horizon in hours (24)")
    p.add_argument(
        "--forecaster",
        nargs="+",
        action="extend",
        metavar="NAME",
        help="persistence, same-hour-yesterday, daily-profile[:DAYS], "
        "daily-profile-blend[:DAYS[:TAU]] (default: all four)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    """Run ``hyperion carbon SUBCOMMAND``."""
    from hyperion.carbon.evaluate import data_files, evaluate_files
    from hyperion.carbon.forecast import FORECASTERS, make_forecaster

    forecasters = [make_forecaster(s) for s in (args.forecaster or FORECASTERS)]
    scores = evaluate_files(data_files(args.data), forecasters, args.horizon)
    if args.json:
        print(json.dumps({"scores": [s.as_dict() for s in scores], "context": GB_CONTEXT}))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Forecast mean absolute error, horizon {args.horizon} h")
    table.add_column("series", no_wrap=True)
    table.add_column("forecaster", no_wrap=True)
    for col in ("mean", "MAE", "MAE/mean", f"MAE +{args.horizon}h"):
        table.add_column(col, justify="right", no_wrap=True)
    best: dict[str, float] = {}
    for s in scores:
        best[s.series] = min(best.get(s.series, s.mae), s.mae)
    for s in scores:
        mark = "bold green" if s.mae == best[s.series] else None
        table.add_row(
            s.series,
            s.forecaster,
            f"{s.mean:.1f}",
            f"{s.mae:.1f}",
            f"{100 * s.mae_rel:.1f}%",
            f"{s.mae_at_horizon:.1f}",
            style=mark,
        )
    console = Console()
    console.print(table)
    issues = scores[0].issues if scores else 0
    console.print(
        f"gCO2/kWh. MAE: mean over lead times 1..{args.horizon} h of {issues} hourly forecasts "
        f"per series (after the warm-up); MAE +{args.horizon}h: lead time {args.horizon} h only."
    )
    console.print(GB_CONTEXT)
    return 0
