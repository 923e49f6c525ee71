"""Metrics of one simulation run: waits, bounded slowdown, utilisation, energy, cost, carbon."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from hyperion.sim.job import SimJob

#: bounded-slowdown threshold (s): runs shorter than this count as this long
BSLD_THRESHOLD = 10.0


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation (numpy's default method)."""
    n = len(sorted_values)
    if n == 0:
        return math.nan
    pos = (n - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def bounded_slowdown(wait: float, run: float, threshold: float = BSLD_THRESHOLD) -> float:
    """max((wait + run) / max(run, threshold), 1)."""
    return max((wait + run) / max(run, threshold), 1.0)


@dataclass
class SiteMetrics:
    """Per-site totals."""

    jobs: int = 0
    utilisation: float = 0.0
    gpu_utilisation: float = 0.0
    energy_kwh: float = 0.0
    cost: float = 0.0
    currency: str = "EUR"
    carbon_kg: float = 0.0
    preemptions: int = 0
    lost_core_s: float = 0.0
    cloud_node_h: float = 0.0


@dataclass
class Metrics:
    """What a run measured. Waits and slowdowns are over the jobs that ran.

    A requeued job's wait is end - submit - run time (its lost work counts as waiting).
    ``preemptions`` counts requeues, ``lost_core_s`` the core-seconds of work they threw away,
    ``cloud_node_h`` the powered-up node-hours of cloud partitions. ``held`` counts jobs a policy
    delayed (``Decision.not_before``), ``flexible`` the jobs that declared time flexibility and
    ``late`` those of them that ended after their deadline or started after submit + flex;
    ``mean_bsld_rigid`` is the mean bounded slowdown of the jobs without flexibility.
    """

    policy: str
    jobs: int
    dropped: int
    mean_wait: float
    p95_wait: float
    max_wait: float
    mean_bsld: float
    makespan: float
    utilisation: float
    energy_kwh: float
    cost: float
    carbon_kg: float
    moved: int = 0
    sites: dict[str, SiteMetrics] = field(default_factory=dict)
    seconds: float = 0.0
    preemptions: int = 0
    lost_core_s: float = 0.0
    cloud_node_h: float = 0.0
    held: int = 0
    flexible: int = 0
    late: int = 0
    mean_bsld_rigid: float = math.nan

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.seconds if self.seconds > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["jobs_per_s"] = self.jobs_per_s if self.seconds > 0 else None
        return d


def job_metrics(jobs: Sequence[SimJob]) -> tuple[float, float, float, float]:
    """(mean wait, p95 wait, max wait, mean bounded slowdown) over jobs that started.

    The wait is start - submit, less the run time a requeued job had kept by checkpoints
    (``saved``): end - submit - run time, so lost work counts as waiting.
    """
    waits: list[float] = []
    bsld = 0.0
    for j in jobs:
        if j.start < 0:
            continue
        w = j.start - j.submit - j.saved
        waits.append(w)
        r = j.run
        s = (w + r) / (r if r > BSLD_THRESHOLD else BSLD_THRESHOLD)
        bsld += s if s > 1.0 else 1.0
    if not waits:
        return (math.nan, math.nan, math.nan, math.nan)
    n = len(waits)
    mean = math.fsum(waits) / n
    waits.sort()
    return (mean, percentile(waits, 95.0), waits[-1], bsld / n)
