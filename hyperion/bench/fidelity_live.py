"""The live side of ``hyperion bench fidelity``: replay planned jobs on a real Slurm cluster.

Each job is submitted at its planned offset with the real ``sbatch`` (an argv list, as the given
user through ``runuser``), ``--ntasks`` cores anywhere on the partition, an explicit small
``--mem-per-cpu`` and its time limit in whole minutes, running ``sleep N``. When every job is
final, ``sacct -X --json`` gives Slurm's own submit, start and end times and the limit it kept.
Everything submitted is cancelled if the replay fails or is interrupted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from hyperion.bench.burst import slurm_final
from hyperion.bench.multicluster import sacct_records
from hyperion.errors import HyperionError


@dataclass(frozen=True)
class PlannedJob:
    """One job of the workload: submitted ``offset`` s after the first, sleeps ``run_s``."""

    index: int
    offset: float
    cores: int
    run_s: int
    limit_min: int


@dataclass(frozen=True)
class Observed:
    """What Slurm recorded for one replayed job (epoch seconds; ``nodes``: nodes allocated)."""

    index: int
    job_id: str
    cores: int
    limit_min: int
    state: str
    submit: float
    start: float
    end: float
    nodes: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Cluster:
    """Where and how to replay: Slurm cluster name, its slurm.conf, the submitting user."""

    name: str
    conf: str
    user: str = "alice"
    mem_per_cpu_mb: int = 100
    workdir: str = "/tmp"


def _slurm(
    cluster: Cluster,
    argv: list[str],
    *,
    user: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> str:
    cmd = ["runuser", "-u", user, "--", *argv] if user else argv
    env = {**os.environ, "SLURM_CONF": cluster.conf, **(extra_env or {})}
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, timeout=60, check=False, cwd="/"
    )
    if proc.returncode != 0:
        raise HyperionError(f"{' '.join(argv[:3])} ...: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def sbatch_argv(cluster: Cluster, job: PlannedJob, name: str) -> list[str]:
    """The ``sbatch`` command line of one job (no shell involved)."""
    return [
        "sbatch",
        "--parsable",
        f"--clusters={cluster.name}",
        f"--job-name={name}",
        f"--ntasks={job.cores}",
        f"--mem-per-cpu={cluster.mem_per_cpu_mb}",
        f"--time={job.limit_min}",
        "--output=/dev/null",
        f"--chdir={cluster.workdir}",
        "--wrap",
        f"sleep {int(job.run_s)}",
    ]


def queued(cluster: Cluster) -> list[str]:
    """Names of the jobs pending or running on the cluster now."""
    out = _slurm(cluster, ["squeue", f"--clusters={cluster.name}", "-h", "-o", "%j"])
    return [line.strip() for line in out.splitlines() if line.strip()]


def wait_idle(cluster: Cluster, timeout: float) -> None:
    """Wait until the cluster has no jobs, so the replay starts from an empty machine."""
    deadline = time.monotonic() + timeout
    while names := queued(cluster):
        if time.monotonic() > deadline:
            raise HyperionError(
                f"{cluster.name} still has {len(names)} job(s) after {timeout:.0f} s",
                hint="the replay needs an idle cluster; wait or cancel them",
            )
        time.sleep(2)


def _records(cluster: Cluster, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    argv = ["sacct", f"--clusters={cluster.name}", "-X", "--json", "-j", ",".join(ids)]
    doc = json.loads(_slurm(cluster, argv))
    recs = sacct_records(doc)
    limits = {str(j.get("job_id")): j for j in doc.get("jobs") or []}
    out = {}
    for (_, job_id), rec in recs.items():
        raw = limits.get(job_id, {})
        limit = (raw.get("time") or {}).get("limit")
        rec["limit"] = limit.get("number") if isinstance(limit, dict) else limit
        rec["nodes"] = raw.get("allocation_nodes") or 0
        out[job_id] = rec
    return out


def foreign_jobs(cluster: Cluster, prefix: str, t_from: float, t_to: float) -> int:
    """Jobs not of this replay (name without ``prefix``) queued or running on the cluster at
    some time between ``t_from`` and ``t_to`` (epoch s)."""
    fmt = "%Y-%m-%dT%H:%M:%S"
    window = [datetime.fromtimestamp(t).strftime(fmt) for t in (t_from - 1, t_to + 1)]
    argv = ["sacct", f"--clusters={cluster.name}", "-X", "-n", "-P", "-a"]
    argv += ["-o", "JobName,Submit,End", "-S", window[0], "-E", window[1]]
    count = 0
    for line in _slurm(cluster, argv, extra_env={"SLURM_TIME_FORMAT": "%s"}).splitlines():
        name, submit, end = (line.split("|") + ["", "", ""])[:3]
        if name.startswith(prefix) or not submit.isdigit():
            continue
        if int(submit) < t_to and (not end.isdigit() or int(end) > t_from):
            count += 1
    return count


def replay(
    cluster: Cluster,
    jobs: Sequence[PlannedJob],
    *,
    prefix: str,
    timeout: float = 1800,
    report: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
) -> list[Observed]:
    """Submit every job at its offset, wait until all are final, return Slurm's records."""
    ids: dict[str, PlannedJob] = {}
    try:
        t0 = time.monotonic()
        for i, job in enumerate(sorted(jobs, key=lambda j: j.offset)):
            time.sleep(max(0.0, t0 + job.offset - time.monotonic()))
            argv = sbatch_argv(cluster, job, f"{prefix}{job.index}")
            out = _slurm(cluster, argv, user=cluster.user)
            ids[out.strip().split(";")[0]] = job
            if (i + 1) % 25 == 0:
                report(f"submitted {i + 1}/{len(jobs)} at t={time.monotonic() - t0:.0f} s")
        deadline = time.monotonic() + timeout
        while True:
            recs = _records(cluster, list(ids))
            done = [k for k in ids if k in recs and slurm_final(recs[k]["state"])]
            if len(done) == len(ids):
                break
            if time.monotonic() > deadline:
                raise HyperionError(f"{len(ids) - len(done)} job(s) not finished in {timeout} s")
            time.sleep(3)
    except BaseException:
        if ids:
            subprocess.run(
                ["scancel", f"--clusters={cluster.name}", *ids],
                env={**os.environ, "SLURM_CONF": cluster.conf},
                capture_output=True,
                check=False,
                timeout=60,
            )
        raise
    report(f"all {len(ids)} jobs final after {time.monotonic() - t0:.0f} s")
    return [
        Observed(
            index=job.index,
            job_id=job_id,
            cores=job.cores,
            limit_min=int(recs[job_id]["limit"] or job.limit_min),
            state=recs[job_id]["state"],
            submit=float(recs[job_id]["submit"] or 0),
            start=float(recs[job_id]["start"] or 0),
            end=float(recs[job_id]["end"] or 0),
            nodes=int(recs[job_id]["nodes"]),
        )
        for job_id, job in ids.items()
    ]
