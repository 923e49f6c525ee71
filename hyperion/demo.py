"""The demo: a small mixed workload submitted with ``hsub`` by two real users (alice, bob)
through hyperiond on the testbed, showing where each job went and why, and following every job
to completion. Run by ``scripts/demo`` (root, after ``scripts/testbed up``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from hyperion.cli.common import run_main

#: (user, hsub arguments, what it shows)
WORKLOAD: list[tuple[str, list[str], str]] = [
    (
        "alice",
        ["-J", "small-cpu", "-n", "1", "--time=5", "--wrap", "sleep 3; hostname"],
        "a 1-core job: every site fits, the earliest start wins",
    ),
    (
        "alice",
        ["-J", "gpu-train", "--gres=gpu:2", "--time=10", "--wrap", "sleep 4"],
        "2 GPUs: only beta has GPUs",
    ),
    (
        "bob",
        ["-J", "mpi-2node", "-N", "2", "-n", "4", "--time=5", "--wrap", "srun hostname"],
        "2 nodes x 2 tasks",
    ),
    (
        "bob",
        ["-J", "pinned-cloud", "--site", "gamma", "--time=5", "--wrap", "sleep 2"],
        "pinned to the cloud site: its node powers up for it",
    ),
    (
        "alice",
        ["-J", "inference", "-p", "inference", "--gres=gpu:1", "--time=5", "--wrap", "sleep 2"],
        "asks for beta's high-priority partition by name",
    ),
    (
        "bob",
        ["-J", "wide-cpu", "-n", "6", "--time=5", "--wrap", "sleep 3"],
        "6 cores: fits alpha (8) and gamma (8), not beta's nodes in one go",
    ),
]


def _bin(name: str) -> str:
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"{name} is not installed: run scripts/setup")
    return found


def _as(user: str, *argv: str) -> subprocess.CompletedProcess[str]:
    env = [
        "env",
        f"HYPERION_SOCKET={os.environ.get('HYPERION_SOCKET', '')}",
        "PATH=/usr/local/bin:/usr/bin:/bin",
        f"HOME=/home/{user}",
    ]
    return subprocess.run(
        ["runuser", "-u", user, "--", *env, *argv],
        capture_output=True,
        text=True,
        cwd=f"/home/{user}",
        timeout=120,
        check=False,
    )


def _demo() -> int:
    from rich.console import Console

    from hyperion.api.client import Client
    from hyperion.cli.render import job_view, jobs_table
    from hyperion.state.models import HyperionJobState

    console = Console(width=max(Console().width, 120))
    client = Client()
    client.ping()
    console.rule("What hsub --test-only says for a 1-core job (nothing is submitted)")
    shown = _as("alice", _bin("hsub"), "--test-only", "-n", "1", "--time=5", "--wrap", "true")
    console.print(shown.stdout or shown.stderr)
    console.rule("Submitting a mixed workload as alice and bob")
    ids: list[str] = []
    for user, args, why in WORKLOAD:
        proc = _as(user, _bin("hsub"), "--parsable", *args)
        if proc.returncode != 0:
            console.print(f"[red]{user}: hsub {' '.join(args)} failed:[/] {proc.stderr.strip()}")
            return 1
        job_id, site = proc.stdout.strip().split(";")
        ids.append(job_id)
        console.print(f"{user:6} {job_id} -> [bold]{site:6}[/] {why}")
    console.rule("Following the jobs (one status query per site per round)")
    start = time.monotonic()
    while time.monotonic() - start < 240:
        jobs = [j for j in client.jobs(all=True) if j["id"] in ids]
        if len(jobs) == len(ids) and all(HyperionJobState(j["state"]).is_final for j in jobs):
            break
        time.sleep(2)
    console.print(jobs_table(jobs))
    console.rule(f"History of {ids[0]}: where it went and why")
    console.print(job_view(client.job(ids[0])))
    ok = all(j["state"] == "COMPLETED" for j in jobs)
    console.print("[green]all jobs completed[/]" if ok else "[red]not every job completed[/]")
    return 0 if ok else 1


def main() -> int:
    return run_main(_demo, prog="hyperion-demo")


if __name__ == "__main__":
    sys.exit(main())
