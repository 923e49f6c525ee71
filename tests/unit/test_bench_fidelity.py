"""hyperion bench fidelity, the parts that need no Slurm: statistics, workload, simulated side."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest

from hyperion.bench import fidelity
from hyperion.bench.fidelity_live import Cluster, Observed, PlannedJob, sbatch_argv
from hyperion.bench.fidelity_stats import (
    agreement,
    latencies,
    overtakers,
    pearson,
    ranks,
    spearman,
)
from hyperion.errors import HyperionError

CONFIG = Path(__file__).resolve().parents[2] / "site-configs" / "testbed.toml"


def test_ranks_average_ties() -> None:
    assert ranks([10, 20, 20, 30]) == [1, 2.5, 2.5, 4]
    assert ranks([3, 1, 3, 3]) == [3, 1, 3, 3]
    assert ranks([]) == []


def test_spearman_with_ties_matches_hand_computation() -> None:
    # y ranks are 1, 2, 3.5, 5, 3.5: sum dx*dy = 8, sum dx^2 = 10, sum dy^2 = 9.5
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95))
    # monotone but not linear: ranks agree completely, Pearson does not
    xs, ys = [1, 2, 3, 4], [1, 10, 100, 1000]
    assert spearman(xs, ys) == pytest.approx(1.0)
    assert pearson(xs, ys) < 0.9
    assert spearman(xs, list(reversed(ys))) == pytest.approx(-1.0)


def test_pearson_undefined_cases() -> None:
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))
    assert math.isnan(pearson([1], [2]))
    with pytest.raises(ValueError):
        pearson([1, 2], [1, 2, 3])


def test_agreement_on_a_hand_computed_case() -> None:
    a = agreement([0, 0, 0], [0, 2, 4], [0, 3, 3])
    # live ranks 1, 2, 3; simulated 1, 2.5, 2.5: 1.5 / sqrt(2 * 1.5)
    assert a.spearman_start == pytest.approx(1.5 / math.sqrt(3))
    assert a.mean_wait_live == 2 and a.mean_wait_sim == 2
    assert a.mae_wait == pytest.approx(2 / 3)
    assert a.mae_wait_rel == pytest.approx(1 / 3)
    assert a.bias_wait == 0 and a.max_abs_err == 1 and a.within_2s == 1
    assert a.overtakers_live == 0 and a.overtakers_sim == 0
    with pytest.raises(ValueError):
        agreement([], [], [])


def test_overtakers_count_jobs_that_pass_an_earlier_one() -> None:
    assert overtakers([0, 5, 3, 4, 9, 9, 1]) == 3  # 3 and 4 pass 5; 1 passes everything
    assert overtakers([0, 0, 1]) == 0


def test_latencies_separate_launch_and_handoff() -> None:
    # 2 cores. A (1 core) fits at once and starts 1 s late; B (2 cores) must wait for A's end
    # at 5 and starts at 6; C (1 core) is behind B, starts when B ends: gaps 1 and 0.
    lat = latencies([0, 2, 3], [1, 6, 8], [5, 8, 9], [1, 2, 1], 2)
    assert lat == {"launch_s": 1.0, "launch_jobs": 1, "handoff_s": 0.5, "handoff_jobs": 2}
    assert math.isnan(latencies([0], [0], [1], [4], 2)["launch_s"])


def _plan(seed: int = 3, n: int = 300) -> list[PlannedJob]:
    return fidelity.plan_workload(
        n, seed=seed, total_cores=8, max_cores=8, load=1.3, min_run=2, max_run=15, limit_factor=4
    )


def test_workload_is_seeded_and_within_bounds() -> None:
    plan = _plan()
    assert plan == _plan() and plan != _plan(seed=4)
    assert len(plan) == 300
    assert {j.cores for j in plan} <= set(range(1, 9)) and len({j.cores for j in plan}) == 8
    assert all(2 <= j.run_s <= 15 for j in plan)
    assert all(j.limit_min >= 1 and j.limit_min * 60 >= j.run_s for j in plan)
    offsets = [j.offset for j in plan]
    assert offsets == sorted(offsets) and offsets[0] == 0
    work = sum(j.cores * j.run_s for j in plan)
    assert work / (8 * offsets[-1]) == pytest.approx(1.3, rel=0.01)  # the offered load
    with pytest.raises(HyperionError):
        fidelity.plan_workload(
            5, seed=0, total_cores=8, max_cores=8, load=1, min_run=5, max_run=2, limit_factor=1
        )


def test_sbatch_argv_asks_for_cores_memory_and_whole_minutes() -> None:
    argv = sbatch_argv(Cluster("alpha", "/x/slurm.conf", mem_per_cpu_mb=50), _plan()[0], "n1")
    job = _plan()[0]
    assert argv[0] == "sbatch" and "--clusters=alpha" in argv
    assert f"--ntasks={job.cores}" in argv and "--mem-per-cpu=50" in argv
    assert f"--time={job.limit_min}" in argv
    assert argv[-2:] == ["--wrap", f"sleep {job.run_s}"]


def _obs(job_id: int, cores: int, submit: float, start: float, run: float) -> Observed:
    return Observed(job_id, str(job_id), cores, 1, "COMPLETED", submit, start, start + run, 1)


def test_simulated_side_uses_the_site_description_and_backfill_mode() -> None:
    t = 1_000_000.0
    # A: 6 of alpha's 8 cores for 30 s (limit 60 s); B needs 4 and waits for A; C needs 2 and,
    # limited to 60 s, only fits beside A: backfilled at once unless backfilling is off.
    obs = [_obs(1, 6, t, t, 30), _obs(2, 4, t + 1, t + 30, 5), _obs(3, 2, t + 2, t + 2, 5)]
    starts = {}
    for mode, opts in fidelity.VARIANTS.items():
        site, per_node = fidelity.build_site(CONFIG, "alpha", None, opts)
        assert per_node == 2 and sum(p.cores for p in site.pools) == 8
        starts[mode] = [s - t for s in fidelity.simulate(obs, site, 100)]
    assert starts["easy"] == [0, 30, 2] and starts["conservative"] == [0, 30, 2]
    assert starts["none"] == [0, 30, 30] and starts["easy-nodes"] == [0, 30, 2]
    # Slurm's latencies as options: arrivals 1 s later, cores held 2 s after each end
    site = fidelity.build_site(CONFIG, "alpha", None, {})[0]
    late = fidelity.simulate(obs, site, 100, launch_s=1, release_s=2)
    assert [s - t for s in late] == [1, 33, 3]


def _args(tmp_path: Path, observed: Path) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    fidelity.add_arguments(parser)
    return parser.parse_args(["--config", str(CONFIG), "--observed", str(observed), "--json"])


def test_cli_from_saved_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = 1_000_000.0
    obs = [_obs(1, 6, t, t, 30), _obs(2, 4, t + 1, t + 31, 5), _obs(3, 2, t + 2, t + 3, 5)]
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps({"info": {"seed": 7}, "observed": [o.as_dict() for o in obs]}))
    assert fidelity.run(_args(tmp_path, saved)) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["backfill"] == "easy" and doc["workload"]["seed"] == 7
    assert [j["wait_live_s"] for j in doc["jobs"]] == [0, 30, 1]
    assert [j["wait_sim_s"] for j in doc["jobs"]] == [0, 29, 0]
    easy = doc["main"]["all"]
    assert easy["mae_wait"] == pytest.approx(2 / 3) and easy["bias_wait"] == pytest.approx(2 / 3)
    assert doc["variants"]["none"]["all"]["mean_wait_sim"] == pytest.approx((29 + 28) / 3)
    assert set(doc["main"]) == {"all", "one_node", "multi_node"}
    assert doc["main"]["one_node"]["jobs"] == 1 and doc["main"]["one_node"]["spearman_wait"] is None


def test_cli_rejects_a_bad_records_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(HyperionError, match="not a file written by --save"):
        fidelity.run(_args(tmp_path, bad))


def test_cli_report_names_the_goal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = 1_000_000.0
    obs = [_obs(i, 1 + i % 3, t + 2 * i, t + 2 * i + i % 2, 5) for i in range(1, 9)]
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps({"info": {}, "observed": [o.as_dict() for o in obs]}))
    args = _args(tmp_path, saved)
    args.json = False
    assert fidelity.run(args) == 0
    out = capsys.readouterr().out
    assert "alpha: 8 jobs" in out and "overtakers Slurm" in out
    assert "goal: Spearman of start order >= 0.9: met" in out
