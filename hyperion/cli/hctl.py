"""``hctl``: the admin command.

hctl check [CONFIG] [--json]   load a site config, contact every site, report per site:
                               reachable, Slurm version, partitions found vs configured,
                               mismatches. Exit 0 when every enabled site is healthy.
hctl sites [--json]            hyperiond's view of every site: up, drained, load
hctl drain SITE                stop placing jobs on SITE (admins)
hctl resume SITE               allow placing jobs on SITE again (admins)
hctl report [--by user|account|site] [--since DATE|DURATION] [--csv F] [--png F] [--json]
                               energy, cost and CO2 totals from the ledger (docs/ledger.md)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from hyperion.cli.common import config_path, run_main
from hyperion.cli.report import add_arguments as add_report_arguments


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hctl", description="Hyperion administration")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = sub.add_parser("check", help="validate a site config and contact every site")
    check.add_argument("config", nargs="?", help="site config TOML (default: $HYPERION_CONFIG)")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.add_argument("--site", action="append", help="check only this site (repeatable)")
    sites = sub.add_parser("sites", help="per-site health and load, from hyperiond")
    sites.add_argument("--json", action="store_true", help="machine-readable output")
    for verb, text in (("drain", "stop placing jobs on a site"), ("resume", "place jobs again")):
        p = sub.add_parser(verb, help=text)
        p.add_argument("site")
    report = sub.add_parser("report", help="energy, cost and CO2 totals per user/account/site")
    add_report_arguments(report)
    return parser


def _carbon(carbon: Any) -> str:
    """A site's intensity now (zone), marked stale when its provider failed."""
    if not isinstance(carbon, dict) or carbon.get("g_per_kwh") is None:
        return "-"
    text = f"{carbon['g_per_kwh']:.0f} ({carbon.get('zone')})"
    return text + " [yellow]stale[/]" if carbon.get("stale") else text


def _sites(args: argparse.Namespace) -> int:
    from hyperion.api.client import Client

    client = Client()
    if args.command in ("drain", "resume"):
        site = getattr(client, args.command)(args.site)
        state = "drained" if site["drained"] else "accepting jobs"
        print(f"site {site['name']}: {state}")
        return 0
    sites = client.sites()
    if args.json:
        json.dump({"sites": sites}, sys.stdout, indent=2)
        print()
        return 0
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title="hyperiond sites")
    for col in (
        "site",
        "access",
        "status",
        "pending",
        "running",
        "idle CPUs",
        "idle GPUs",
        "gCO2/kWh",
        "last error",
    ):
        table.add_column(col)
    for s in sites:
        status = (
            "[red]down[/]"
            if not s["up"]
            else "[yellow]drained[/]"
            if s["drained"]
            else "[green]up[/]"
        )
        table.add_row(
            s["name"],
            s["access"],
            status,
            *(
                str(s[k]) if s[k] is not None else "-"
                for k in ("pending", "running", "idle_cpus", "idle_gpus")
            ),
            _carbon(s.get("carbon")),
            s["last_error"] or "-",
        )
    console = Console()
    console.print(table)
    if sites:
        policy, error = sites[0].get("policy"), sites[0].get("policy_error")
        if error:
            head = (f"placement policy {policy} refused", "red")
            console.print(Text.assemble(head, f": {error}"))
            console.print("jobs are placed by the fallback policy (see each job's reason)")
        elif policy:
            console.print(f"placement policy: {policy}")
        if sites[0].get("policy_status"):
            console.print(Text(str(sites[0]["policy_status"]), style="yellow"))
    return 0 if all(s["up"] for s in sites if s["enabled"]) else 1


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
    if args.command == "report":
        from hyperion.cli.report import run

        return run_main(lambda: run(args), prog="hctl")
    body = _check if args.command == "check" else _sites
    return run_main(lambda: body(args), prog="hctl")


if __name__ == "__main__":
    sys.exit(main())
