"""``hcancel``: cancel Hyperion jobs.

    hcancel ID [ID...]

Prints what happened to each job; exit status 1 if any could not be cancelled.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hyperion.cli.common import run_main

if TYPE_CHECKING:
    from hyperion.api.client import Client

PROG = "hcancel"
#: a job in one of these states has ended; cancelling it changes nothing
ENDED = frozenset(
    {"COMPLETED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE",
     "REJECTED", "ABANDONED"}
)  # fmt: skip


def make_client() -> Client:
    """The API client (a seam for tests)."""
    from hyperion.api.client import Client

    return Client()


def outcome(job_id: str, job: dict[str, Any]) -> str:
    """One line saying what the cancel did to ``job``."""
    state = str(job.get("state") or "UNKNOWN")
    where = ""
    if job.get("site"):
        where = f" on site {job['site']}"
        if job.get("slurm_job_id") is not None:
            where += f" (Slurm job {job['slurm_job_id']})"
    if state == "CANCELLED":
        return f"{job_id}: cancelled{where}"
    if state in ENDED:
        return f"{job_id}: already ended ({state}){where}; nothing to cancel"
    return f"{job_id}: cancel requested{where}; state now {state}"


def _run(ids: Sequence[str]) -> int:
    from hyperion.api.client import ApiError

    client = make_client()
    failed = 0
    for job_id in ids:
        try:
            job = client.cancel(job_id)
        except ApiError as exc:  # this job; the others may still be cancelled
            failed += 1
            print(f"{PROG}: error: {job_id}: {exc}", file=sys.stderr)
            continue
        for warning in client.last_warnings:
            print(f"{PROG}: warning: {job_id}: {warning}", file=sys.stderr)
        print(outcome(job_id, job))
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="Cancel Hyperion jobs.")
    parser.add_argument("ids", nargs="+", metavar="ID", help="Hyperion job id (e.g. h1A2B3C)")
    args = parser.parse_args(argv)
    return run_main(lambda: _run(args.ids), prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
