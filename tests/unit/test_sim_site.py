"""The partition scheduler on hand-built workloads whose FCFS / EASY schedules are known."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperion.placement.heuristics import get_policy
from hyperion.sim.engine import Engine
from hyperion.sim.job import SimJob
from hyperion.sim.metrics import bounded_slowdown, percentile
from hyperion.sim.pool import Pool
from hyperion.sim.site import SimSite
from hyperion.sim.swf import read_swf


def J(
    jid: int, submit: float, cores: int, run: float, req: float | None = None, gpus: int = 0
) -> SimJob:
    return SimJob(jid, submit, run, run if req is None else req, cores, gpus)


def starts(jobs: list[SimJob], cores: int, *, backfill: bool, gpus: int = 0) -> dict[int, float]:
    site = SimSite("s", [Pool("p", cores, gpus, backfill=backfill)])
    Engine([site], get_policy("home")).run(jobs)
    return {j.job_id: j.start for j in jobs}


def test_fcfs_runs_in_submission_order() -> None:
    jobs = [J(1, 0, 2, 10), J(2, 1, 4, 5), J(3, 2, 1, 1)]
    # job 3 would fit at t=2 but plain FCFS never overtakes the blocked head
    assert starts(jobs, 4, backfill=False) == {1: 0, 2: 10, 3: 15}


def test_fcfs_starts_several_at_once_when_they_fit() -> None:
    jobs = [J(1, 0, 4, 10), J(2, 1, 2, 5), J(3, 2, 2, 5), J(4, 3, 1, 1)]
    assert starts(jobs, 4, backfill=False) == {1: 0, 2: 10, 3: 10, 4: 15}


def test_easy_backfills_a_short_job_before_the_shadow_time() -> None:
    jobs = [J(1, 0, 2, 10), J(2, 1, 4, 5), J(3, 2, 1, 1)]
    # head (2) is reserved at 10; job 3 ends at 3 <= 10 so it may jump ahead
    assert starts(jobs, 4, backfill=True) == {1: 0, 2: 10, 3: 2}


def test_easy_does_not_backfill_a_job_that_would_delay_the_head() -> None:
    jobs = [J(1, 0, 2, 10), J(2, 1, 4, 5), J(3, 2, 1, 20)]
    # job 3 would still run at 10 and there are no extra cores: it must wait behind the head
    assert starts(jobs, 4, backfill=True) == {1: 0, 2: 10, 3: 15}


def test_easy_backfills_long_jobs_on_extra_cores_only() -> None:
    jobs = [J(1, 0, 2, 10), J(2, 1, 3, 5), J(3, 2, 1, 100), J(4, 3, 1, 100)]
    # shadow 10, extra = 4 - 3 = 1 core: job 3 takes it; job 4 finds no extra left
    assert starts(jobs, 4, backfill=True) == {1: 0, 2: 10, 3: 2, 4: 15}


def test_easy_plans_with_requested_not_actual_time() -> None:
    # job 1 asks for 10 s but runs 5; job 3 asks 9 s (ends 11 > shadow 10) though it runs 1 s
    jobs = [J(1, 0, 2, 5, req=10), J(2, 1, 4, 5), J(3, 2, 1, 1, req=9)]
    assert starts(jobs, 4, backfill=True) == {1: 0, 2: 5, 3: 10}
    jobs = [J(1, 0, 2, 5, req=10), J(2, 1, 4, 5), J(3, 2, 1, 1, req=8)]
    assert starts(jobs, 4, backfill=True) == {1: 0, 2: 5, 3: 2}


def test_backfill_pass_after_completion_scans_the_queue() -> None:
    # at t=4 job 1 ends; head 3 (4 cores) still blocked by job 2 until 20; jobs 4, 5 backfill then
    jobs = [J(1, 0, 2, 4), J(2, 0, 2, 20), J(3, 1, 4, 1), J(4, 2, 1, 5), J(5, 3, 1, 10)]
    got = starts(jobs, 4, backfill=True)
    assert got == {1: 0, 2: 0, 3: 20, 4: 4, 5: 4}


def test_jobs_ending_at_the_shadow_instant_count_as_extra() -> None:
    # jobs 1 and 2 both end at 10; head needs 3 of 4 cores, so 1 core is extra at the shadow time
    jobs = [J(1, 0, 2, 10), J(2, 0, 2, 10), J(3, 1, 3, 5), J(4, 2, 1, 50), J(5, 3, 1, 50)]
    got = starts(jobs, 4, backfill=True)
    assert got[3] == 10
    assert (
        got[4] == 10 and got[5] == 15
    )  # no core free before 10; then 1 extra core beside the head


def test_backfill_exactly_up_to_the_shadow_time_in_a_full_pass() -> None:
    # at t=4 job 1 ends: head 3 is reserved at 10 (job 2's end); job 4 ends exactly at 10
    jobs = [J(1, 0, 2, 4), J(2, 0, 2, 10), J(3, 1, 4, 1), J(4, 2, 1, 6)]
    assert starts(jobs, 4, backfill=True) == {1: 0, 2: 0, 3: 10, 4: 4}


def test_all_jobs_ending_at_the_shadow_time_free_their_cores() -> None:
    # head 4 needs 4 of 6 cores; jobs 1 and 2 both end at 10, so 2 cores are extra there
    jobs = [J(1, 0, 2, 10), J(2, 0, 2, 10), J(3, 0, 2, 3), J(4, 1, 4, 5), J(5, 2, 1, 50)]
    assert starts(jobs, 6, backfill=True) == {1: 0, 2: 0, 3: 0, 4: 10, 5: 3}


def test_gpus_are_a_resource_too() -> None:
    jobs = [J(1, 0, 1, 10, gpus=2), J(2, 1, 1, 5, gpus=1), J(3, 2, 1, 5)]
    # 8 cores but only 2 GPUs: job 2 waits for a GPU; the CPU job 3 backfills (ends by 7 < 10)
    assert starts(jobs, 8, backfill=True, gpus=2) == {1: 0, 2: 10, 3: 2}


def test_job_larger_than_every_partition_is_dropped() -> None:
    jobs = [J(1, 0, 8, 10), J(2, 1, 2, 10)]
    site = SimSite("s", [Pool("p", 4)])
    m = Engine([site], get_policy("home")).run(jobs)
    assert m.dropped == 1 and m.jobs == 1
    assert jobs[0].start == -1 and jobs[1].start == 1


def test_time_limit_of_the_partition_is_respected() -> None:
    site = SimSite("s", [Pool("short", 4, max_time=60), Pool("long", 4)])
    jobs = [J(1, 0, 1, 30), J(2, 0, 1, 100)]
    Engine([site], get_policy("home")).run(jobs)
    assert [j.partition for j in jobs] == ["short", "long"]


def test_metrics_of_a_known_schedule() -> None:
    jobs = [J(1, 0, 2, 10), J(2, 1, 4, 5), J(3, 2, 1, 1)]
    site = SimSite("s", [Pool("p", 4, backfill=False)])
    m = Engine([site], get_policy("home")).run(jobs)
    waits = [0, 9, 13]
    assert m.mean_wait == sum(waits) / 3
    assert m.max_wait == 13
    assert m.p95_wait == percentile(sorted(waits), 95)
    bsld = [bounded_slowdown(0, 10), bounded_slowdown(9, 5), bounded_slowdown(13, 1)]
    assert bsld == [1.0, 1.4, 1.4]
    assert abs(m.mean_bsld - sum(bsld) / 3) < 1e-12
    assert m.makespan == 16
    assert abs(m.utilisation - (2 * 10 + 4 * 5 + 1) / (4 * 16)) < 1e-12


def test_percentile_matches_linear_interpolation() -> None:
    assert percentile([0.0, 10.0], 50) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == 4.8
    assert percentile([7.0], 95) == 7.0


def _usage_never_exceeds(jobs: list[SimJob], cores: int) -> bool:
    events = sorted(
        [(j.start, j.cores) for j in jobs] + [(j.end, -j.cores) for j in jobs],
        key=lambda e: (e[0], e[1]),
    )
    used = 0
    for _, d in events:
        used += d
        if used > cores:
            return False
    return True


job_lists = st.lists(
    st.tuples(
        st.integers(0, 30),  # submit
        st.integers(1, 8),  # cores
        st.integers(1, 12),  # run
        st.integers(-6, 6),  # requested minus actual time (negative: the job overruns)
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(job_lists, st.booleans())
def test_schedules_are_feasible(spec: list[tuple[int, int, int, int]], backfill: bool) -> None:
    jobs = [J(i, s, c, r, req=max(1, r + x)) for i, (s, c, r, x) in enumerate(spec)]
    starts(jobs, 8, backfill=backfill)
    assert all(j.start >= j.submit for j in jobs)
    assert all(j.end == j.start + j.run for j in jobs)
    assert _usage_never_exceeds(jobs, 8)
    if not backfill:  # plain FCFS never lets a later job start before an earlier one
        order = sorted(jobs, key=lambda j: (j.submit, j.job_id))
        assert all(a.start <= b.start for a, b in zip(order, order[1:], strict=False))


def _reference(spec: list[tuple[int, int, int, int]], cap: int, backfill: bool) -> dict[int, int]:
    """A brute-force, second-by-second FCFS/EASY scheduler to check the fast one against."""
    jobs = [
        dict(id=i, submit=s, cores=c, run=r, req=max(1, r + x))
        for i, (s, c, r, x) in enumerate(spec)
    ]
    pending = sorted(jobs, key=lambda j: (j["submit"], j["id"]))
    queue: list[dict[str, int]] = []
    running: list[dict[str, int]] = []
    start: dict[int, int] = {}

    def used_after(t: int) -> int:  # cores still held after t, judged by requested time
        return sum(j["cores"] for j in running if j["start"] + j["req"] > t)

    def run(j: dict[str, int], t: int) -> None:
        j["start"] = t
        start[j["id"]] = t
        running.append(j)
        queue.remove(j)

    def one_pass(t: int) -> None:
        free = cap - sum(j["cores"] for j in running)
        while queue and queue[0]["cores"] <= free:
            free -= queue[0]["cores"]
            run(queue[0], t)
        if not queue or not backfill:
            return
        head = queue[0]
        shadow = t
        while cap - used_after(shadow) < head["cores"]:
            shadow += 1
        extra = cap - used_after(shadow) - head["cores"]
        for j in list(queue[1:]):
            if j["cores"] > free:
                continue
            if t + j["req"] <= shadow:
                pass
            elif j["cores"] <= extra:
                extra -= j["cores"]
            else:
                continue
            free -= j["cores"]
            run(j, t)

    t = 0
    while pending or queue or running:
        ended = [j for j in running if j["start"] + j["run"] == t]
        for j in ended:
            running.remove(j)
        if ended:
            one_pass(t)
        while pending and pending[0]["submit"] == t:
            queue.append(pending.pop(0))
            one_pass(t)
        t += 1
    return start


@settings(max_examples=400, deadline=None)
@given(job_lists, st.booleans())
def test_fast_scheduler_matches_a_brute_force_reference(
    spec: list[tuple[int, int, int, int]], backfill: bool
) -> None:
    jobs = [J(i, s, c, r, req=max(1, r + x)) for i, (s, c, r, x) in enumerate(spec)]
    assert starts(jobs, 8, backfill=backfill) == _reference(spec, 8, backfill)


def _shared_trace(name: str) -> Path | None:
    """A development trace from HYPERION_TRACES or ../shared/data/traces (never copied here)."""
    env = os.environ.get("HYPERION_TRACES")
    for base in ([Path(env)] if env else []) + [Path(__file__).parents[3] / "shared/data/traces"]:
        p = base if base.is_file() and base.name == name else base / name
        if p.is_file():
            return p
    return None


def test_anchor_plain_fcfs_on_lublin_256() -> None:
    """Plain FCFS on lublin_256.swf: the numbers RLScheduler's and AccaSim's simulators give."""
    path = _shared_trace("lublin_256.swf")
    if path is None:
        pytest.skip("lublin_256.swf not found (set HYPERION_TRACES)")
    tr = read_swf(path)
    site = SimSite("s", [Pool("p", tr.machine_size, backfill=False)])
    m = Engine([site], get_policy("home")).run(tr.jobs)
    assert (m.jobs, tr.machine_size) == (10000, 256)
    assert round(m.mean_wait) == 2388444
    assert round(m.mean_bsld, 2) == 66502.48
