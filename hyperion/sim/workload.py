"""Workload helpers: merge several traces into one stream, give jobs a home, add GPU requests,
priorities, partition requests and time flexibility.

All functions return new job lists (the input jobs are left untouched) and are deterministic for
a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

from hyperion.errors import HyperionError
from hyperion.sim.job import SimJob

HOME_MODES = ("user", "round-robin", "random", "first")

T = TypeVar("T")


def merge(streams: Iterable[tuple[Sequence[SimJob], str | None]]) -> list[SimJob]:
    """One arrival stream from several ``(jobs, home)`` streams; ``home`` None keeps the jobs'.

    Jobs keep their submit times (each stream's own clock starts at 0); ties keep stream order.
    """
    out: list[SimJob] = []
    for jobs, home in streams:
        for j in jobs:
            c = j.copy()
            if home is not None:
                c.home = home
            out.append(c)
    out.sort(key=lambda j: j.submit)
    for i, j in enumerate(out):
        j.idx = i
    return out


def assign_homes(
    jobs: Sequence[SimJob], sites: Sequence[str], mode: str = "user", seed: int = 0
) -> list[SimJob]:
    """Copies of ``jobs`` with a home site each.

    ``user``: all jobs of a user share a home (user id modulo the number of sites; jobs of an
    unknown user by job id); ``round-robin``: in submit order; ``random``: seeded draw;
    ``first``: the first site.
    """
    if not sites:
        raise HyperionError("assigning home sites needs at least one site")
    if mode not in HOME_MODES:
        raise HyperionError(
            f"unknown home mode {mode!r}", hint=f"valid modes: {', '.join(HOME_MODES)}"
        )
    rng = random.Random(seed)
    n = len(sites)
    out = []
    for i, j in enumerate(jobs):
        c = j.copy()
        if mode == "user":
            key = c.user if c.user >= 0 else c.job_id
            c.home = sites[key % n]
        elif mode == "round-robin":
            c.home = sites[i % n]
        elif mode == "random":
            c.home = sites[rng.randrange(n)]
        else:
            c.home = sites[0]
        out.append(c)
    return out


def scale_time(jobs: Sequence[SimJob], factor: float) -> list[SimJob]:
    """Copies with submit times multiplied by ``factor`` (< 1 raises the offered load)."""
    if factor <= 0:
        raise HyperionError(f"time scale must be > 0, got {factor}")
    out = []
    for j in jobs:
        c = j.copy()
        c.submit = j.submit * factor
        out.append(c)
    return out


def annotate_gpus(
    jobs: Sequence[SimJob],
    share: float,
    *,
    seed: int = 0,
    cores_per_gpu: int = 8,
    max_gpus: int = 8,
) -> list[SimJob]:
    """Copies where a seeded ``share`` of jobs also request GPUs (one per ``cores_per_gpu`` cores,
    at least 1, at most ``max_gpus``). SWF traces carry no GPU requests; this adds them."""
    if not 0.0 <= share <= 1.0:
        raise HyperionError(f"GPU share must be within [0, 1], got {share}")
    rng = random.Random(seed)
    out = []
    for j in jobs:
        c = j.copy()
        if rng.random() < share:
            c.gpus = min(max_gpus, max(1, -(-c.cores // cores_per_gpu)))
        out.append(c)
    return out


def _draw(
    jobs: Sequence[SimJob], shares: Mapping[T, float], seed: int, what: str
) -> list[tuple[SimJob, T | None]]:
    """Copies of ``jobs``, each paired with one of ``shares``' keys drawn with its probability
    (None for the rest), from a seeded generator."""
    if any(s < 0 for s in shares.values()) or sum(shares.values()) > 1.0 + 1e-9:
        raise HyperionError(f"{what} shares must be >= 0 and add up to at most 1, got {shares}")
    rng = random.Random(seed)
    out: list[tuple[SimJob, T | None]] = []
    for j in jobs:
        u = rng.random()
        pick: T | None = None
        acc = 0.0
        for key, share in shares.items():
            acc += share
            if u < acc:
                pick = key
                break
        out.append((j.copy(), pick))
    return out


def assign_priorities(
    jobs: Sequence[SimJob], shares: Mapping[int, float], *, seed: int = 0
) -> list[SimJob]:
    """Copies where a seeded share of jobs gets each priority, e.g. ``{10: 0.1}``: one job in
    ten at priority 10; the others keep theirs. Used with ``order="priority"`` partitions."""
    out = []
    for c, prio in _draw(jobs, shares, seed, "priority"):
        if prio is not None:
            c.priority = prio
        out.append(c)
    return out


def assign_partitions(
    jobs: Sequence[SimJob], shares: Mapping[str, float], *, seed: int = 0
) -> list[SimJob]:
    """Copies where a seeded share of jobs asks for each named partition (``sbatch -p``), e.g.
    ``{"gpu-priority": 0.2}``; the others keep their request (None: the site's default)."""
    out = []
    for c, name in _draw(jobs, shares, seed, "partition"):
        if name is not None:
            c.req_partition = name
        out.append(c)
    return out


def assign_flex(
    jobs: Sequence[SimJob], share: float, flex_s: float, *, seed: int = 0
) -> list[SimJob]:
    """Copies where a seeded ``share`` of jobs may start up to ``flex_s`` seconds late for
    greener power (like ``hsub --carbon-flex``); the others keep theirs."""
    if not 0.0 <= share <= 1.0:
        raise HyperionError(f"flexible share must be within [0, 1], got {share}")
    if flex_s < 0:
        raise HyperionError(f"flexibility must be >= 0 seconds, got {flex_s}")
    rng = random.Random(seed)
    out = []
    for j in jobs:
        c = j.copy()
        if rng.random() < share:
            c.flex = float(flex_s)
        out.append(c)
    return out


#: time limits users commonly ask for, seconds (5 min ... 2 days)
COMMON_LIMITS_S = tuple(
    m * 60 for m in (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 360, 480, 720, 1080, 1440, 2880)
)
#: how requested times are modelled: as in the trace, or as users write them (see user_estimates)
ESTIMATES = ("trace", "user", "mixed")


def user_estimates(
    jobs: Sequence[SimJob], seed: int = 0, exact_share: float = 0.15
) -> list[SimJob]:
    """Copies of ``jobs`` whose requested time, where the trace has none worth the name (not
    above the run time: generated workloads and traces without estimates, but also a trace's
    jobs killed at their limit, whose estimate this replaces), is what a user would ask for:
    a common limit (:data:`COMMON_LIMITS_S`) at or above the run time divided by an accuracy
    drawn uniformly from 0.05-1, or, for ``exact_share`` of the jobs, the first common limit
    at or above the run time. Users overestimate, and round up to familiar values
    (as observed in real traces); the scheduler plans with these times, so start estimates
    become pessimistic as in production. Jobs that ran shorter than they asked keep theirs.
    """
    rng = random.Random(seed)
    out = []
    for j in jobs:
        c = j.copy()
        if c.req <= c.run + 1e-9:
            accuracy = 1.0 if rng.random() < exact_share else rng.uniform(0.05, 1.0)
            want = c.run / accuracy
            beyond = max(COMMON_LIMITS_S[-1], c.run)  # nobody asks for more than the longest
            c.req = float(next((lim for lim in COMMON_LIMITS_S if lim >= want), beyond))
        out.append(c)
    return out
