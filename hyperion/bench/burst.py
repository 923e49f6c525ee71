"""What ``hyperion bench multicluster`` submits and how it sums results up: the seeded burst
workload, Slurm's final states, wait/latency statistics and ``sdiag`` RPC counters. No daemons,
no Slurm: unit-tested on their own."""

from __future__ import annotations

import math
import random
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hyperion.errors import HyperionError
from hyperion.sites.states import from_slurm
from hyperion.state.models import HyperionJobState


def slurm_final(state: str) -> bool:
    """A Slurm (sacct/squeue) state after which the job will not start or run again."""
    return from_slurm(state).is_final


def hyperion_final(state: str) -> bool:
    """A Hyperion job state after which the job will not change again."""
    try:
        return HyperionJobState(state.upper()).is_final
    except ValueError:
        return False


JOB_INFO_RPCS = ("REQUEST_JOB_INFO", "REQUEST_JOB_INFO_SINGLE", "REQUEST_JOB_USER_INFO")

# ---------------------------------------------------------------------------------- workload


@dataclass(frozen=True)
class BenchJob:
    """One job of the burst: what it asks Slurm for and what it really does."""

    index: int
    ntasks: int
    nodes: int | None  # None: Slurm chooses (1 or 2 nodes of 2 cores)
    runtime_s: float  # what the job actually runs (sleep)
    time_limit_min: int  # what the user asks for

    @property
    def time_limit_s(self) -> int:
        return self.time_limit_min * 60

    def options(self) -> list[str]:
        """The sbatch options of this job (the same for sbatch -M and hsub)."""
        opts = [f"--ntasks={self.ntasks}", f"--time={self.time_limit_min}"]
        if self.nodes is not None:
            opts.append(f"--nodes={self.nodes}")
        return opts

    def script(self) -> str:
        return f"#!/bin/sh\nsleep {self.runtime_s:g}\n"


TIME_LIMITS_MIN = (10, 15, 20, 30, 45, 60)


def generate_workload(
    n: int,
    seed: int = 0,
    *,
    min_runtime_s: float = 2.0,
    max_runtime_s: float = 10.0,
    two_node_share: float = 0.15,
) -> list[BenchJob]:
    """A burst of ``n`` short CPU jobs; the same ``seed`` gives the same list.

    Sizes: 1-4 tasks (more small jobs than large), ``two_node_share`` of them explicit 2-node
    jobs (2 or 4 tasks). Run times are heavy-tailed (Pareto, shape 1.2) between
    ``min_runtime_s`` and ``max_runtime_s``; requested limits are 10-60 minutes, so every job
    asks for at least 60 times what it uses.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    if not 0 < min_runtime_s <= max_runtime_s:
        raise ValueError("need 0 < min_runtime_s <= max_runtime_s")
    rng = random.Random(seed)
    jobs = []
    for i in range(n):
        if rng.random() < two_node_share:
            nodes: int | None = 2
            ntasks = rng.choice((2, 4))
        else:
            nodes = None
            ntasks = rng.choices((1, 2, 3, 4), weights=(45, 30, 10, 15))[0]
        runtime = min(max_runtime_s, min_runtime_s * rng.paretovariate(1.2))
        runtime = round(runtime, 1)
        jobs.append(
            BenchJob(
                index=i,
                ntasks=ntasks,
                nodes=nodes,
                runtime_s=runtime,
                time_limit_min=rng.choice(TIME_LIMITS_MIN),
            )
        )
    return jobs


# ---------------------------------------------------------------------------------- statistics


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sample."""
    if not samples:
        raise ValueError("percentile of an empty sample")
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class JobTimes:
    """When the user submitted a job and when Slurm started and ended it (epoch seconds)."""

    submitted: float
    start: float
    end: float


def burst_stats(times: Iterable[JobTimes]) -> dict[str, float]:
    """Mean and p95 wait (start - user's submit), makespan (last end - first submit)."""
    rows = list(times)
    if not rows:
        raise ValueError("no jobs")
    waits = [max(0.0, t.start - t.submitted) for t in rows]
    return {
        "jobs": len(rows),
        "mean_wait_s": statistics.fmean(waits),
        "median_wait_s": statistics.median(waits),
        "p95_wait_s": percentile(waits, 95),
        "max_wait_s": max(waits),
        "makespan_s": max(t.end for t in rows) - min(t.submitted for t in rows),
    }


def latency_stats(samples: Sequence[float]) -> dict[str, float]:
    """Median and p95 of latencies given in seconds, in milliseconds."""
    return {
        "n": len(samples),
        "median_ms": statistics.median(samples) * 1000,
        "p95_ms": percentile(samples, 95) * 1000,
    }


_RPC_LINE = re.compile(r"^\s*([A-Z_0-9]+)\s+\(\s*\d+\)\s+count:(\d+)")


def parse_sdiag_rpcs(text: str) -> dict[str, int]:
    """RPC counts by message type from ``sdiag`` output."""
    out: dict[str, int] = {}
    section = False
    for line in text.splitlines():
        if line.startswith("Remote Procedure Call statistics by message type"):
            section = True
            continue
        if section and line.startswith("Remote Procedure Call statistics by user"):
            break
        m = _RPC_LINE.match(line) if section else None
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def rpc_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Per-type increase; a counter that went down (slurmctld restarted) raises."""
    out = {}
    for name in set(before) | set(after):
        d = after.get(name, 0) - before.get(name, 0)
        if d < 0:
            raise HyperionError(f"sdiag counter {name} went down: slurmctld restarted?")
        if d:
            out[name] = d
    return out


@dataclass(frozen=True)
class Background:
    """Other users' load on one cluster during a burst: ``jobs`` 2-core jobs that ask for
    ``limit_min`` minutes and run ``run_s`` seconds (users overestimate; Slurm's start estimates
    believe the limits)."""

    cluster: str
    jobs: int
    limit_min: int
    run_s: float


def parse_background(text: str) -> Background:
    """``CLUSTER:JOBS:LIMIT_MIN:RUN_S``, e.g. ``alpha:4:1440:60``; a clear error otherwise."""
    parts = text.split(":")
    try:
        if len(parts) != 4 or not re.fullmatch(r"[A-Za-z0-9_.-]+", parts[0]):
            raise ValueError
        bg = Background(parts[0], int(parts[1]), int(parts[2]), float(parts[3]))
    except ValueError:
        raise HyperionError(
            f"--background {text!r}: expected CLUSTER:JOBS:LIMIT_MIN:RUN_S",
            hint="e.g. alpha:4:1440:60 (four 2-core jobs asking 24 h, running 60 s)",
        ) from None
    if bg.jobs < 1 or bg.limit_min < 1 or not 0 < bg.run_s <= bg.limit_min * 60:
        raise HyperionError(
            f"--background {text!r}: need JOBS >= 1, LIMIT_MIN >= 1 and 0 < RUN_S <= the limit"
        )
    return bg
