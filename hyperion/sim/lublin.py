"""A synthetic workload generator in the style of the Lublin–Feitelson model (JPDC 2003).

SIMPLIFIED: this follows the structure of the paper's model for batch jobs, not every detail
of its reference implementation:

* **Size**: a job is serial with probability ``serial_prob``; otherwise log2(size) is drawn from
  a two-stage uniform distribution on [``u_low``, ``u_med``] (probability ``u_prob``) or
  [``u_med``, ``u_hi``] with ``u_hi = log2(machine size)`` and ``u_med = u_hi - 2.5``, and is
  rounded to a power of two with probability ``pow2_prob``.
* **Run time**: ln(run time) is hyper-gamma — Gamma(a1, b1) with probability p, else
  Gamma(a2, b2) — where p = ``pa * log2(size) + pb`` falls with size (big jobs run longer).
* **Arrivals**: a Poisson process modulated by a daily cycle (busier by day, quiet at night)
  instead of the paper's gamma inter-arrivals with its fitted cycle; the rate is then chosen so
  the offered load (core-seconds asked / machine core-seconds over the span) equals ``load``.
* **Requested time**: the model has none; it is the run time, or the run time times a uniform
  factor in [1, ``estimate_factor``] when that is above 1.

Everything is drawn from one ``random.Random(seed)``, so a seed gives the same workload anywhere.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

from hyperion.errors import HyperionError
from hyperion.sim.job import SimJob
from hyperion.sim.workload import annotate_gpus

DAY = 86400.0


@dataclass(frozen=True)
class LublinParams:
    """Model parameters (batch-job values in the spirit of the 2003 paper)."""

    serial_prob: float = 0.24
    pow2_prob: float = 0.75
    u_low: float = 0.8
    u_med_offset: float = 2.5
    u_prob: float = 0.86
    a1: float = 4.2
    b1: float = 0.94
    a2: float = 312.0
    b2: float = 0.03
    pa: float = -0.0054
    pb: float = 0.78
    max_runtime: float = 2 * DAY
    #: relative arrival rate per hour of the day (0..23), peak in working hours
    day_cycle: tuple[float, ...] = (
        0.35, 0.3, 0.25, 0.25, 0.25, 0.3, 0.4, 0.6, 0.9, 1.2, 1.35, 1.4,
        1.35, 1.4, 1.45, 1.4, 1.3, 1.15, 0.95, 0.8, 0.7, 0.6, 0.5, 0.4,
    )  # fmt: skip


def _size(rng: random.Random, p: LublinParams, u_hi: float) -> int:
    if u_hi <= 0 or rng.random() < p.serial_prob:
        return 1
    u_med = max(p.u_low, u_hi - p.u_med_offset)
    if rng.random() < p.u_prob:
        x = rng.uniform(min(p.u_low, u_hi), u_med)
    else:
        x = rng.uniform(u_med, u_hi)
    if rng.random() < p.pow2_prob:
        x = round(x)
    return max(1, min(int(round(2**x)), int(round(2**u_hi))))


def _runtime(rng: random.Random, p: LublinParams, size: int) -> float:
    mix = min(1.0, max(0.0, p.pa * math.log2(size) + p.pb))
    if rng.random() < mix:
        x = rng.gammavariate(p.a1, p.b1)
    else:
        x = rng.gammavariate(p.a2, p.b2)
    return float(min(p.max_runtime, max(1, round(math.exp(x)))))


def generate(
    machine_size: int,
    n_jobs: int,
    *,
    load: float = 0.8,
    seed: int = 0,
    gpu_share: float = 0.0,
    cores_per_gpu: int = 8,
    estimate_factor: float = 1.0,
    params: LublinParams | None = None,
) -> list[SimJob]:
    """``n_jobs`` jobs for a machine of ``machine_size`` cores at offered ``load`` (0 < load).

    A ``gpu_share`` of the jobs also request GPUs (see
    :func:`hyperion.sim.workload.annotate_gpus`). Submit times start at 0.
    """
    if machine_size < 1:
        raise HyperionError(f"machine size must be >= 1, got {machine_size}")
    if n_jobs < 1:
        raise HyperionError(f"number of jobs must be >= 1, got {n_jobs}")
    if not load > 0:
        raise HyperionError(f"load must be > 0, got {load}")
    if estimate_factor < 1:
        raise HyperionError(f"estimate factor must be >= 1, got {estimate_factor}")
    p = params or LublinParams()
    rng = random.Random(seed)
    u_hi = math.log2(machine_size)
    sizes = [_size(rng, p, u_hi) for _ in range(n_jobs)]
    runs = [_runtime(rng, p, s) for s in sizes]
    # a daily-cycle Poisson process whose span makes work / (machine * span) == load
    work = sum(s * r for s, r in zip(sizes, runs, strict=True))
    target_span = work / (load * machine_size)
    peak = max(p.day_cycle)
    accept = sum(p.day_cycle) / len(p.day_cycle) / peak
    rate = n_jobs / (target_span * accept) if target_span > 0 else 1.0
    times: list[float] = []
    t = 0.0
    while len(times) < n_jobs:
        t += rng.expovariate(rate)
        if rng.random() < p.day_cycle[int(t % DAY // 3600)] / peak:
            times.append(t)
    unit = target_span / times[-1] if times[-1] > 0 else 1.0  # exact load (a small correction)
    jobs = []
    for i in range(n_jobs):
        req = runs[i]
        if estimate_factor > 1:
            req = float(math.ceil(runs[i] * rng.uniform(1.0, estimate_factor)))
        jobs.append(SimJob(i + 1, round(times[i] * unit), runs[i], req, sizes[i], user=i % 97))
    if gpu_share > 0:
        jobs = annotate_gpus(jobs, gpu_share, seed=seed + 1, cores_per_gpu=cores_per_gpu)
    return jobs


def write_swf(jobs: list[SimJob], path: str | Path, *, machine_size: int, note: str = "") -> None:
    """Write jobs as an SWF file (GPU counts are not part of SWF and are not written)."""
    lines = [
        "; Version: 2.2",
        "; Computer: hyperion synthetic (Lublin-Feitelson style)",
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
