"""Features the learned policy sees: one vector per job and one per candidate site.

Built only from what every policy gets, live and in the simulator alike: the
:class:`~hyperion.types.JobRequest`, each :class:`~hyperion.placement.policy.Candidate`
(start estimate, cost, carbon and its forecast, home flag) and its
:class:`~hyperion.types.SiteState`. Values are raw (logs and ratios); the model normalises them
with statistics it stores. Relative features (``rel_*``) compare a site with the best candidate,
so they depend on the whole candidate set.

Carbon (:mod:`.windows`): ``carbon_run`` is the forecast mean over the job's estimated run from
its estimated start there; ``flex_*`` describe the site's delay target (the greenest hour
boundary within the job's flexibility), the start a delay choice holds the job until; 0 gain
and 0 hours where there is none (rigid jobs, no forecast). :func:`observe` also returns those
targets, so the environment and the policy mask and execute delays from the same numbers.

:data:`FEATURE_SPEC` names every feature in order; a saved model records it, and a model whose
spec differs from this code's is refused at load. Change a feature: bump ``version``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hyperion.placement.carbon_window import latest_start, run_seconds
from hyperion.placement.policy import Candidate
from hyperion.rl.windows import MIN_RUN_S, est_start, greenest_start, run_mean
from hyperion.types import JobRequest

JOB_FEATURES = (
    "log_cpus",
    "log_gpus",
    "log_time_limit",
    "hour_sin",
    "hour_cos",
    "flexible",
    "log_flex_h",
)
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
    "carbon_run",
    "rel_carbon_run",
    "flex_carbon",
    "flex_gain",
    "flex_ahead_h",
    "flex_ahead_run",
)
#: the job features a model's training range covers (the hour of day is always in range)
RANGE_FEATURES = tuple(f for f in JOB_FEATURES if not f.startswith("hour_"))
#: how far (in feature units: logs, so about 28% in the raw value) a job may lie outside the
#: training range and still count as inside it
RANGE_TOLERANCE = 0.25
#: choices per site: start now (0) or hold until the site's delay target (1)
OPTIONS = 2
FEATURE_SPEC: dict[str, object] = {
    "version": 2,
    "options": OPTIONS,
    "job": list(JOB_FEATURES),
    "site": list(SITE_FEATURES),
}


def job_features(job: JobRequest, now: float) -> list[float]:
    """The job's vector (:data:`JOB_FEATURES`); ``now`` gives the UTC hour of day, and the
    flexibility is the hours from now to its latest start (0: none)."""
    angle = 2.0 * math.pi * (now % 86400.0) / 86400.0
    latest = latest_start(job, now)
    flex_h = max(latest - now, 0.0) / 3600.0 if latest is not None else 0.0
    return [
        math.log1p(job.cpus),
        math.log1p(job.gpus),
        math.log1p(job.time_limit_s or 0),
        math.sin(angle),
        math.cos(angle),
        float(flex_h > 0),
        math.log1p(flex_h),
    ]


def job_range(rows: Sequence[Sequence[float]]) -> dict[str, list[float]]:
    """The ``[min, max]`` of each :data:`RANGE_FEATURES` over job vectors (the training data)."""
    if not rows:
        raise ValueError("job_range needs at least one job vector")
    out = {}
    for name in RANGE_FEATURES:
        col = [float(r[JOB_FEATURES.index(name)]) for r in rows]
        out[name] = [min(col), max(col)]
    return out


def outside_range(features: Sequence[float], bounds: dict[str, list[float]]) -> str | None:
    """The first of a job's features (:func:`job_features`) that lies outside ``bounds``
    (:func:`job_range`) by more than :data:`RANGE_TOLERANCE`, as ``"name value (seen lo-hi)"``;
    None when the job is inside the range."""
    for name, (lo, hi) in bounds.items():
        v = features[JOB_FEATURES.index(name)]
        if not lo - RANGE_TOLERANCE <= v <= hi + RANGE_TOLERANCE:
            return f"{name} {v:.2f} (seen {lo:.2f}-{hi:.2f})"
    return None


def _site_raw(
    job: JobRequest, c: Candidate, now: float, latest: float | None
) -> tuple[list[float], float | None]:
    """Per-site features before the relative ones are filled in (they are 0 here), and the
    site's delay target (None: no delay choice)."""
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
    first, run = est_start(c, now), run_seconds(job)
    over_run = run_mean(c, first, run)
    g_run = over_run / 1000.0 if over_run is not None else 0.0
    flex = [g_run, 0.0, 0.0, 0.0]  # flex_carbon, flex_gain, flex_ahead_h, flex_ahead_run
    target = greenest_start(job, c, now, latest)
    if target is not None and target[1] / 1000.0 < g_run:
        t, g = target[0], target[1] / 1000.0
        flex = [g, g_run - g, (t - now) / 3600.0, (t - first) / max(run, MIN_RUN_S)]
    else:
        target = None  # a delay that is not greener by the forecast is not offered
    row = [wait, 0.0, float(known), *part, cost, 0.0, carbon, 0.0, float(c.home), g_run, 0.0]
    return row + flex, target[0] if target is not None else None


_WAIT, _REL_WAIT = SITE_FEATURES.index("log_est_wait"), SITE_FEATURES.index("rel_est_wait")
_COST, _REL_COST = SITE_FEATURES.index("log_cost"), SITE_FEATURES.index("rel_cost")
_CARBON, _REL_CARBON = SITE_FEATURES.index("carbon"), SITE_FEATURES.index("rel_carbon")
_RUN, _REL_RUN = SITE_FEATURES.index("carbon_run"), SITE_FEATURES.index("rel_carbon_run")
_RELATIVE = ((_WAIT, _REL_WAIT), (_COST, _REL_COST), (_CARBON, _REL_CARBON), (_RUN, _REL_RUN))


def observe(
    job: JobRequest, candidates: Sequence[Candidate], now: float
) -> tuple[list[list[float]], list[float | None]]:
    """One vector (:data:`SITE_FEATURES`) per candidate, in order, and each candidate's delay
    target: the start a delay choice holds the job until (None: no delay choice there)."""
    latest = latest_start(job, now)
    if latest is not None and latest <= now:
        latest = None
    raw = [_site_raw(job, c, now, latest) for c in candidates]
    rows = [r for r, _ in raw]
    for col, rel in _RELATIVE:
        best = min(r[col] for r in rows)
        for r in rows:
            r[rel] = r[col] - best
    return rows, [t for _, t in raw]


def site_features(
    job: JobRequest, candidates: Sequence[Candidate], now: float
) -> list[list[float]]:
    """One vector (:data:`SITE_FEATURES`) per candidate, in order."""
    return observe(job, candidates, now)[0]
