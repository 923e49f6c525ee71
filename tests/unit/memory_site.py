"""An in-memory site for the daemon's state-machine tests (no Slurm): it records what it is
asked and can hold sbatch until the test lets it go."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path

from hyperion.daemon.identity import Caller
from hyperion.sites.base import (
    JobStatus,
    PartitionInfo,
    PreemptionSettings,
    SiteConnector,
    SiteInfo,
    StartEstimate,
    Submission,
)
from hyperion.types import JobState, SiteState

CONFIG = Path(__file__).resolve().parents[2] / "site-configs" / "testbed.toml"
ALICE = Caller(uid=1001, user="alice", admin=False)
SCRIPT = "#!/bin/sh\ntrue\n"


class MemorySite(SiteConnector):
    """A site kept in memory: enough of the contract for the daemon's state machine."""

    def __init__(self, site: str) -> None:
        super().__init__(site)
        self.queue: dict[str, JobStatus] = {}
        self.submits: list[Submission] = []
        self.cancels: list[tuple[str, str | None]] = []
        self.hold_submit: threading.Event | None = None
        self.in_submit = threading.Event()
        self._next = 100
        self.estimates = 0  # estimate_start calls

    def add(self, user: str, comment: str, state: JobState = JobState.PENDING) -> str:
        self._next += 1
        job_id = str(self._next)
        self.queue[job_id] = JobStatus(
            job_id, state, state.value, user, "x", "p", comment, time.time(), None, None, None
        )
        return job_id

    def ping(self) -> SiteInfo:
        return SiteInfo(self.site, "22.05.8")

    def submit(self, sub: Submission) -> str:
        self.submits.append(sub)
        self.in_submit.set()
        if self.hold_submit is not None:
            self.hold_submit.wait(10)
        return self.add(sub.user, sub.option("comment") or "")

    def jobs(self, job_ids: Iterable[str] | None = None) -> dict[str, JobStatus]:
        if job_ids is None:
            return dict(self.queue)
        return {j: self.queue[j] for j in job_ids if j in self.queue}

    def cancel(self, job_ids: Iterable[str], user: str | None = None) -> None:
        for j in job_ids:
            self.cancels.append((j, user))
            st = self.queue.get(j)
            if st is not None and not st.state.is_final:
                self.queue[j] = JobStatus(
                    j,
                    JobState.CANCELLED,
                    "CANCELLED",
                    st.user,
                    st.name,
                    st.partition,
                    st.comment,
                    st.submit_time,
                    st.start_time,
                    time.time(),
                    None,
                )

    def snapshot(self) -> SiteState:
        return SiteState(site=self.site, time=time.time(), partitions=())

    def estimate_start(self, sub: Submission) -> StartEstimate:
        self.estimates += 1
        return StartEstimate(time.time(), "p", "n1")

    def partitions(self) -> list[PartitionInfo]:
        return []

    def preemption(self) -> PreemptionSettings:
        return PreemptionSettings("preempt/none", "OFF", {})
