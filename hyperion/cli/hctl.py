"""``hctl``: the admin command.

hctl check [CONFIG] [--json]   load a site config, contact every site, report per site:
                               reachable, Slurm version, partitions found vs configured,
                               mismatches. Exit 0 when every enabled site is healthy.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from hyperion.cli.common import config_path, run_main


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hctl", description="Hyperion administration")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = sub.add_parser("check", help="validate a site config and contact every site")
    check.add_argument("config", nargs="?", help="site config TOML (default: $HYPERION_CONFIG)")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.add_argument("--site", action="append", help="check only this site (repeatable)")
    return parser


def _check(args: argparse.Namespace) -> int:
    from hyperion.config import load_config
    from hyperion.sites.check import check_sites

    config = load_config(config_path(args.config))
    reports = check_sites(config, only=args.site)
    if args.json:
        json.dump(
            {"config": str(config.source), "sites": [r.as_dict() for r in reports]},
            sys.stdout,
            indent=2,
        )
        print()
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"hctl check {config.source}")
        for col in ("site", "access", "status", "slurm", "partitions", "problems"):
            table.add_column(col)
        for r in reports:
            status = "[green]healthy[/]" if r.healthy else "[red]UNHEALTHY[/]"
            table.add_row(
                r.site,
                r.access,
                status,
                r.slurm_version or "-",
                ", ".join(r.partitions_found) or "-",
                "\n".join(r.problems) or "-",
            )
        Console().print(table)
    return 0 if all(r.healthy for r in reports) else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_main(lambda: _check(args), prog="hctl")


if __name__ == "__main__":
    sys.exit(main())
