"""The burst model behind ``hyperion bench burst-floor`` on hand-built bursts."""

from __future__ import annotations

import pytest

from hyperion.bench.burst import BenchJob
from hyperion.bench.burst_floor import _bind_by_limits, floor

ONE_NODE = (("solo", 1, 2),)


def _job(
    i: int, ntasks: int, run: float, limit_min: int = 10, nodes: int | None = None
) -> BenchJob:
    return BenchJob(index=i, ntasks=ntasks, nodes=nodes, runtime_s=run, time_limit_min=limit_min)


def test_orders_change_who_waits() -> None:
    big, small = _job(0, 2, 10.0), _job(1, 1, 1.0)
    got = floor([big, small], shape=ONE_NODE, gap_s=0.5, spacing_s=0.0)
    # submission order: the big job takes both cores, the small one waits 10.5 s
    assert got["global, submission order"] == pytest.approx(10.5 / 2)
    assert got["per-site (sbatch -M)"] == pytest.approx(10.5 / 2)
    # smallest first: the small one starts, the big one waits for both cores (1.5 s)
    assert got["global, smallest first"] == pytest.approx(1.5 / 2)


def test_a_two_node_job_needs_two_nodes() -> None:
    shape = (("pair", 2, 2),)
    first, two_node = _job(0, 1, 4.0), _job(1, 2, 1.0, nodes=2)
    # one core free on each node: the 2-node job (1 task per node) starts at once
    assert floor([first, two_node], shape=shape, gap_s=0.0, spacing_s=0.0)[
        "global, submission order"
    ] == pytest.approx(0.0)
    # 4 tasks on 2 nodes need 2 free cores on each: it waits for the first job
    wide = _job(1, 4, 1.0, nodes=2)
    assert floor([first, wide], shape=shape, gap_s=0.0, spacing_s=0.0)[
        "global, submission order"
    ] == pytest.approx(2.0)


def test_binding_balances_requested_work_per_core() -> None:
    shape = (("a", 2, 2), ("b", 1, 2))
    jobs = [_job(i, 2, 1.0, limit_min=10) for i in range(6)]
    bound = _bind_by_limits(jobs, shape)
    assert [len(bound["a"]), len(bound["b"])] == [4, 2]


def test_a_job_that_fits_no_node_is_an_error_not_a_short_mean() -> None:
    from hyperion.errors import HyperionError

    with pytest.raises(HyperionError, match="fit no node"):
        floor([_job(0, 4, 1.0, nodes=2)], shape=ONE_NODE)


def test_a_burst_without_waiting_prints_no_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    from hyperion.cli.main import main

    assert main(["bench", "burst-floor", "--jobs", "3", "--seeds", "0"]) == 0
    assert "0.0 (-)" in capsys.readouterr().out
