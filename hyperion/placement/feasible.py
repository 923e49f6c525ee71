"""Which sites could ever run a job: the candidate filter used before any policy runs.

A partition can *ever* fit a job when its node count, cores and memory per node, GPUs (and GPU
type) and time limit allow the request, regardless of what is busy now. A job no site can fit is
rejected at submit time with the reason per site.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hyperion.config.schema import HyperionConfig, PartitionConfig, SiteConfig
from hyperion.types import JobRequest


@dataclass(frozen=True, slots=True)
class Feasible:
    """A site and the partition of it the job would go to."""

    site: str
    partition: str


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def why_not(job: JobRequest, part: PartitionConfig) -> str | None:
    """None when ``part`` can ever run ``job``; otherwise the reason, for people."""
    if job.nodes > part.nodes:
        return f"{part.name}: {job.nodes} nodes asked, {part.nodes} exist"
    if job.cpus_per_task > part.cores_per_node:
        return f"{part.name}: {job.cpus_per_task} CPUs per task, nodes have {part.cores_per_node}"
    if job.cpus > part.nodes * part.cores_per_node:
        return f"{part.name}: {job.cpus} CPUs asked, {part.nodes * part.cores_per_node} exist"
    if job.mem_mb is not None and job.mem_mb > part.mem_per_node:
        return f"{part.name}: {job.mem_mb} MB per node asked, nodes have {part.mem_per_node}"
    if job.gpus:
        if part.gpus_per_node == 0:
            return f"{part.name}: no GPUs"
        per_node = _ceil(job.gpus, max(job.nodes, 1))
        if job.nodes > 1 and per_node > part.gpus_per_node:
            return f"{part.name}: {per_node} GPUs per node asked, nodes have {part.gpus_per_node}"
        if job.gpus > part.nodes * part.gpus_per_node:
            return f"{part.name}: {job.gpus} GPUs asked, {part.nodes * part.gpus_per_node} exist"
        if job.gpu_type and part.gpu_type and job.gpu_type.lower() != part.gpu_type.lower():
            return f"{part.name}: GPU type {job.gpu_type} asked, it has {part.gpu_type}"
    if job.time_limit_s is not None and part.max_time_s is not None:
        if job.time_limit_s > part.max_time_s:
            return f"{part.name}: time limit {job.time_limit_s}s above its {part.max_time_s}s"
    return None


def site_partition(job: JobRequest, site: SiteConfig) -> tuple[str | None, str]:
    """The partition of ``site`` the job goes to (default first, then in config order), or
    None with the reasons none fits."""
    parts: Iterable[PartitionConfig]
    if job.partition:
        named = [p for p in site.partitions if p.name == job.partition]
        if not named:
            return None, f"no partition {job.partition!r}"
        parts = named
    else:
        default = site.default_partition
        parts = [default] + [p for p in site.partitions if p is not default]
    reasons = []
    for part in parts:
        reason = why_not(job, part)
        if reason is None:
            return part.name, ""
        reasons.append(reason)
    return None, "; ".join(reasons)


def candidates(
    job: JobRequest,
    config: HyperionConfig,
    unavailable: dict[str, str] | None = None,
    only: str | None = None,
) -> tuple[list[Feasible], dict[str, str]]:
    """Sites that could run ``job`` and, for every other site, why not.

    ``unavailable`` maps sites that are down or drained to the reason; ``only`` pins one site.
    """
    unavailable = unavailable or {}
    ok: list[Feasible] = []
    rejected: dict[str, str] = {}
    for name, site in config.sites.items():
        if only is not None and name != only:
            continue
        if not site.enabled:
            rejected[name] = "disabled in the site configuration"
            continue
        if name in unavailable:
            rejected[name] = unavailable[name]
            continue
        partition, reason = site_partition(job, site)
        if partition is None:
            rejected[name] = reason
        else:
            ok.append(Feasible(name, partition))
    return ok, rejected
