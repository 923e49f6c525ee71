"""The Lublin–Feitelson workload model (Lublin & Feitelson, JPDC 63(11), 2003) for rigid jobs.

Every job is batch or interactive and is drawn with its type's fitted parameters
(:mod:`hyperion.sim.lublin_params`):

* **Type**: batch and interactive jobs come from two independent arrival streams; the next job
  is the one whose stream delivers first, so the mix is the model's own (with the default
  parameters about 85% of the jobs are interactive, which arrive more often).
  ``interactive_share`` instead sets each job's type by a coin with that probability
  (0: batch only, 1: interactive only); each stream is then stretched on its own so both end
  together.
* **Size**: serial with probability ``serial_prob``; otherwise log2(size) is two-stage uniform
  (on [u_low, u_med] with probability u_prob, else [u_med, u_hi]) with u_hi taken from the
  machine size (log2(machine size) for batch jobs, 1.5 less for interactive ones) and
  u_med = u_hi - ``med_below``; with probability ``pow2_prob`` (of all jobs) log2(size) is
  rounded to an integer. Sizes are capped at 2^u_hi, so they stay within [1, machine size].
* **Run time**: ln(run time) is hyper-gamma, Gamma(a1, b1) with probability
  p = pa * size + pb (linear in the size, clamped to [0, 1]) else Gamma(a2, b2); since pa < 0,
  larger jobs run longer. Draws above ``max_log_run`` are redrawn; run time = floor(e^x) s.
* **Arrivals**: ln(gap) is Gamma(aarr * arar, barr) for the gap between two jobs of a type at
  the daily peak (redrawn above ``max_log_gap``); the daily cycle (the gamma-shaped arrival
  rate per half hour, Gamma(anum, bnum)) stretches the gaps by the time of day
  (:mod:`hyperion.sim.lublin_day`). Submit time 0 is ``start_hour`` o'clock.
* **Load**: the paper reaches a load by scaling the inter-arrival times. Here the model first
  draws its ``n_jobs`` jobs at its own rate; then every gap is multiplied by one factor c
  (one per stream with ``interactive_share``), chosen by inverting the day clock so the last
  submission comes at span = work / (``load`` * machine size), where work is the jobs'
  core-seconds (cores * run time). So the offered load, work / (machine size * span) with the
  span from 0 to the last submission, equals ``load`` up to rounding submit times to seconds.
  Scaling the gaps keeps their shape and the daily cycle (a day stays 24 h).
* **Requested time**: the model has none; it is the run time, or the run time times a uniform
  factor in [1, ``estimate_factor``] when that is above 1.

Everything is drawn from one ``random.Random(seed)`` (GPU requests from ``Random(seed + 1)``,
see :func:`hyperion.sim.workload.annotate_gpus`), so a seed gives the same workload anywhere.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from hyperion.errors import HyperionError
from hyperion.sim.job import SimJob
from hyperion.sim.lublin_day import BUCKET_S, DayClock, day_weights
from hyperion.sim.lublin_params import JobClass, LublinParams
from hyperion.sim.workload import annotate_gpus

BATCH, INTERACTIVE = 0, 1


def _size(rng: random.Random, c: JobClass, log_machine: float) -> int:
    u = rng.random()
    hi = log_machine - c.hi_below
    if u < c.serial_prob or hi <= 0:
        return 1
    low = min(c.u_low, hi)
    med = min(max(hi - c.med_below, low), hi)
    x = rng.uniform(low, med) if rng.random() < c.u_prob else rng.uniform(med, hi)
    if u < c.serial_prob + c.pow2_prob:
        x = math.floor(x + 0.5)
    return min(int(2**x + 0.5), int(2**hi + 0.5))


def _run_time(rng: random.Random, c: JobClass, size: int, max_log: float) -> float:
    p = min(1.0, max(0.0, c.pa * size + c.pb))
    while True:
        if rng.random() < p:
            x = rng.gammavariate(c.a1, c.b1)
        else:
            x = rng.gammavariate(c.a2, c.b2)
        if x <= max_log:
            return float(math.floor(math.exp(x)))


def _gap(rng: random.Random, c: JobClass, max_log: float) -> float:
    """One peak-hour inter-arrival gap, in day-clock points."""
    while True:
        x = rng.gammavariate(c.aarr * c.arar, c.barr)
        if x <= max_log:
            return math.exp(x) / BUCKET_S


def _arrivals(
    rng: random.Random,
    n: int,
    share: float | None,
    classes: tuple[JobClass, JobClass],
    clocks: tuple[DayClock, DayClock],
    max_log: float,
) -> tuple[list[int], list[float]]:
    """Each job's type and the points its type's clock has spent when it arrives."""
    kinds: list[int] = []
    points: list[float] = []
    if share is None:  # the model's own mix: the stream that delivers first
        nxt = [_gap(rng, classes[t], max_log) for t in (BATCH, INTERACTIVE)]
        due = [clocks[t].seconds(nxt[t]) for t in (BATCH, INTERACTIVE)]
        for _ in range(n):
            t = BATCH if due[BATCH] < due[INTERACTIVE] else INTERACTIVE
            kinds.append(t)
            points.append(nxt[t])
            nxt[t] += _gap(rng, classes[t], max_log)
            due[t] = clocks[t].seconds(nxt[t])
        return kinds, points
    spent = [0.0, 0.0]
    for _ in range(n):
        t = INTERACTIVE if rng.random() < share else BATCH
        spent[t] += _gap(rng, classes[t], max_log)
        kinds.append(t)
        points.append(spent[t])
    return kinds, points


def _scales(
    kinds: list[int],
    points: list[float],
    clocks: tuple[DayClock, DayClock],
    span: float,
    common: bool,
) -> list[float]:
    """Per type, the factor on its gaps that puts its last arrival at ``span`` seconds; with
    ``common``, the smaller one for both (the other stream then ends a little earlier)."""
    last = [0.0, 0.0]
    for t, p in zip(kinds, points, strict=True):
        last[t] = max(last[t], p)
    scale = [clocks[t].points(span) / x if x > 0 else 1.0 for t, x in enumerate(last)]
    if common:
        c = min(s for s, x in zip(scale, last, strict=True) if x > 0)
        scale = [c, c]
    return scale


def generate(
    machine_size: int,
    n_jobs: int,
    *,
    load: float = 0.8,
    seed: int = 0,
    gpu_share: float = 0.0,
    cores_per_gpu: int = 8,
    estimate_factor: float = 1.0,
    interactive_share: float | None = None,
    params: LublinParams | None = None,
) -> list[SimJob]:
    """``n_jobs`` jobs for a machine of ``machine_size`` cores at offered ``load`` (0 < load).

    ``interactive_share``: None for the model's own batch/interactive mix, else the probability
    that a job is interactive. A ``gpu_share`` of the jobs also request GPUs (see
    :func:`hyperion.sim.workload.annotate_gpus`). Jobs come in submit order from time 0.
    """
    if machine_size < 1:
        raise HyperionError(f"machine size must be >= 1, got {machine_size}")
    if n_jobs < 1:
        raise HyperionError(f"number of jobs must be >= 1, got {n_jobs}")
    if not load > 0:
        raise HyperionError(f"load must be > 0, got {load}")
    if estimate_factor < 1:
        raise HyperionError(f"estimate factor must be >= 1, got {estimate_factor}")
    if interactive_share is not None and not 0.0 <= interactive_share <= 1.0:
        raise HyperionError(f"interactive share must be within [0, 1], got {interactive_share}")
    p = params or LublinParams()
    p.check()
    classes = (p.batch, p.interactive)
    clocks = (
        DayClock(day_weights(p.batch.anum, p.batch.bnum, p.first_bucket), p.start_hour),
        DayClock(day_weights(p.interactive.anum, p.interactive.bnum, p.first_bucket), p.start_hour),
    )
    rng = random.Random(seed)
    kinds, points = _arrivals(rng, n_jobs, interactive_share, classes, clocks, p.max_log_gap)
    log_machine = math.log2(machine_size)
    sizes = [_size(rng, classes[t], log_machine) for t in kinds]
    runs = [_run_time(rng, classes[t], s, p.max_log_run) for t, s in zip(kinds, sizes, strict=True)]
    span = sum(s * r for s, r in zip(sizes, runs, strict=True)) / (load * machine_size)
    scale = _scales(kinds, points, clocks, span, common=interactive_share is None)
    times = [clocks[t].seconds(scale[t] * x) for t, x in zip(kinds, points, strict=True)]
    jobs = []
    for k, i in enumerate(sorted(range(n_jobs), key=times.__getitem__)):
        req = runs[i]
        if estimate_factor > 1:
            req = float(math.ceil(runs[i] * rng.uniform(1.0, estimate_factor)))
        jobs.append(SimJob(k + 1, round(times[i]), runs[i], req, sizes[i], user=k % 97))
    if gpu_share > 0:
        jobs = annotate_gpus(jobs, gpu_share, seed=seed + 1, cores_per_gpu=cores_per_gpu)
    return jobs


def write_swf(jobs: list[SimJob], path: str | Path, *, machine_size: int, note: str = "") -> None:
    """Write jobs as an SWF file (GPU counts are not part of SWF and are not written)."""
    lines = [
        "; Version: 2.2",
        "; Computer: hyperion synthetic (Lublin-Feitelson model)",
        f"; MaxJobs: {len(jobs)}",
        f"; MaxRecords: {len(jobs)}",
        f"; MaxNodes: {machine_size}",
        f"; MaxProcs: {machine_size}",
    ]
    if note:
        lines.append(f"; Note: {note}")
    for j in jobs:
        lines.append(
            f"{j.job_id} {int(j.submit)} -1 {int(j.run)} {j.cores} -1 -1 {j.cores} {int(j.req)} "
            f"-1 1 {j.user} -1 -1 1 -1 -1 -1"
        )
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
