"""Features the learned policy sees: one vector per job and one per candidate site.

Built only from what every policy gets, live and in the simulator alike: the
:class:`~hyperion.types.JobRequest`, each :class:`~hyperion.placement.policy.Candidate`
(start estimate, cost, carbon, home flag) and its :class:`~hyperion.types.SiteState`. Values are
raw (logs and ratios); the model normalises them with statistics it stores. Relative features
(``rel_*``) compare a site with the best candidate, so they depend on the whole candidate set.

:data:`FEATURE_SPEC` names every feature in order; a saved model records it, and a model whose
spec differs from this code's is refused at load. Change a feature: bump ``version``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hyperion.placement.policy import Candidate
from hyperion.types import JobRequest

JOB_FEATURES = ("log_cpus", "log_gpus", "log_time_limit", "hour_sin", "hour_cos")
SITE_FEATURES = (
    "log_est_wait",
    "rel_est_wait",
    "est_known",
    "fits_now",
    "idle_cpu_frac",
    "load",
    "gpu_load",
    "log_pending_jobs",
    "job_share",
    "log_total_cpus",
    "cloud_down_frac",
    "log_cost",
    "rel_cost",
    "carbon",
    "rel_carbon",
    "home",
)
FEATURE_SPEC: dict[str, object] = {
    "version": 1,
    "job": list(JOB_FEATURES),
    "site": list(SITE_FEATURES),
}


def job_features(job: JobRequest, now: float) -> list[float]:
    """The job's vector (:data:`JOB_FEATURES`); ``now`` gives the UTC hour of day."""
    angle = 2.0 * math.pi * (now % 86400.0) / 86400.0
    return [
        math.log1p(job.cpus),
        math.log1p(job.gpus),
        math.log1p(job.time_limit_s or 0),
        math.sin(angle),
        math.cos(angle),
    ]


def _site_raw(job: JobRequest, c: Candidate, now: float) -> list[float]:
    """Per-site features before the relative ones are filled in (they are 0 here)."""
    known = c.est_start is not None
    wait = math.log1p(max(c.est_start - now, 0.0)) if c.est_start is not None else 0.0
    p = c.state.partition(c.partition)
    if p is None or p.total_cpus <= 0:
        part = [0.0] * 8
    else:
        part = [
            float(p.idle_cpus >= job.cpus and p.idle_gpus >= job.gpus),
            p.idle_cpus / p.total_cpus,
            (p.alloc_cpus + p.pending_cpus) / p.total_cpus,
            (p.alloc_gpus + p.pending_gpus) / p.total_gpus if p.total_gpus else 0.0,
            math.log1p(p.pending_jobs),
            job.cpus / p.total_cpus,
            math.log1p(p.total_cpus),
            p.cloud_nodes_powered_down / p.total_nodes if p.total_nodes else 0.0,
        ]
    carbon = (c.carbon_g_per_kwh or 0.0) / 1000.0
    cost = math.log1p(max(c.cost or 0.0, 0.0))
    return [wait, 0.0, float(known), *part, cost, 0.0, carbon, 0.0, float(c.home)]


_WAIT, _REL_WAIT = SITE_FEATURES.index("log_est_wait"), SITE_FEATURES.index("rel_est_wait")
_COST, _REL_COST = SITE_FEATURES.index("log_cost"), SITE_FEATURES.index("rel_cost")
_CARBON, _REL_CARBON = SITE_FEATURES.index("carbon"), SITE_FEATURES.index("rel_carbon")


def site_features(
    job: JobRequest, candidates: Sequence[Candidate], now: float
) -> list[list[float]]:
    """One vector (:data:`SITE_FEATURES`) per candidate, in order."""
    rows = [_site_raw(job, c, now) for c in candidates]
    for col, rel in ((_WAIT, _REL_WAIT), (_COST, _REL_COST), (_CARBON, _REL_CARBON)):
        best = min(r[col] for r in rows)
        for r in rows:
            r[rel] = r[col] - best
    return rows
