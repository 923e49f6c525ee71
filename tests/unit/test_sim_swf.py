"""The SWF reader on hand-written lines: header, odd spacing, unknowns, drops, malformed lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperion.errors import HyperionError
from hyperion.sim.swf import TraceError, parse_swf, read_swf

HEADER = """\
; Version: 2.2
; Computer: Test machine
; UnixStartTime: 1000000000
; MaxNodes: 32
; MaxProcs: 64
; Note: first note
; Note: second note
"""


def rec(
    jid: int,
    submit: int,
    run: int,
    procs: int,
    req_time: int = -1,
    req_procs: int = -1,
    user: int = 1,
    sep: str = " ",
) -> str:
    fields = [
        jid,
        submit,
        -1,
        run,
        procs,
        -1,
        -1,
        req_procs,
        req_time,
        -1,
        1,
        user,
        1,
        -1,
        1,
        -1,
        -1,
        -1,
    ]
    return sep.join(str(f) for f in fields)


def test_header_metadata_is_read() -> None:
    tr = parse_swf((HEADER + rec(1, 0, 10, 4, 20)).splitlines())
    assert tr.max_procs == 64  # MaxProcs wins over MaxNodes
    assert tr.unix_start == 1000000000
    assert tr.header["Computer"] == "Test machine"
    assert tr.header["Note"] == "first note\nsecond note"
    assert len(tr.jobs) == 1


def test_maxnodes_is_the_size_without_maxprocs() -> None:
    tr = parse_swf(["; MaxNodes: 16", rec(1, 0, 10, 16), rec(2, 5, 10, 17)])
    assert tr.max_procs == 16
    assert [j.job_id for j in tr.jobs] == [1]
    assert tr.dropped == {"more processors than the machine": 1}


def test_explicit_size_overrides_header() -> None:
    tr = parse_swf(["; MaxProcs: 16", rec(1, 0, 10, 32)], max_procs=64)
    assert tr.machine_size == 64 and len(tr.jobs) == 1


def test_no_header_size_keeps_everything() -> None:
    tr = parse_swf([rec(1, 0, 10, 500)])
    assert tr.max_procs is None
    assert tr.machine_size == 500


def test_tabs_space_runs_and_extra_columns() -> None:
    lines = [
        rec(1, 0, 100, 8, 200, sep="\t"),
        "   " + rec(2, 10, 50, 4, 60, sep="    ") + "   ",
        rec(3, 20, 30, 2, 40) + " 7 8 9",  # extra trailing columns
        "",
        "; a comment between records",
        rec(4, 30, 5, 1, 10) + "\r",
    ]
    tr = parse_swf(lines)
    assert [(j.job_id, j.submit, j.run, j.req, j.cores) for j in tr.jobs] == [
        (1, 0, 100, 200, 8),
        (2, 10, 50, 60, 4),
        (3, 20, 30, 40, 2),
        (4, 30, 5, 10, 1),
    ]


def test_fractional_fields_are_accepted() -> None:
    line = "1 0 -1 12.0 4 33.75 -1 4 60 -1 1 1 1 -1 1 -1 -1 -1"
    tr = parse_swf([line])
    assert tr.jobs[0].run == 12 and tr.jobs[0].req == 60


def test_requested_time_unknown_falls_back_to_run_time_and_is_counted() -> None:
    tr = parse_swf([rec(1, 0, 100, 4), rec(2, 1, 50, 4, 0), rec(3, 2, 70, 4, 80)])
    assert [j.req for j in tr.jobs] == [100, 50, 80]
    assert tr.req_from_run == 2
    assert "2 without requested time" in tr.summary()


def test_processors_are_max_of_allocated_and_requested() -> None:
    tr = parse_swf([rec(1, 0, 10, -1, req_procs=8), rec(2, 0, 10, 4, req_procs=2)])
    assert [j.cores for j in tr.jobs] == [8, 4]


def test_bad_jobs_are_dropped_counted_and_reported() -> None:
    lines = [
        "; MaxProcs: 8",
        rec(1, 0, 0, 4),  # zero run time
        rec(2, 1, -1, 4),  # unknown run time
        rec(3, 2, 10, 9),  # more than the machine
        rec(4, 3, 10, -1),  # no processors at all
        rec(5, -1, 10, 1),  # unknown submit time
        rec(6, 4, 10, 8),  # fine
    ]
    tr = parse_swf(lines, source="t.swf")
    assert [j.job_id for j in tr.jobs] == [6]
    assert tr.records == 6
    assert tr.dropped == {
        "zero or negative run time": 2,
        "more processors than the machine": 1,
        "unknown processors": 1,
        "unknown submit time": 1,
    }
    assert tr.n_dropped == 5
    s = tr.summary()
    assert "1 of 6 jobs kept" in s and "2 zero or negative run time" in s


def test_jobs_are_sorted_by_submit_time_stably() -> None:
    tr = parse_swf([rec(1, 50, 10, 1), rec(2, 10, 10, 1), rec(3, 10, 10, 1)])
    assert [j.job_id for j in tr.jobs] == [2, 3, 1]


def test_memory_and_user_and_home() -> None:
    fields = "1 0 -1 10 4 -1 -1 4 20 2048 1 42 1 -1 1 -1 -1 -1"
    j = parse_swf([fields], home="siteA").jobs[0]
    assert j.mem_per_core == 2 and j.mem_mb is None and j.user == 42 and j.home == "siteA"
    assert j.mem_per_node == 8  # what a one-node JobRequest asks: 2 MB x 4 cores


@pytest.mark.parametrize(
    ("used_kb", "req_kb", "per_core"),
    [(3000, -1, 3), (3000, 1024, 1), (-1, -1, None), (1, -1, 1)],
)
def test_memory_per_core_from_requested_else_used(
    used_kb: int, req_kb: int, per_core: int | None
) -> None:
    fields = f"1 0 -1 10 4 -1 {used_kb} 4 20 {req_kb} 1 42 1 -1 1 -1 -1 -1"
    assert parse_swf([fields]).jobs[0].mem_per_core == per_core


@pytest.mark.parametrize(
    "bad",
    ["1 2 3", "1 0 -1 ten 4 -1 -1 4 20 -1 1 1 1 -1 1 -1 -1 -1"],
)
def test_malformed_line_names_file_and_line(bad: str) -> None:
    with pytest.raises(TraceError) as ei:
        parse_swf(["; MaxProcs: 8", rec(1, 0, 10, 1), bad], source="my.swf")
    assert "my.swf, line 3" in str(ei.value)
    assert isinstance(ei.value, HyperionError)
    assert "skip" in str(ei.value)


def test_skip_bad_skips_and_counts() -> None:
    tr = parse_swf([rec(1, 0, 10, 1), "garbage here", rec(2, 5, 10, 1)], skip_bad=True)
    assert [j.job_id for j in tr.jobs] == [1, 2]
    assert tr.bad_lines == 1
    assert "1 malformed lines skipped" in tr.summary()


def test_read_swf_file_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "t.swf"
    p.write_text(HEADER + rec(1, 0, 10, 4) + "\n" + rec(2, 3, 10, 4) + "\n")
    tr = read_swf(p)
    assert tr.source == str(p) and len(tr.jobs) == 2
    with pytest.raises(TraceError, match="no such trace file"):
        read_swf(tmp_path / "missing.swf")
    with pytest.raises(TraceError, match="directory"):
        read_swf(tmp_path)


def test_bad_line_in_file_names_the_path(tmp_path: Path) -> None:
    p = tmp_path / "bad.swf"
    p.write_text(rec(1, 0, 10, 4) + "\n1 2 3\n")
    with pytest.raises(TraceError, match=r"bad\.swf, line 2"):
        read_swf(p)


def _trace_file(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "t.swf"
    path.write_text(HEADER + "\n".join(rec(i + 1, 100 + 10 * i, 5, 2) for i in range(n)) + "\n")
    return path


def test_segment_takes_the_seeds_stretch_from_time_zero(tmp_path: Path) -> None:
    from hyperion.sim.scenario import load_workload

    path = _trace_file(tmp_path, 10)
    seg = load_workload(str(path), seed=1, segment=4)
    assert [j.job_id for j in seg.jobs] == [5, 6, 7, 8]
    assert [j.submit for j in seg.jobs] == [0, 10, 20, 30]
    assert "jobs 5-8" in seg.notes[-1]
    # two whole segments of 4 in 10 jobs: seed 2 wraps to the first
    assert [j.job_id for j in load_workload(str(path), seed=2, segment=4).jobs] == [1, 2, 3, 4]
    # the trace's own jobs are untouched
    assert load_workload(str(path)).jobs[4].submit == 140


def test_segment_longer_than_the_trace_is_a_clear_error(tmp_path: Path) -> None:
    from hyperion.sim.scenario import load_workload

    path = _trace_file(tmp_path, 3)
    with pytest.raises(HyperionError, match="only 3 jobs"):
        load_workload(str(path), segment=4)


def test_user_estimates_round_up_where_the_trace_has_none() -> None:
    from hyperion.sim.job import SimJob
    from hyperion.sim.workload import COMMON_LIMITS_S, user_estimates

    jobs = [
        SimJob(i, float(i), run=float(10 + 37 * i), req=float(10 + 37 * i), cores=1)
        for i in range(300)
    ]
    given = SimJob(999, 0.0, run=100.0, req=7200.0, cores=1)
    out = user_estimates([*jobs, given], seed=4)
    assert out[-1].req == 7200.0  # a trace's own estimate stays
    assert all(j.req in COMMON_LIMITS_S and j.req >= j.run for j in out[:-1])
    assert sum(j.req > 2 * j.run for j in out[:-1]) > 120  # often by far
    assert [j.req for j in jobs] == [j.run for j in jobs]  # the input is untouched
    assert [j.req for j in user_estimates(jobs, seed=4)] == [j.req for j in out[:-1]]


def test_unknown_estimates_mode_is_a_clear_error() -> None:
    from hyperion.sim.scenario import build

    with pytest.raises(HyperionError, match="estimates 'psychic'"):
        build(["lublin:20:1.0:16"], estimates="psychic")


def test_a_negative_segment_is_a_clear_error() -> None:
    from hyperion.sim.scenario import build

    with pytest.raises(HyperionError, match="--segment -3"):
        build(["lublin:20:1.0:16"], segment=-3)


def test_the_estimates_option_offers_every_mode() -> None:
    from hyperion.cli.main import build_parser
    from hyperion.sim.workload import ESTIMATES

    for mode in ESTIMATES:
        assert build_parser().parse_args(["sim", "--estimates", mode]).estimates == mode
