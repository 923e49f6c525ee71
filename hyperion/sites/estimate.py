"""A start-time estimate computed from a :class:`SiteState`, for transports without
``sbatch --test-only`` (slurmrestd v0.0.38).

The model is deliberately simple and documented: running jobs end at start + time limit;
pending jobs in the same partition are served in priority order (no backfill) before the new
job; the new job starts at the first instant enough CPUs and GPUs are free.
"""

from __future__ import annotations

import heapq

from hyperion.errors import JobRejected
from hyperion.sites.base import StartEstimate, Submission
from hyperion.sites.slurm_json import gpu_count
from hyperion.types import JobState, SiteState

#: assumed run time of a job whose time limit is unknown
UNKNOWN_LIMIT_S = 86400


def _request(sub: Submission) -> tuple[int, int]:
    def num(name: str, default: int) -> int:
        value = sub.option(name)
        return int(value) if value and value.isdigit() else default

    nodes = int((sub.option("nodes") or "1").split("-")[0])
    cpus = num("ntasks", nodes * num("ntasks-per-node", 1)) * num("cpus-per-task", 1)
    gpus = 0
    for key in ("gres", "gpus-per-node", "gpus"):
        value = sub.option(key)
        if value and key == "gres":  # only the gpu entries of a GRES list are GPUs
            gpus = gpu_count(value) * nodes
        elif value:
            count = value.rsplit(":", 1)[-1]
            gpus = int(count) if count.isdigit() else 1
            if key != "gpus":
                gpus *= nodes
    return cpus, gpus


def estimate_from_snapshot(state: SiteState, sub: Submission) -> StartEstimate:
    """When ``sub`` would start on the site described by ``state`` (source ``"hyperion"``)."""
    name = sub.option("partition") or (state.partitions[0].name if state.partitions else "")
    part = state.partition(name)
    if part is None:
        raise JobRejected(state.site, f"invalid partition name specified: {name!r}")
    cpus, gpus = _request(sub)
    if cpus > part.total_cpus or gpus > part.total_gpus:
        raise JobRejected(state.site, "Requested node configuration is not available")
    now = state.time
    free_c, free_g = part.idle_cpus, part.idle_gpus
    ends: list[tuple[float, int, int]] = []
    for job in state.jobs:
        if job.partition == name and job.state is JobState.RUNNING:
            end = (job.start_time or now) + (job.time_limit_s or UNKNOWN_LIMIT_S)
            heapq.heappush(ends, (max(end, now), job.cpus, job.gpus))
    queue = sorted(
        (j for j in state.jobs if j.partition == name and j.state is JobState.PENDING),
        key=lambda j: (-(j.priority or 0), j.submit_time or 0),
    )
    queue_req = [(j.cpus, j.gpus, j.time_limit_s or UNKNOWN_LIMIT_S) for j in queue]
    t = now
    while True:
        while queue_req and queue_req[0][0] <= free_c and queue_req[0][1] <= free_g:
            c, g, limit = queue_req.pop(0)
            free_c, free_g = free_c - c, free_g - g
            heapq.heappush(ends, (t + limit, c, g))
        if not queue_req and cpus <= free_c and gpus <= free_g:
            return StartEstimate(start_time=t, partition=name, nodes="", source="hyperion")
        if not ends:
            return StartEstimate(start_time=t, partition=name, nodes="", source="hyperion")
        t, c, g = heapq.heappop(ends)
        free_c, free_g = free_c + c, free_g + g
