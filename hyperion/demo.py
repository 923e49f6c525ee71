"""The demo: one job, submitted as ``alice`` to every site of the configuration through its own
transport (SSH, slurmrestd, local CLI), followed to completion with one status query per site
per round. Run by ``scripts/demo``."""

from __future__ import annotations

import pwd
import sys
import time

from hyperion.cli.common import config_path, run_main
from hyperion.sites import JobStatus, Submission, connect

SCRIPT = """#!/bin/sh
#SBATCH --job-name=hyperion-demo
echo "hello from $(hostname) on cluster $SLURM_CLUSTER_NAME as $(id -un)"
sleep 2
"""


def _demo() -> int:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    from hyperion.config import load_config

    config = load_config(config_path(None))
    conns = {name: connect(site) for name, site in config.sites.items() if site.enabled}
    home = pwd.getpwnam("alice").pw_dir
    jobs: dict[str, str] = {}
    for name, conn in conns.items():
        sub = Submission(
            script=SCRIPT,
            user="alice",
            cwd=home,
            options=(("time", "5"), ("output", f"hyperion-demo-{name}-%j.out")),
        )
        est = conn.estimate_start(sub)
        jobs[name] = conn.submit(sub)
        Console().print(
            f"{name}: submitted Slurm job {jobs[name]} "
            f"(estimated start {time.strftime('%H:%M:%S', time.gmtime(est.start_time))} "
            f"UTC, by {est.source})"
        )
    start = time.monotonic()
    done: dict[str, str] = {}

    def table() -> Table:
        t = Table(title=f"demo jobs ({time.monotonic() - start:.0f}s)")
        for col in ("site", "transport", "slurm id", "state", "user"):
            t.add_column(col)
        for name in conns:
            status = statuses.get(name)
            t.add_row(
                name,
                config.site(name).access.kind,
                jobs[name],
                status.slurm_state if status else "?",
                (status.user or "") if status else "",
            )
        return t

    statuses: dict[str, JobStatus | None] = {}
    with Live(table(), refresh_per_second=2) as live:
        while len(done) < len(conns) and time.monotonic() - start < 180:
            for name, conn in conns.items():
                st = conn.jobs([jobs[name]]).get(jobs[name])
                statuses[name] = st
                if st is not None and st.state.is_final:
                    done[name] = st.state.value
            live.update(table())
            time.sleep(1)
    for conn in conns.values():
        conn.close()
    ok = len(done) == len(conns) and all(s == "COMPLETED" for s in done.values())
    Console().print(
        f"[green]all jobs completed[/]; their output is in {home}/hyperion-demo-*.out"
        if ok
        else f"[red]not all completed: {done}[/]"
    )
    return 0 if ok else 1


def main() -> int:
    return run_main(_demo, prog="hyperion-demo")


if __name__ == "__main__":
    sys.exit(main())
