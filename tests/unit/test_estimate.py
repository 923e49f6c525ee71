"""The start-time estimate computed from a SiteState (slurmrestd has no --test-only)."""

from __future__ import annotations

import pytest

from hyperion.errors import JobRejected
from hyperion.sites.base import Submission
from hyperion.sites.estimate import UNKNOWN_LIMIT_S, estimate_from_snapshot
from hyperion.types import JobState, PartitionState, QueuedJob, SiteState

NOW = 1_790_000_000.0


def part(name: str = "gpu", *, total_cpus: int = 8, idle_cpus: int = 8, total_gpus: int = 4,
         idle_gpus: int = 4) -> PartitionState:
    return PartitionState(
        name=name, total_nodes=4, idle_nodes=0, alloc_nodes=0, down_nodes=0,
        total_cpus=total_cpus, idle_cpus=idle_cpus, alloc_cpus=total_cpus - idle_cpus,
        total_gpus=total_gpus, idle_gpus=idle_gpus, alloc_gpus=total_gpus - idle_gpus,
    )


def running(job_id: str, cpus: int, *, started: float, limit: int | None, gpus: int = 0,
            partition: str = "gpu") -> QueuedJob:
    return QueuedJob(job_id=job_id, state=JobState.RUNNING, partition=partition, user="u",
                     name="r", nodes=1, cpus=cpus, gpus=gpus, time_limit_s=limit,
                     submit_time=started - 10, start_time=started)


def pending(job_id: str, cpus: int, *, limit: int, priority: int | None, submitted: float,
            gpus: int = 0, partition: str = "gpu") -> QueuedJob:
    return QueuedJob(job_id=job_id, state=JobState.PENDING, partition=partition, user="u",
                     name="p", nodes=1, cpus=cpus, gpus=gpus, time_limit_s=limit,
                     submit_time=submitted, start_time=None, priority=priority)


def site(*partitions: PartitionState, jobs: tuple[QueuedJob, ...] = ()) -> SiteState:
    return SiteState(site="beta", time=NOW, partitions=partitions, jobs=jobs)


def sub(*options: tuple[str, str | None]) -> Submission:
    return Submission(script="#!/bin/sh\n", user="alice", options=options)


def test_free_partition_starts_now() -> None:
    est = estimate_from_snapshot(site(part()), sub(("partition", "gpu"), ("ntasks", "4")))
    assert (est.start_time, est.partition, est.source) == (NOW, "gpu", "hyperion")


def test_default_partition_is_the_first() -> None:
    state = site(part("cpu", total_gpus=0, idle_gpus=0), part("gpu"))
    assert estimate_from_snapshot(state, sub()).partition == "cpu"


def _full_gpu_site() -> SiteState:
    # 8 CPUs all busy: A (4 CPUs) ends at NOW+300, B (2) at NOW+100, C (2) at NOW+600
    jobs = (
        running("A", 4, started=NOW - 3300, limit=3600),
        running("B", 2, started=NOW - 500, limit=600),
        running("C", 2, started=NOW - 600, limit=1200),
        running("X", 8, started=NOW - 10, limit=10, partition="other"),  # another partition
    )
    return site(part(idle_cpus=0), part("other"), jobs=jobs)


@pytest.mark.parametrize(
    ("ntasks", "start"),
    [("1", NOW + 100), ("2", NOW + 100), ("3", NOW + 300), ("6", NOW + 300), ("7", NOW + 600),
     ("8", NOW + 600)],
)
def test_full_partition_waits_for_the_right_running_job(ntasks: str, start: float) -> None:
    est = estimate_from_snapshot(_full_gpu_site(), sub(("partition", "gpu"), ("ntasks", ntasks)))
    assert est.start_time == start


def test_gpus_are_waited_for_too() -> None:
    # CPUs are free, but both GPUs in use: the one ending first frees the GPU asked for
    jobs = (
        running("G1", 1, gpus=1, started=NOW, limit=900),
        running("G2", 1, gpus=1, started=NOW, limit=300),
    )
    state = site(part(total_cpus=8, idle_cpus=6, total_gpus=2, idle_gpus=0), jobs=jobs)
    assert estimate_from_snapshot(state, sub(("gres", "gpu:1"))).start_time == NOW + 300
    assert estimate_from_snapshot(state, sub(("gpus", "2"))).start_time == NOW + 900
    # non-GPU GRES entries are not GPUs
    assert estimate_from_snapshot(state, sub(("gres", "tmp:100"))).start_time == NOW


def test_running_job_without_limit_or_start() -> None:
    job = QueuedJob(job_id="U", state=JobState.RUNNING, partition="gpu", user="u", name="n",
                    nodes=1, cpus=8, gpus=0, time_limit_s=None, submit_time=None,
                    start_time=None)
    est = estimate_from_snapshot(site(part(idle_cpus=0), jobs=(job,)), sub(("ntasks", "1")))
    assert est.start_time == NOW + UNKNOWN_LIMIT_S


def test_overdue_running_job_frees_resources_now() -> None:
    jobs = (running("late", 8, started=NOW - 7200, limit=3600),)
    est = estimate_from_snapshot(site(part(idle_cpus=0), jobs=jobs), sub(("ntasks", "8")))
    assert est.start_time == NOW


def test_pending_jobs_ahead_are_served_first_in_priority_order() -> None:
    # everything busy until NOW+100; then the queue: "hi" (prio 10, 8 CPUs, 500 s) goes first
    # although "lo" (prio 1, 4 CPUs, 50 s) was submitted earlier; the new job comes last
    jobs = (
        running("R", 8, started=NOW - 100, limit=200),
        pending("lo", 4, limit=50, priority=1, submitted=NOW - 1000),
        pending("hi", 8, limit=500, priority=10, submitted=NOW - 10),
    )
    state = site(part(idle_cpus=0), jobs=jobs)
    # hi runs 100..600, then lo 600..650 beside a 4-CPU job -> the new 4-CPU job starts at 600
    assert estimate_from_snapshot(state, sub(("ntasks", "4"))).start_time == NOW + 600
    # an 8-CPU job must also wait for lo to end
    assert estimate_from_snapshot(state, sub(("ntasks", "8"))).start_time == NOW + 650


def test_equal_priority_is_first_come_first_served() -> None:
    jobs = (
        running("R", 8, started=NOW, limit=100),
        pending("late", 8, limit=1000, priority=5, submitted=NOW - 10),
        pending("early", 8, limit=10, priority=5, submitted=NOW - 20),
    )
    # early: 100..110, late: 110..1110, new job after late
    est = estimate_from_snapshot(site(part(idle_cpus=0), jobs=jobs), sub(("ntasks", "1")))
    assert est.start_time == NOW + 1110


def test_pending_jobs_of_other_partitions_do_not_count() -> None:
    jobs = (pending("elsewhere", 8, limit=1000, priority=100, submitted=NOW, partition="cpu"),)
    est = estimate_from_snapshot(site(part(), part("cpu"), jobs=jobs),
                                 sub(("partition", "gpu"), ("ntasks", "8")))
    assert est.start_time == NOW


def test_nodes_and_cpus_per_task_make_the_cpu_count() -> None:
    jobs = (running("R", 4, started=NOW, limit=100),)
    state = site(part(idle_cpus=4), jobs=jobs)
    # 2 nodes x 2 tasks per node x 1 CPU = 4: fits now; x 2 CPUs per task = 8: waits
    assert estimate_from_snapshot(
        state, sub(("nodes", "2"), ("ntasks-per-node", "2"))).start_time == NOW
    assert estimate_from_snapshot(
        state, sub(("nodes", "2-3"), ("ntasks-per-node", "2"), ("cpus-per-task", "2"))
    ).start_time == NOW + 100


def test_unknown_partition_is_rejected() -> None:
    with pytest.raises(JobRejected) as info:
        estimate_from_snapshot(site(part()), sub(("partition", "nosuch")))
    assert info.value.site == "beta"
    assert "nosuch" in info.value.slurm_message


@pytest.mark.parametrize(
    "options",
    [
        (("ntasks", "9"),),  # 8 CPUs in the partition
        (("ntasks", "2"), ("cpus-per-task", "5")),
        (("gpus", "5"),),  # 4 GPUs
        (("nodes", "3"), ("gpus-per-node", "2")),  # 6 GPUs
    ],
)
def test_impossible_request_is_rejected(options: tuple[tuple[str, str], ...]) -> None:
    with pytest.raises(JobRejected, match="not available"):
        estimate_from_snapshot(site(part()), sub(*options))


def test_empty_site_is_rejected() -> None:
    with pytest.raises(JobRejected):
        estimate_from_snapshot(site(), sub())
