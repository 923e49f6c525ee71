"""Availability profiles: free cores and GPUs over future time, as backfill schedulers plan.

A profile is three parallel lists ``(times, free_cores, free_gpus)``: from ``times[i]`` until
``times[i + 1]`` (the last segment: forever) ``free_cores[i]`` cores and ``free_gpus[i]`` GPUs are
free. ``times[0]`` is "now". Running jobs release their resources at their *planned* ends (start
plus requested time, as Slurm plans), and a job past its planned end counts as ending now.

Used for start-time estimates (like ``sbatch --test-only``) and as the schedule itself by
conservative backfilling, where every queued job holds a reservation in the profile.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

#: (times, free cores, free GPUs)
Profile = tuple[list[float], list[int], list[int]]


def build_profile(
    now: float, free_cores: int, free_gpus: int, running: Iterable[tuple[float, int, Any]]
) -> Profile:
    """The profile of a partition whose ``running`` entries are ``(planned end, idx, job)``
    sorted by planned end; the jobs' ``nc``/``ng`` are what they hold."""
    times = [now]
    fc = [free_cores]
    fg = [free_gpus]
    c, g = free_cores, free_gpus
    for end, _, rj in running:
        c += rj.nc
        g += rj.ng
        t = end if end > now else now
        if t == times[-1]:
            fc[-1] = c
            fg[-1] = g
        else:
            times.append(t)
            fc.append(c)
            fg.append(g)
    return (times, fc, fg)


def advance(plan: Profile, now: float) -> bool:
    """Move a cached profile's start to ``now``; False if it has breakpoints at or before
    ``now`` after its start (then it is stale and must be rebuilt)."""
    times = plan[0]
    if times[0] >= now:
        return True
    if len(times) > 1 and times[1] <= now:
        return False
    times[0] = now
    return True


def fit_index(plan: Profile, c: int, g: int, d: float) -> int:
    """Index of the earliest breakpoint from which ``c`` cores and ``g`` GPUs stay free for
    ``d`` seconds."""
    times, fc, fg = plan
    n = len(times)
    k = 0
    if not g:  # the common case: cores only
        while k < n:
            if fc[k] >= c:
                tend = times[k] + d
                m = k + 1
                while m < n and times[m] < tend:
                    if fc[m] < c:
                        break
                    m += 1
                else:
                    return k
                k = m + 1
            else:
                k += 1
        return n - 1
    while k < n:
        if fc[k] >= c and fg[k] >= g:
            tend = times[k] + d
            m = k + 1
            while m < n and times[m] < tend:
                if fc[m] < c or fg[m] < g:
                    break
                m += 1
            else:
                return k
            k = m + 1
        else:
            k += 1
    return n - 1  # the last segment has everything free; unreachable for jobs that fit


def earliest_fit(plan: Profile, c: int, g: int, d: float) -> float:
    """Earliest time from which ``c`` cores and ``g`` GPUs stay free for ``d`` seconds."""
    return plan[0][fit_index(plan, c, g, d)]


def reserve_at(plan: Profile, k: int, c: int, g: int, d: float) -> float:
    """Take ``c`` cores and ``g`` GPUs for ``d`` seconds from breakpoint ``k``; returns its time."""
    times, fc, fg = plan
    t0 = times[k]
    tend = t0 + d
    m = bisect_left(times, tend, k + 1)
    if m == len(times) or times[m] != tend:
        times.insert(m, tend)
        fc.insert(m, fc[m - 1])
        fg.insert(m, fg[m - 1])
    for i in range(k, m):
        fc[i] -= c
    if g:
        for i in range(k, m):
            fg[i] -= g
    return t0


def reserve(plan: Profile, c: int, g: int, d: float) -> float:
    """Reserve ``c`` cores and ``g`` GPUs for ``d`` seconds at the earliest fit; return start."""
    times, fc, fg = plan  # reserve_at inlined: this runs for every planned job
    k = fit_index(plan, c, g, d)
    t0 = times[k]
    tend = t0 + d
    m = bisect_left(times, tend, k + 1)
    if m == len(times) or times[m] != tend:
        times.insert(m, tend)
        fc.insert(m, fc[m - 1])
        fg.insert(m, fg[m - 1])
    for i in range(k, m):
        fc[i] -= c
    if g:
        for i in range(k, m):
            fg[i] -= g
    return t0
