"""``hyperion bench multicluster``: Hyperion against Slurm's own ``sbatch -M`` on the testbed.

Four measurements, in one run, on the real testbed (issue 3, section 5):

1. **Burst, baseline.** A seeded burst of short jobs of mixed sizes (1-4 tasks, some 2-node
   jobs, CPU only) whose actual run times (``sleep`` 2-10 s, heavy-tailed) are far shorter than
   their requested limits (10-60 min, as users overestimate). Each job is submitted as a normal
   user with plain ``sbatch -M alpha,beta,gamma --parsable`` as fast as sbatch returns.
2. **Burst, Hyperion.** The same list through the real ``hsub --parsable`` as the same user;
   the daemon's default policy (earliest-start) and re-placement as configured.
   Times of both runs come from the same source, ``sacct -X --json`` (Slurm's accounting; for
   Hyperion the final attempt's Slurm job on its final site). A job's wait is measured from the
   moment the user called sbatch / hsub (this process's clock, the same for both runs) to
   Slurm's start of the job: a job Hyperion moved counts its whole wait.
3. **Submit latency.** ``hsub`` (whole command, daemon warm) vs plain ``sbatch`` to one cluster
   vs ``sbatch -M`` over all clusters; held jobs, interleaved, cancelled afterwards.
4. **Slurm RPC rate with many tracked jobs.** ``sdiag``'s per-message-type RPC counters of every
   slurmctld are read before and after a fixed quiet interval while the daemon tracks a few held
   jobs and again while it tracks many (``--tracked``); the job-info RPCs per poll round per
   site should not grow with the number of jobs.

Everything submitted is cancelled at the end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperion.bench.burst import (
    JOB_INFO_RPCS,
    Background,
    BenchJob,
    JobTimes,
    burst_stats,
    generate_workload,
    hyperion_final,
    latency_stats,
    parse_background,
    parse_sdiag_rpcs,
    rpc_delta,
    slurm_final,
)
from hyperion.bench.multicluster_report import render
from hyperion.errors import HyperionError

# ---------------------------------------------------------------------------------- plumbing


@dataclass
class Env:
    """Where things are on the testbed."""

    testbed: Path
    confs: dict[str, str]  # cluster -> slurm.conf
    socket: str
    user: str
    hsub: str
    workdir: Path
    tag: str

    @property
    def clusters(self) -> list[str]:
        return list(self.confs)

    @property
    def any_conf(self) -> str:
        return next(iter(self.confs.values()))


def _run(
    argv: list[str],
    conf: str,
    *,
    check: bool = True,
    timeout: float = 120,
    cwd: str | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SLURM_CONF": conf, "TZ": "UTC"}
    proc = subprocess.run(
        argv, capture_output=True, text=True, env=env, check=False, timeout=timeout, cwd=cwd
    )
    if check and proc.returncode != 0:
        raise HyperionError(
            f"{' '.join(argv[:6])}... failed (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[:500]}"
        )
    return proc


def _as_user(user: str, argv: list[str]) -> list[str]:
    return ["runuser", "-u", user, "--", *argv]


def _time_of(value: Any) -> float | None:
    """sacct 22.05 gives plain integers; later versions ``{"set":..,"number":..}``."""
    if isinstance(value, dict):
        if not value.get("set", True):
            return None
        value = value.get("number")
    if isinstance(value, int | float) and value > 0:
        return float(value)
    return None


def sacct_records(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """``(cluster, job id) -> {state, name, submit, start, end}`` from ``sacct --json``.

    Job ids repeat across clusters, so the key includes the cluster; a requeued job has several
    records and the one submitted last wins (as ``slurm_json.sacct_statuses`` does).
    """
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for job in doc.get("jobs") or []:
        times = job.get("time") or {}
        rec: dict[str, Any] = {
            "cluster": str(job.get("cluster") or ""),
            "job_id": str(job.get("job_id")),
            "name": job.get("name") or "",
            "state": str((job.get("state") or {}).get("current") or ""),
            "submit": _time_of(times.get("submission")),
            "start": _time_of(times.get("start")),
            "end": _time_of(times.get("end")),
        }
        key = (rec["cluster"], rec["job_id"])
        prev = out.get(key)
        if prev is None or (rec["submit"] or 0) >= (prev["submit"] or 0):
            out[key] = rec
    return out


def _sacct(env: Env, clusters: Iterable[str], ids: Iterable[str]) -> dict[tuple[str, str], Any]:
    ids = sorted(set(ids), key=int)
    if not ids:
        return {}
    argv = [
        "sacct",
        "-M",
        ",".join(sorted(set(clusters))),
        "-X",
        "--json",
        "-j",
        ",".join(ids),
    ]
    return sacct_records(json.loads(_run(argv, env.any_conf).stdout))


@contextmanager
def _progress(console: Any, enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        yield progress


class Tracker:
    """A rich progress bar, or nothing (``--json``, or no terminal)."""

    def __init__(self, progress: Any, description: str, total: int) -> None:
        self.progress = progress
        self.task = progress.add_task(description, total=total) if progress else None

    def update(self, completed: int, description: str | None = None) -> None:
        if self.progress is not None:
            kw: dict[str, Any] = {"completed": completed}
            if description:
                kw["description"] = description
            self.progress.update(self.task, **kw)


def _log(console: Any, message: str) -> None:
    if console is not None:
        console.log(message)
    else:
        print(message, file=sys.stderr)


# ---------------------------------------------------------------------------------- burst runs


@dataclass
class Submitted:
    job: BenchJob
    called_at: float  # epoch, just before the command started
    latency_s: float
    ident: str  # Slurm job id (baseline) or Hyperion id
    site: str


@dataclass
class RunResult:
    name: str
    submitted: list[Submitted] = field(default_factory=list)
    times: list[JobTimes] = field(default_factory=list)
    per_job: list[dict[str, Any]] = field(default_factory=list)
    failed_submits: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "submitted": len(self.submitted)}
        if self.times:
            out.update(burst_stats(self.times))
        out["submit_latency"] = latency_stats([s.latency_s for s in self.submitted])
        sites: dict[str, int] = {}
        started_at: dict[str, int] = {}
        for row in self.per_job:
            sites[row["site"]] = sites.get(row["site"], 0) + 1
            started_at[row.get("ran_on", row["site"])] = (
                started_at.get(row.get("ran_on", row["site"]), 0) + 1
            )
        out["placed"] = dict(sorted(sites.items()))
        out["ran_on"] = dict(sorted(started_at.items()))
        out["states"] = _count(r["state"] for r in self.per_job)
        out["failed_submits"] = self.failed_submits
        return out


def _count(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return dict(sorted(out.items()))


def _write_scripts(env: Env, jobs: list[BenchJob]) -> dict[int, str]:
    d = env.workdir / "scripts"
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o755)
    paths = {}
    for job in jobs:
        p = d / f"job-{job.index:04d}.sh"
        p.write_text(job.script())
        p.chmod(0o755)
        paths[job.index] = str(p)
    return paths


def _timed_submit(
    env: Env, job: BenchJob, argv: list[str], result: RunResult, cleanup: list[Any], kind: str
) -> None:
    """Run one ``--parsable`` submit command, timing it; record ``id;cluster`` or the failure.
    ``kind`` ("slurm" or "hyperion") tells the cleanup how to cancel it."""
    t_wall = time.time()
    t0 = time.perf_counter()
    proc = _run(argv, env.any_conf, check=False, cwd=str(env.workdir))
    latency = time.perf_counter() - t0
    if proc.returncode != 0:
        result.failed_submits.append(f"job {job.index}: {proc.stderr.strip()}")
        return
    job_id, _, where = proc.stdout.strip().partition(";")
    result.submitted.append(Submitted(job, t_wall, latency, job_id, where))
    cleanup.append((kind, where, job_id))


def start_background(
    env: Env, bg: Background, user: str, cleanup: list[Any], timeout: float = 60
) -> dict[str, Any]:
    """Submit another user's load (``bg``) straight to its cluster, the same before either
    burst, and wait until it runs; Slurm then estimates that cluster busy for the whole limit."""
    conf = env.confs[bg.cluster]
    ids = []
    for _ in range(bg.jobs):
        argv = _as_user(
            user,
            [
                "sbatch",
                "--parsable",
                "--ntasks=2",
                f"--time={bg.limit_min}",
                *_common_options(env, f"hmc-{env.tag}-bg"),
                "--wrap",
                f"sleep {bg.run_s:g}",
            ],
        )
        job_id = _run(argv, conf, cwd=str(env.workdir)).stdout.strip().split(";")[0]
        ids.append(job_id)
        cleanup.append(("slurm", bg.cluster, job_id))
    deadline = time.monotonic() + timeout
    running = 0
    while time.monotonic() < deadline:
        out = _run(["squeue", "-h", "-t", "R", "-o", "%i", "-j", ",".join(ids)], conf, check=False)
        running = len(out.stdout.split())
        if running == len(ids):
            break
        time.sleep(0.5)
    return {"submitted": len(ids), "running": running, "started_at": time.time()}


def _common_options(env: Env, name: str) -> list[str]:
    return [f"--job-name={name}", "--output=/dev/null", f"--chdir={env.workdir}"]


def run_baseline(
    env: Env, jobs: list[BenchJob], scripts: dict[int, str], progress: Any, cleanup: list[Any]
) -> RunResult:
    """Every job with plain ``sbatch -M <all clusters> --parsable``, then sacct for the times."""
    result = RunResult(name="sbatch -M")
    name = f"hmc-{env.tag}-base"
    clusters = ",".join(env.clusters)
    bar = Tracker(progress, f"sbatch -M {clusters}: submitting", len(jobs))
    for job in jobs:
        argv = _as_user(
            env.user,
            [
                "sbatch",
                "-M",
                clusters,
                "--parsable",
                *_common_options(env, name),
                *job.options(),
                scripts[job.index],
            ],
        )
        _timed_submit(env, job, argv, result, cleanup, "slurm")
        bar.update(len(result.submitted))
    _wait_slurm(env, result, progress, "sbatch -M")
    return result


def _wait_slurm(env: Env, result: RunResult, progress: Any, label: str) -> None:
    """Wait until sacct shows every job of the run in a final state; fill times."""
    keys = {(s.site, s.ident): s for s in result.submitted}
    bar = Tracker(progress, f"{label}: running", len(keys))
    deadline = time.time() + 3600
    records: dict[tuple[str, str], Any] = {}
    while True:
        records = _sacct(env, {c for c, _ in keys}, {i for _, i in keys})
        done = sum(1 for k in keys if k in records and slurm_final(records[k]["state"]))
        bar.update(done)
        if done == len(keys):
            break
        if time.time() > deadline:
            raise HyperionError(f"{label}: jobs still not finished after an hour")
        time.sleep(3)
    for (cluster, job_id), sub in keys.items():
        rec = records[(cluster, job_id)]
        _add_times(result, sub, rec, cluster, job_id, extra={})


def _add_times(
    result: RunResult,
    sub: Submitted,
    rec: dict[str, Any],
    cluster: str,
    job_id: str,
    extra: dict[str, Any],
) -> None:
    row = {
        "index": sub.job.index,
        "ident": sub.ident,
        "site": sub.site,
        "ran_on": cluster,
        "slurm_job_id": job_id,
        "state": rec["state"],
        "called_at": sub.called_at,
        "slurm_submit": rec["submit"],
        "start": rec["start"],
        "end": rec["end"],
        "wait_s": (rec["start"] - sub.called_at) if rec["start"] else None,
        **extra,
    }
    result.per_job.append(row)
    if rec["start"] and rec["end"]:
        result.times.append(JobTimes(sub.called_at, rec["start"], rec["end"]))


def _hsub_argv(env: Env, args: list[str]) -> list[str]:
    return _as_user(env.user, ["env", f"HYPERION_SOCKET={env.socket}", env.hsub, *args])


def run_hyperion(
    env: Env, jobs: list[BenchJob], scripts: dict[int, str], progress: Any, cleanup: list[Any]
) -> RunResult:
    """Every job through the real ``hsub --parsable`` as the user; sacct for the times."""
    from hyperion.api.client import Client

    result = RunResult(name="hsub")
    name = f"hmc-{env.tag}-hyp"
    bar = Tracker(progress, "hsub: submitting", len(jobs))
    for job in jobs:
        argv = _hsub_argv(
            env, ["--parsable", *_common_options(env, name), *job.options(), scripts[job.index]]
        )
        _timed_submit(env, job, argv, result, cleanup, "hyperion")
        bar.update(len(result.submitted))

    client = Client(socket_path=env.socket, timeout=120)
    wanted = {s.ident: s for s in result.submitted}
    bar = Tracker(progress, "hsub: running", len(wanted))
    deadline = time.time() + 3600
    views: dict[str, dict[str, Any]] = {}
    while True:
        views = {j["id"]: j for j in client.jobs(all=True) if j["id"] in wanted}
        done = sum(1 for j in views.values() if hyperion_final(str(j["state"])))
        bar.update(done)
        if done == len(wanted):
            break
        if time.time() > deadline:
            raise HyperionError("hsub: jobs still not finished after an hour")
        time.sleep(3)
    views = {hid: client.job(hid) for hid in wanted}  # with every attempt
    finals = {hid: (str(v["site"]), str(v["slurm_job_id"])) for hid, v in views.items()}
    records = _sacct(env, {c for c, _ in finals.values()}, {i for _, i in finals.values()})
    for hid, sub in wanted.items():
        cluster, job_id = finals[hid]
        rec = records.get((cluster, job_id))
        attempts = views[hid].get("attempts") or []
        extra = {
            "attempts": [
                {
                    k: a.get(k)
                    for k in (
                        "seq",
                        "site",
                        "slurm_job_id",
                        "state",
                        "placed_reason",
                        "end_reason",
                        "submitted_at",
                        "started_at",
                        "ended_at",
                    )
                }
                for a in attempts
            ],
            "moves": max(0, len(attempts) - 1),
            "daemon_started_at": views[hid].get("started_at"),
        }
        if rec is None:
            rec = {
                "state": f"missing in sacct ({views[hid]['state']})",
                "submit": None,
                "start": None,
                "end": None,
            }
        _add_times(result, sub, rec, cluster, job_id, extra)
    return result


# ---------------------------------------------------------------------------------- latency


def run_latency(env: Env, n: int, progress: Any, cleanup: list[Any]) -> dict[str, Any]:
    """hsub vs sbatch (one cluster) vs sbatch -M (all clusters), held jobs, interleaved."""
    script = env.workdir / "scripts" / "held.sh"
    script.write_text("#!/bin/sh\ntrue\n")
    script.chmod(0o755)
    first = env.clusters[0]
    common = [
        f"--job-name=hmc-{env.tag}-lat",
        "--hold",
        "--time=10",
        "--output=/dev/null",
        f"--chdir={env.workdir}",
    ]
    kinds: dict[str, Callable[[], list[str]]] = {
        f"sbatch ({first} only)": lambda: _as_user(
            env.user, ["sbatch", "--parsable", *common, str(script)]
        ),
        f"sbatch -M {','.join(env.clusters)}": lambda: _as_user(
            env.user,
            ["sbatch", "-M", ",".join(env.clusters), "--parsable", *common, str(script)],
        ),
        "hsub": lambda: _hsub_argv(env, ["--parsable", *common, str(script)]),
    }
    samples: dict[str, list[float]] = {k: [] for k in kinds}
    bar = Tracker(progress, "submit latency", n * len(kinds))
    # one untimed call of each first: page cache, daemon connections
    for i in range(n + 1):
        for kind, make in kinds.items():
            argv = make()
            t0 = time.perf_counter()
            proc = _run(argv, env.confs[first], cwd=str(env.workdir))
            dt = time.perf_counter() - t0
            ident, _, where = proc.stdout.strip().partition(";")
            if kind == "hsub":
                cleanup.append(("hyperion", where, ident))
            else:
                cleanup.append(("slurm", where or first, ident))
            if i > 0:
                samples[kind].append(dt)
                bar.update(sum(len(v) for v in samples.values()))
    return {k: latency_stats(v) for k, v in samples.items()}


# ---------------------------------------------------------------------------------- RPC rate


def _sdiag(env: Env) -> dict[str, dict[str, int]]:
    return {c: parse_sdiag_rpcs(_run(["sdiag"], conf).stdout) for c, conf in env.confs.items()}


def _settings() -> dict[str, float]:
    from hyperion.cli.common import config_path
    from hyperion.config import load_config

    s = load_config(config_path(None)).hyperion
    return {
        "poll_interval_s": s.poll_interval_s,
        "poll_max_interval_s": s.poll_max_interval_s,
        "snapshot_interval_s": s.snapshot_interval_s,
        "replace_interval_s": s.replace_interval_s,
        "reconcile_interval_s": s.reconcile_interval_s,
        "replace_after_s": s.replace_after_s,
    }


def _submit_tracked(
    env: Env,
    count: int,
    offset: int,
    sites: list[str],
    pinned: bool,
    progress: Any,
    cleanup: list[Any],
    label: str,
) -> int:
    """``count`` held jobs through the daemon's API as root, spread evenly over ``sites``."""
    from hyperion.api.client import Client

    name = f"hmc-{env.tag}-rpc"
    script = "#!/bin/sh\ntrue\n"
    bar = Tracker(progress, label, count)
    done = 0
    errors: list[str] = []

    def one(i: int) -> tuple[str, str] | None:
        client = Client(socket_path=env.socket, timeout=120)
        site = sites[(offset + i) % len(sites)]
        for attempt in range(3):
            try:
                doc = client.submit(
                    [f"--job-name={name}", "--hold", "--time=10", "--output=/dev/null"],
                    script,
                    None,
                    [],
                    {"PATH": "/usr/bin:/bin"},
                    str(env.workdir),
                    site=site if pinned else None,
                    # a policy that needs no start estimate: fast, and spreads them evenly
                    policy="round-robin",
                )
                job = doc["job"]
                return str(job["id"]), str(job.get("site") or site)
            except HyperionError as exc:
                if attempt == 2:
                    errors.append(str(exc))
                time.sleep(0.5)
        return None

    with ThreadPoolExecutor(max_workers=8) as pool:
        for res in pool.map(one, range(count)):
            if res is not None:
                cleanup.append(("hyperion-bulk", res[1], res[0]))
                done += 1
            bar.update(done)
    if errors:
        raise HyperionError(f"{len(errors)} tracked submissions failed; first: {errors[0]}")
    return done


def _quiet_interval(
    env: Env, seconds: float, progress: Any, label: str
) -> tuple[dict[str, dict[str, int]], float]:
    before = _sdiag(env)
    t0 = time.time()
    bar = Tracker(progress, label, int(seconds))
    while (elapsed := time.time() - t0) < seconds:
        bar.update(int(elapsed))
        time.sleep(min(1.0, seconds - elapsed))
    after = _sdiag(env)
    elapsed = time.time() - t0
    bar.update(int(seconds))
    return {c: rpc_delta(before[c], after[c]) for c in env.confs}, elapsed


def _live_tracked(env: Env) -> dict[str, int]:
    """This run's held jobs per cluster, as Slurm lists them (squeue, before the interval).

    The daemon's ``GET /jobs`` returns at most 1,000 jobs, so it cannot count 10,000.
    """
    out = {}
    for c, conf in env.confs.items():
        proc = _run(["squeue", "-h", "-t", "PD", "-n", f"hmc-{env.tag}-rpc", "-o", "%i"], conf)
        out[c] = len(proc.stdout.split())
    return out


def rpc_summary(deltas: dict[str, dict[str, int]], elapsed: float, rounds: float) -> dict[str, Any]:
    """Job-info RPCs per site over an interval and per expected poll round."""
    out: dict[str, Any] = {"elapsed_s": elapsed, "expected_poll_rounds": rounds, "sites": {}}
    for site, d in deltas.items():
        info = sum(d.get(k, 0) for k in JOB_INFO_RPCS)
        # only the snapshot loop asks for nodes (sinfo), once per snapshot, next to its one
        # squeue: what is left of the job-info RPCs is the poll loop's (and re-placement's)
        snapshots = d.get("REQUEST_NODE_INFO", 0)
        poll = max(0, info - snapshots)
        out["sites"][site] = {
            "job_info_rpcs": info,
            "snapshot_rounds": snapshots,
            "poll_job_info_rpcs": poll,
            "poll_job_info_per_round": poll / rounds if rounds else None,
            "job_info_per_round": info / rounds if rounds else None,
            "all_rpcs": sum(v for k, v in d.items() if k != "REQUEST_STATS_INFO"),
            "by_type": dict(sorted(d.items(), key=lambda kv: -kv[1])),
        }
    return out


def run_rpc(
    env: Env, args: argparse.Namespace, progress: Any, cleanup: list[Any], console: Any
) -> dict[str, Any]:
    """sdiag RPC deltas over a quiet interval with few, then with many tracked jobs."""
    settings = _settings()
    sites = env.clusters
    # steady state of the adaptive poller: nothing changes for held jobs, so it sits at the
    # ceiling; a round is that interval plus the round's own duration (not counted: the
    # estimate is an upper bound on rounds, so a lower bound on RPCs per round)
    period = settings["poll_max_interval_s"]
    settle = max(settings["replace_after_s"], period) + 2 * period
    result: dict[str, Any] = {"settings": settings, "interval_s": args.rpc_interval}
    phases = [("few", args.rpc_few, True), ("many", args.tracked, True)]
    if args.rpc_unpinned:
        phases.append(("unpinned", args.tracked + args.rpc_unpinned, False))
    have = 0
    for label, target, pinned in phases:
        add = max(0, target - have)
        if add:
            t0 = time.time()
            have += _submit_tracked(
                env,
                add,
                have,
                sites,
                pinned,
                progress,
                cleanup,
                f"RPC rate: submitting held jobs ({have} -> {target})",
            )
            result.setdefault("submit_s", {})[label] = time.time() - t0
        _log(
            console,
            f"RPC rate ({label}): settling {settle:.0f} s so the poller reaches its "
            "ceiling and re-placement has looked at every job",
        )
        time.sleep(settle)
        tracked = _live_tracked(env)
        deltas, elapsed = _quiet_interval(
            env, args.rpc_interval, progress, f"RPC rate: {label} tracked jobs, sdiag interval"
        )
        phase = rpc_summary(deltas, elapsed, elapsed / period)
        phase["tracked_per_site"] = tracked
        phase["tracked"] = sum(tracked.values())
        result[label] = phase
    return result


# ---------------------------------------------------------------------------------- cleanup


def cancel_all(env: Env, cleanup: list[Any], console: Any) -> dict[str, int]:
    """Cancel everything this run submitted. Bulk jobs by name on every cluster (fast)."""
    from hyperion.api.client import Client

    counts = {"slurm": 0, "hyperion": 0, "hyperion-bulk": 0}
    by_cluster: dict[str, list[str]] = {}
    client = Client(socket_path=env.socket, timeout=120)
    for kind, site, ident in cleanup:
        counts[kind] += 1
        if kind == "slurm":
            by_cluster.setdefault(site, []).append(ident)
        elif kind == "hyperion":
            try:
                client.cancel(ident)
            except HyperionError as exc:
                _log(console, f"cancel {ident}: {exc}")
    for cluster, ids in by_cluster.items():
        for i in range(0, len(ids), 500):
            _run(["scancel", "-M", cluster, *ids[i : i + 500]], env.any_conf, check=False)
    if counts["hyperion-bulk"]:
        # thousands of held jobs: scancel by name on each cluster (one call each); the daemon
        # sees them CANCELLED on its next poll round
        for cluster in env.clusters:
            _run(
                ["scancel", "-M", cluster, "-u", "root", "-n", f"hmc-{env.tag}-rpc"],
                env.any_conf,
                check=False,
            )
    return counts


# ---------------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=200, help="jobs in the burst (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="workload seed (default 0)")
    parser.add_argument("--user", default="alice", help="user who submits the burst")
    parser.add_argument(
        "--clusters", default="alpha,beta,gamma", help="clusters for sbatch -M (default all three)"
    )
    parser.add_argument(
        "--latency-submits", type=int, default=20, help="timed submissions of each kind"
    )
    parser.add_argument(
        "--tracked",
        type=int,
        default=10000,
        help="held jobs the daemon tracks for the RPC rate, spread evenly over the clusters "
        "(default 10000: about 3,300 per cluster, under each cluster's MaxJobCount=10000)",
    )
    parser.add_argument(
        "--rpc-few", type=int, default=30, help="held jobs tracked in the reference phase"
    )
    parser.add_argument(
        "--rpc-interval", type=float, default=60.0, help="sdiag interval per phase (s)"
    )
    parser.add_argument(
        "--rpc-unpinned",
        type=int,
        default=30,
        help="a third phase: this many more held jobs, not pinned to a site, so that the "
        "re-placement loop looks at them (the tracked jobs are pinned: never re-placed)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["baseline", "hyperion", "latency", "rpc"],
        help="skip a part (repeatable)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=240,
        help="before each burst, wait up to this long for the clusters to be idle and "
        "the cloud nodes powered down, so both runs start alike",
    )
    parser.add_argument(
        "--background",
        metavar="CLUSTER:JOBS:LIMIT_MIN:RUN_S",
        help="before each burst, another user's 2-core jobs on one cluster that ask for far "
        "more time than they run (e.g. alpha:4:1440:60): a federation whose sites differ",
    )
    parser.add_argument(
        "--background-user", default="bob", help="who submits the background (default bob)"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--render", metavar="RESULT_JSON", help="only print the tables of a saved result"
    )


def _env(args: argparse.Namespace) -> Env:
    testbed = Path(
        os.environ.get("HYPERION_TESTBED_DIR") or Path(__file__).resolve().parents[2] / ".testbed"
    )
    confs = {}
    for c in args.clusters.split(","):
        conf = os.environ.get(f"SLURM_CONF_{c.upper()}") or str(testbed / c / "slurm.conf")
        if not Path(conf).exists():
            raise HyperionError(
                f"no slurm.conf for cluster {c!r} at {conf}",
                hint="bring the testbed up (scripts/testbed up) and eval $(scripts/testbed env)",
            )
        confs[c] = conf
    from hyperion.api.client import default_socket

    socket = default_socket()
    if not Path(socket).exists():
        raise HyperionError(
            f"hyperiond's socket {socket} does not exist",
            hint="start the daemon (scripts/testbed up) or set HYPERION_SOCKET",
        )
    hsub = str(Path(sys.executable).with_name("hsub"))
    tag = uuid.uuid4().hex[:6]
    workdir = testbed / "share" / f"bench-multicluster-{tag}"
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o1777)
    return Env(testbed, confs, socket, args.user, hsub, workdir, tag)


def _cloud_nodes_up(env: Env) -> dict[str, int]:
    """Per cluster: (non-idle nodes, powered-up cloud nodes) from sinfo --json."""
    out = {}
    for c, conf in env.confs.items():
        doc = json.loads(_run(["sinfo", "--json"], conf).stdout)
        busy = 0
        for node in doc.get("nodes") or []:
            flags = {str(f).upper() for f in node.get("state_flags") or []}
            state = str(node.get("state") or "").upper()
            cloud = "CLOUD" in flags or "POWERED_DOWN" in flags or "POWER_DOWN" in flags
            powered_down = "POWERED_DOWN" in flags
            if state in {"ALLOCATED", "MIXED"} or (cloud and not powered_down):
                busy += 1
        out[c] = busy
    return out


def _wait_idle(env: Env, timeout: float, progress: Any, console: Any, label: str) -> dict[str, Any]:
    t0 = time.time()
    bar = Tracker(progress, f"{label}: waiting for idle clusters", int(timeout))
    state = _cloud_nodes_up(env)
    while sum(state.values()) and time.time() - t0 < timeout:
        bar.update(int(time.time() - t0))
        time.sleep(3)
        state = _cloud_nodes_up(env)
    bar.update(int(timeout))
    waited = time.time() - t0
    if sum(state.values()):
        _log(console, f"{label}: clusters not idle after {waited:.0f} s: {state} (going on)")
    return {"waited_s": waited, "busy_or_powered_up_nodes": state}


def _saved_result(path: Path) -> dict[str, Any]:
    """A result saved by ``--json`` (or the run's result.json); a clear error otherwise."""
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise HyperionError(f"--render {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise HyperionError(
            f"--render {path}: not a saved result ({exc})",
            hint="pass the JSON that `hyperion bench multicluster --json` printed",
        ) from None
    if not isinstance(doc, dict) or "workload" not in doc:
        raise HyperionError(f"--render {path}: not a result of hyperion bench multicluster")
    return doc


def run(args: argparse.Namespace) -> int:
    if args.render:
        render(_saved_result(Path(args.render)))
        return 0
    if os.geteuid() != 0:
        raise HyperionError(
            "hyperion bench multicluster must run as root",
            hint="it submits as another user with runuser and reads every job from the daemon",
        )
    env = _env(args)
    console = None
    if not args.json:
        from rich.console import Console

        console = Console(stderr=True)
    jobs = generate_workload(args.jobs, args.seed)
    background = parse_background(args.background) if args.background else None
    if background is not None and background.cluster not in env.clusters:
        raise HyperionError(
            f"--background {args.background!r}: {background.cluster} is not one of the clusters",
            hint=f"clusters: {', '.join(env.clusters)}",
        )
    scripts = _write_scripts(env, jobs)
    cleanup: list[Any] = []
    out: dict[str, Any] = {
        "workload": {
            "jobs": len(jobs),
            "seed": args.seed,
            "ntasks": _count(str(j.ntasks) for j in jobs),
            "two_node_jobs": sum(1 for j in jobs if j.nodes == 2),
            "runtime_s": {
                "mean": statistics.fmean(j.runtime_s for j in jobs) if jobs else 0,
                "max": max((j.runtime_s for j in jobs), default=0),
            },
            "requested_over_actual_min": min(
                (j.time_limit_s / j.runtime_s for j in jobs), default=0
            ),
            "core_seconds": sum(j.ntasks * j.runtime_s for j in jobs),
        },
        "tag": env.tag,
        "workdir": str(env.workdir),
    }
    if background is not None:
        out["workload"]["background"] = dataclasses.asdict(background)
    results: dict[str, RunResult] = {}
    try:
        with _progress(console, console is not None) as progress:
            bursts = (("baseline", "sbatch -M", run_baseline), ("hyperion", "hsub", run_hyperion))
            for key, label, burst in bursts:
                if key in args.skip:
                    continue
                out[f"idle_before_{key}"] = _wait_idle(
                    env, args.idle_timeout, progress, console, label
                )
                if background is not None:
                    out[f"background_{key}"] = start_background(
                        env, background, args.background_user, cleanup
                    )
                before = _sdiag(env)
                results[key] = burst(env, jobs, scripts, progress, cleanup)
                after = _sdiag(env)
                out[f"burst_rpcs_{key}"] = {c: rpc_delta(before[c], after[c]) for c in after}
            if "latency" not in args.skip:
                held: list[Any] = []
                try:
                    out["latency"] = run_latency(env, args.latency_submits, progress, held)
                finally:
                    # at once: held hsub jobs are live, unpinned jobs the daemon's
                    # re-placement looks at, which would disturb the RPC measurement
                    out["cancelled_latency"] = cancel_all(env, held, console)
            if "rpc" not in args.skip:
                out["rpc"] = run_rpc(env, args, progress, cleanup, console)
    finally:
        out["cancelled"] = cancel_all(env, cleanup, console)
    for key, res in results.items():
        out[key] = res.summary()
        out[key]["per_job"] = res.per_job
    if "baseline" in results and "hyperion" in results:
        b, h = out["baseline"], out["hyperion"]
        out["ratio"] = {
            k: (h[k] / b[k] if b.get(k) else None)
            for k in ("mean_wait_s", "p95_wait_s", "makespan_s")
            if k in b and k in h
        }
        out["goal_mean_wait_ratio"] = 0.8
        out["goal_met"] = (out["ratio"].get("mean_wait_s") or math.inf) <= 0.8
    saved = env.workdir / "result.json"
    saved.write_text(json.dumps(out, indent=2, default=str))
    out["saved_to"] = str(saved)
    if args.json:
        json.dump(out, sys.stdout, indent=2, default=str)
        print()
    else:
        render(out)
    return 0
