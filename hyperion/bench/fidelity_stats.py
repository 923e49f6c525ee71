"""Statistics of ``hyperion bench fidelity``: ranks with ties, Pearson, Spearman, wait errors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


def ranks(xs: Sequence[float]) -> list[float]:
    """1-based ranks of ``xs``; tied values all get the mean of the ranks they span."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    out = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        mean_rank = (i + j) / 2 + 1
        for k in range(i, j + 1):
            out[order[k]] = mean_rank
        i = j + 1
    return out


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Pearson's correlation coefficient; NaN when either side has no variance or n < 2."""
    if len(xs) != len(ys):
        raise ValueError(f"lengths differ: {len(xs)} and {len(ys)}")
    n = len(xs)
    if n < 2:
        return math.nan
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return math.nan
    return sxy / math.sqrt(sxx * syy)


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson's of the tie-averaged ranks."""
    return pearson(ranks(xs), ranks(ys))


@dataclass(frozen=True)
class Agreement:
    """How closely simulated start times follow the real ones (all times in seconds)."""

    jobs: int
    spearman_start: float
    pearson_start: float
    spearman_wait: float
    pearson_wait: float
    mean_wait_live: float
    mean_wait_sim: float
    mae_wait: float
    mae_wait_rel: float
    bias_wait: float
    max_abs_err: float
    within_2s: float
    overtakers_live: int
    overtakers_sim: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def agreement(
    submit: Sequence[float], start_live: Sequence[float], start_sim: Sequence[float]
) -> Agreement:
    """Compare two schedules of the same jobs, given in submission order.

    Start order is compared on start times (Spearman; ties share their mean rank); waits are
    start - submit. ``mae_wait_rel`` is the mean absolute error over the live mean wait (NaN when
    nothing waited) and ``bias_wait`` the mean of live - simulated waits (> 0: Slurm slower).
    """
    n = len(submit)
    if not n or len(start_live) != n or len(start_sim) != n:
        raise ValueError("agreement needs the same non-zero number of jobs on both sides")
    w_live = [s - t for s, t in zip(start_live, submit, strict=True)]
    w_sim = [s - t for s, t in zip(start_sim, submit, strict=True)]
    errs = [a - b for a, b in zip(w_live, w_sim, strict=True)]
    mean_live = sum(w_live) / n
    mae = sum(abs(e) for e in errs) / n
    return Agreement(
        jobs=n,
        spearman_start=spearman(start_live, start_sim),
        pearson_start=pearson(start_live, start_sim),
        spearman_wait=spearman(w_live, w_sim),
        pearson_wait=pearson(w_live, w_sim),
        mean_wait_live=mean_live,
        mean_wait_sim=sum(w_sim) / n,
        mae_wait=mae,
        mae_wait_rel=mae / mean_live if mean_live > 0 else math.nan,
        bias_wait=sum(errs) / n,
        max_abs_err=max(abs(e) for e in errs),
        within_2s=sum(1 for e in errs if abs(e) <= 2) / n,
        overtakers_live=overtakers(start_live),
        overtakers_sim=overtakers(start_sim),
    )


def overtakers(start: Sequence[float]) -> int:
    """Jobs (given in submission order) that started before some job submitted before them:
    the jobs a backfill pass (or nothing else, in FCFS) let through."""
    count, latest = 0, -math.inf
    for s in start:
        if s < latest:
            count += 1
        latest = max(latest, s)
    return count


def latencies(
    submit: Sequence[float],
    start: Sequence[float],
    end: Sequence[float],
    cores: Sequence[int],
    total_cores: int,
) -> dict[str, float]:
    """Delays a scheduler adds on top of the resources it had, read off one real schedule.

    ``launch_s``: mean start - submit of the jobs that could start at once (enough free cores at
    their submission and every job submitted before them already started). ``handoff_s``: mean
    gap between the last end at or before a queued job's start and that start, over the jobs
    that waited. NaN when no job is of that kind.
    """
    n = len(submit)
    launch, handoff = [], []
    for i in range(n):
        busy = sum(cores[k] for k in range(n) if start[k] <= submit[i] < end[k])
        ahead_pending = any(
            submit[k] < submit[i] and start[k] > submit[i] for k in range(n) if k != i
        )
        if busy + cores[i] <= total_cores and not ahead_pending:
            launch.append(start[i] - submit[i])
        elif start[i] > submit[i]:
            ends = [e for e in end if e <= start[i]]
            if ends:
                handoff.append(start[i] - max(max(ends), submit[i]))
    return {
        "launch_s": sum(launch) / len(launch) if launch else math.nan,
        "launch_jobs": float(len(launch)),
        "handoff_s": sum(handoff) / len(handoff) if handoff else math.nan,
        "handoff_jobs": float(len(handoff)),
    }
