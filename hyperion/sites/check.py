"""``hctl check``: compare each site's configuration with what its Slurm reports."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from hyperion.config.schema import HyperionConfig, SiteConfig
from hyperion.errors import SiteError
from hyperion.sites import connect


@dataclass
class SiteReport:
    """The outcome of checking one site."""

    site: str
    access: str
    reachable: bool = False
    cluster: str = ""
    slurm_version: str = ""
    partitions_configured: list[str] = field(default_factory=list)
    partitions_found: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def healthy(self) -> bool:
        return self.reachable and not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "healthy": self.healthy}


def _count(what: str, partition: str, found: int, configured: int) -> str | None:
    if found == configured:
        return None
    return f"{partition}: {found} {what} in Slurm, {configured} configured"


def check_site(site: SiteConfig) -> SiteReport:
    """Contact one site and list every difference from its configuration."""
    report = SiteReport(
        site=site.name,
        access=site.access.kind,
        partitions_configured=[p.slurm_partition for p in site.partitions],
    )
    conn = connect(site)
    try:
        info = conn.ping()
        report.reachable = True
        report.cluster, report.slurm_version = info.cluster, info.slurm_version
        if info.cluster and info.cluster != site.name:
            report.problems.append(
                f"cluster is named {info.cluster!r} in Slurm (config: {site.name!r})"
            )
        state = conn.snapshot()
        infos = {p.name: p for p in conn.partitions()}
        report.partitions_found = sorted(infos)
        for part in site.partitions:
            name = part.slurm_partition
            found = state.partition(name)
            if found is None or name not in infos:
                report.problems.append(f"partition {name!r} is configured but Slurm has none")
                continue
            counts = (
                ("nodes", found.total_nodes, part.nodes),
                ("CPUs", found.total_cpus, part.nodes * part.cores_per_node),
                ("GPUs", found.total_gpus, part.nodes * part.gpus_per_node),
            )
            report.problems += [
                msg for what, got, want in counts if (msg := _count(what, name, got, want))
            ]
            slurm_max = infos[name].max_time_s
            if part.max_time_s is not None and slurm_max != part.max_time_s:
                report.problems.append(
                    f"{name}: MaxTime {slurm_max}s in Slurm, {part.max_time_s}s configured"
                )
            preempts = infos[name].preempt_mode not in {"OFF", ""}
            if part.preemptible != preempts:
                report.problems.append(
                    f"{name}: PreemptMode={infos[name].preempt_mode} in Slurm, "
                    f"preemptible={str(part.preemptible).lower()} configured"
                )
            if part.cloud and found.cloud_nodes_powered_down + found.cloud_nodes_powered_up == 0:
                report.problems.append(f"{name}: configured as cloud but Slurm has no CLOUD nodes")
        extra = sorted(set(infos) - set(report.partitions_configured))
        if extra:
            report.notes.append(
                f"in Slurm but not configured (never placed on): {', '.join(extra)}"
            )
    except SiteError as exc:
        report.error = exc.message
        report.problems.append(exc.message)
    finally:
        conn.close()
    return report


def check_sites(config: HyperionConfig, only: Sequence[str] | None = None) -> list[SiteReport]:
    """Check every enabled site (or those named in ``only``) in parallel."""
    sites = (
        [config.site(n) for n in only] if only else [s for s in config.sites.values() if s.enabled]
    )
    with ThreadPoolExecutor(max_workers=max(len(sites), 1)) as pool:
        return list(pool.map(check_site, sites))
