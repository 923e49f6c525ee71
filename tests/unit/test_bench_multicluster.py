"""``hyperion bench multicluster``: the workload generator and the statistics (no daemons)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperion.bench.burst import (
    BenchJob,
    JobTimes,
    burst_stats,
    generate_workload,
    latency_stats,
    parse_sdiag_rpcs,
    percentile,
    rpc_delta,
)
from hyperion.bench.multicluster import rpc_summary, sacct_records
from hyperion.errors import HyperionError


def test_same_seed_same_workload() -> None:
    assert generate_workload(200, seed=7) == generate_workload(200, seed=7)


def test_other_seed_other_workload() -> None:
    assert generate_workload(200, seed=1) != generate_workload(200, seed=2)


def test_workload_sizes() -> None:
    jobs = generate_workload(500, seed=0)
    assert len(jobs) == 500
    assert [j.index for j in jobs] == list(range(500))
    assert {j.ntasks for j in jobs} == {1, 2, 3, 4}
    two_node = [j for j in jobs if j.nodes == 2]
    assert 0.05 * len(jobs) < len(two_node) < 0.3 * len(jobs)
    # a 2-node job on 2-core nodes: 2 or 4 tasks, so it fits every cluster of the testbed
    assert all(j.ntasks in (2, 4) for j in two_node)
    assert all(j.nodes in (None, 2) for j in jobs)


def test_runtimes_short_and_heavy_tailed() -> None:
    jobs = generate_workload(1000, seed=3)
    runtimes = sorted(j.runtime_s for j in jobs)
    assert runtimes[0] >= 2.0 and runtimes[-1] <= 10.0
    median = runtimes[len(runtimes) // 2]
    mean = sum(runtimes) / len(runtimes)
    assert mean > median  # right-skewed: a tail of longer jobs
    assert median < 4.0
    assert sum(r == 10.0 for r in runtimes) > 0  # the tail reaches the cap


def test_requested_much_longer_than_actual() -> None:
    for job in generate_workload(300, seed=5):
        assert 10 <= job.time_limit_min <= 60
        assert job.time_limit_s >= 60 * job.runtime_s


def test_options_and_script() -> None:
    job = BenchJob(index=0, ntasks=4, nodes=2, runtime_s=2.5, time_limit_min=30)
    assert job.options() == ["--ntasks=4", "--time=30", "--nodes=2"]
    assert job.script() == "#!/bin/sh\nsleep 2.5\n"
    one = BenchJob(index=1, ntasks=1, nodes=None, runtime_s=3.0, time_limit_min=10)
    assert one.options() == ["--ntasks=1", "--time=10"]
    assert one.script().endswith("sleep 3\n")


def test_workload_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        generate_workload(-1)
    with pytest.raises(ValueError):
        generate_workload(3, min_runtime_s=5, max_runtime_s=2)
    assert generate_workload(0) == []


def test_percentile_nearest_rank() -> None:
    data = list(range(1, 21))  # 1..20
    assert percentile(data, 95) == 19
    assert percentile(data, 50) == 10
    assert percentile(data, 100) == 20
    assert percentile(data, 0) == 1
    assert percentile([4.0], 95) == 4.0
    assert percentile([3, 1, 2], 95) == 3  # order does not matter
    with pytest.raises(ValueError):
        percentile([], 95)


def test_burst_stats_by_hand() -> None:
    times = [
        JobTimes(submitted=100.0, start=100.0, end=105.0),  # wait 0
        JobTimes(submitted=101.0, start=111.0, end=120.0),  # wait 10
        JobTimes(submitted=102.0, start=122.0, end=130.0),  # wait 20
        JobTimes(submitted=103.0, start=133.0, end=140.0),  # wait 30
    ]
    s = burst_stats(times)
    assert s["jobs"] == 4
    assert s["mean_wait_s"] == pytest.approx(15.0)
    assert s["median_wait_s"] == pytest.approx(15.0)
    assert s["p95_wait_s"] == pytest.approx(30.0)
    assert s["max_wait_s"] == pytest.approx(30.0)
    assert s["makespan_s"] == pytest.approx(40.0)  # last end 140 - first submit 100


def test_burst_stats_clock_skew_never_negative() -> None:
    # Slurm's times are whole seconds: a job can "start" before the sub-second call time
    s = burst_stats([JobTimes(submitted=10.6, start=10.0, end=12.0)])
    assert s["mean_wait_s"] == 0.0
    with pytest.raises(ValueError):
        burst_stats([])


def test_latency_stats_ms() -> None:
    s = latency_stats([0.005, 0.006, 0.004, 0.1])
    assert s["n"] == 4
    assert s["median_ms"] == pytest.approx(5.5)
    assert s["p95_ms"] == pytest.approx(100.0)


SDIAG = """\
*******************************************************
sdiag output at Fri Nov 27 10:41:43 2026 (1795776103)
Remote Procedure Call statistics by message type
\tREQUEST_PARTITION_INFO                  ( 2009) count:17     ave_time:411    total_time:7003
\tREQUEST_JOB_INFO                        ( 2003) count:15     ave_time:236    total_time:3550
\tREQUEST_JOB_INFO_SINGLE                 ( 2021) count:3      ave_time:100    total_time:300
\tREQUEST_STATS_INFO                      ( 2035) count:2      ave_time:100    total_time:200

Remote Procedure Call statistics by user
\troot            (       0) count:35     ave_time:300    total_time:10000
"""


def test_parse_sdiag() -> None:
    rpcs = parse_sdiag_rpcs(SDIAG)
    assert rpcs == {
        "REQUEST_PARTITION_INFO": 17,
        "REQUEST_JOB_INFO": 15,
        "REQUEST_JOB_INFO_SINGLE": 3,
        "REQUEST_STATS_INFO": 2,
    }  # the by-user section is not read as a message type


def test_rpc_delta_and_summary() -> None:
    before = {"REQUEST_JOB_INFO": 10, "REQUEST_NODE_INFO": 5}
    after = {"REQUEST_JOB_INFO": 22, "REQUEST_NODE_INFO": 11, "REQUEST_STATS_INFO": 1}
    d = rpc_delta(before, after)
    assert d == {"REQUEST_JOB_INFO": 12, "REQUEST_NODE_INFO": 6, "REQUEST_STATS_INFO": 1}
    s = rpc_summary({"alpha": d}, elapsed=60.0, rounds=6.0)
    site = s["sites"]["alpha"]
    assert site["job_info_rpcs"] == 12
    assert site["job_info_per_round"] == pytest.approx(2.0)
    assert site["all_rpcs"] == 18  # our own sdiag calls are not counted
    with pytest.raises(HyperionError):
        rpc_delta({"REQUEST_JOB_INFO": 5}, {"REQUEST_JOB_INFO": 1})


def test_sacct_records_keyed_by_cluster() -> None:
    doc = {
        "jobs": [
            {
                "cluster": "alpha",
                "job_id": 7,
                "name": "a",
                "state": {"current": "COMPLETED"},
                "time": {"submission": 100, "start": 105, "end": 110},
            },
            {  # the same id on another cluster is another job
                "cluster": "beta",
                "job_id": 7,
                "name": "b",
                "state": {"current": "PENDING"},
                "time": {"submission": 101, "start": 0, "end": 0},
            },
            {  # requeued: the later record wins
                "cluster": "alpha",
                "job_id": 7,
                "name": "a",
                "state": {"current": "REQUEUED"},
                "time": {"submission": 90, "start": 95, "end": 96},
            },
        ]
    }
    recs = sacct_records(doc)
    assert recs[("alpha", "7")]["state"] == "COMPLETED"
    assert recs[("alpha", "7")]["start"] == 105.0
    assert recs[("beta", "7")]["start"] is None
    assert recs[("beta", "7")]["end"] is None


def test_render_refuses_what_is_not_a_saved_result(tmp_path: Path) -> None:
    from hyperion.bench.multicluster import _saved_result

    empty, other = tmp_path / "empty.json", tmp_path / "other.json"
    empty.write_text("")
    other.write_text('{"a": 1}')
    for path, message in ((empty, "not a saved result"), (other, "not a result of hyperion")):
        with pytest.raises(HyperionError, match=message):
            _saved_result(path)
    with pytest.raises(HyperionError, match="missing.json"):
        _saved_result(tmp_path / "missing.json")


def test_final_states_come_from_the_one_state_table() -> None:
    from hyperion.bench.burst import hyperion_final, slurm_final

    assert slurm_final("COMPLETED") and slurm_final("CANCELLED by 1001") and slurm_final("REVOKED")
    assert not slurm_final("PENDING") and not slurm_final("REQUEUED") and not slurm_final("junk")
    assert all(hyperion_final(s) for s in ("rejected", "ABANDONED", "COMPLETED"))
    assert not any(hyperion_final(s) for s in ("QUEUED", "RUNNING", "x"))


def test_background_load_parses_and_refuses_nonsense() -> None:
    from hyperion.bench.burst import Background, parse_background

    assert parse_background("alpha:4:1440:60") == Background("alpha", 4, 1440, 60.0)
    for bad in ("alpha:4:1440", "al pha:4:1440:60", "alpha:x:1440:60", "alpha:4:1:90", "a:0:5:1"):
        with pytest.raises(HyperionError, match="--background"):
            parse_background(bad)
