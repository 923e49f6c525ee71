"""What every transport does the same way once it has Slurm's JSON documents.

Slurm 22.05's ``squeue/sinfo/sacct --json`` and slurmrestd v0.0.38 return the same shapes, so the
status query, the snapshot and the partition cache are written once here; a transport supplies
the four fetches.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Iterable
from typing import Any

from hyperion.sites.base import JobStatus, PartitionInfo, SiteConnector
from hyperion.sites.slurm_json import (
    partition_states,
    queued_jobs,
    sacct_statuses,
    slurm_version,
    squeue_statuses,
)
from hyperion.types import SiteState

#: how long the partition configuration is reused between snapshots
PARTITION_CACHE_S = 60.0


class SlurmJsonConnector(SiteConnector):
    """A connector built on four fetches of Slurm JSON documents."""

    def __init__(self, site: str) -> None:
        super().__init__(site)
        self._partitions: tuple[float, list[PartitionInfo]] | None = None

    @abstractmethod
    def _queue_doc(self) -> dict[str, Any]:
        """All jobs slurmctld knows (``squeue --json`` / ``GET /jobs``): one call."""

    @abstractmethod
    def _nodes_doc(self) -> dict[str, Any]:
        """All nodes (``sinfo --json`` / ``GET /nodes``): one call."""

    @abstractmethod
    def _accounting_doc(self, job_ids: list[str]) -> dict[str, Any]:
        """Accounting records of these jobs (``sacct --json`` / ``GET /slurmdb/.../jobs``)."""

    @abstractmethod
    def _accounting_since(self, since: float) -> dict[str, Any]:
        """Accounting records of every user's jobs submitted since ``since``: one call."""

    @abstractmethod
    def _fetch_partitions(self) -> list[PartitionInfo]:
        """The partition configuration: one call."""

    def jobs(self, job_ids: Iterable[str] | None = None) -> dict[str, JobStatus]:
        wanted = None if job_ids is None else {str(j) for j in job_ids}
        found = {s.job_id: s for s in squeue_statuses(self._queue_doc())}
        if wanted is None:
            return found
        result = {j: s for j, s in found.items() if j in wanted}
        missing = sorted(wanted - result.keys(), key=lambda j: (len(j), j))
        if missing:
            for s in sacct_statuses(self._accounting_doc(missing)):
                if s.job_id in wanted:
                    result[s.job_id] = s
        return result

    def jobs_since(self, since: float) -> dict[str, JobStatus]:
        found = {s.job_id: s for s in sacct_statuses(self._accounting_since(since))}
        found.update({s.job_id: s for s in squeue_statuses(self._queue_doc())})
        return found

    def partitions(self) -> list[PartitionInfo]:
        now = time.monotonic()
        if self._partitions and now - self._partitions[0] < PARTITION_CACHE_S:
            return self._partitions[1]
        parts = self._fetch_partitions()
        self._partitions = (now, parts)
        return parts

    def snapshot(self) -> SiteState:
        nodes = self._nodes_doc()
        queue = queued_jobs(self._queue_doc())
        return SiteState(
            site=self.site,
            time=time.time(),
            partitions=partition_states(nodes, self.partitions(), queue),
            jobs=tuple(queue),
            slurm_version=slurm_version(nodes),
        )
