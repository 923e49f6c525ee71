"""``hq``: show Hyperion jobs.

    hq [--all] [--json] [-u USER] [--site S] [--state S]   a table of jobs
    hq [--json] ID                                         one job's history, attempt by attempt

Times are shown in local time with durations ("3m12s"). ``--json`` prints hyperiond's answer.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hyperion.cli.common import run_main

if TYPE_CHECKING:
    from hyperion.api.client import Client

PROG = "hq"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Show Hyperion jobs: a table, or one job's history with its ID.",
    )
    parser.add_argument("job", nargs="?", metavar="ID", help="show this job's history")
    parser.add_argument(
        "-a", "--all", action="store_true", help="every user's jobs (admins; others see their own)"
    )
    parser.add_argument("-u", "--user", help="only this user's jobs")
    parser.add_argument("--site", help="only jobs on this site")
    parser.add_argument("--state", help="only jobs in this state (e.g. PENDING)")
    parser.add_argument("--json", action="store_true", help="print hyperiond's answer as JSON")
    return parser


def make_client() -> Client:
    """The API client (a seam for tests)."""
    from hyperion.api.client import Client

    return Client()


def _run(args: argparse.Namespace) -> int:
    client = make_client()
    if args.job:
        job = client.job(args.job)
        jobs = [job]
    else:
        jobs = client.jobs(all=args.all, user=args.user, site=args.site, state=args.state)
    for warning in client.last_warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    if args.json:
        json.dump(client.last_envelope, sys.stdout, indent=2)
        print()
        return 0
    from rich.console import Console

    from hyperion.cli.render import job_view, jobs_table

    console = Console()
    if args.job:
        console.print(job_view(jobs[0]))
    elif jobs:
        console.print(jobs_table(jobs))
    else:
        print("no jobs")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.job and (args.all or args.user or args.site or args.state):
        parser.error("filters (--all, -u, --site, --state) do not apply to one job ID")
    return run_main(lambda: _run(args), prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
