"""A tiny end-to-end run of ``hyperion train`` (Ray RLlib PPO): a loadable artifact."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from hyperion.cli.main import main
from hyperion.rl.artifact import load
from hyperion.rl.train import BASELINES
from tests.unit.rl_sites import write_sites


def test_train_writes_a_loadable_artifact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_sites(tmp_path, [16, 32, 8], core_hour=[0.1, 0.2, 0.3])
    out = tmp_path / "model.hyp"
    argv = [
        "train", "--sites", cfg, "--workload", "lublin:200:1.4:32", "--objective",
        "bsld=1,cost=0.5", "--iterations", "2", "--batch", "150", "--env-runners", "0",
        "--window", "100", "--max-sites", "4", "--eval-seeds", "7", "--imitation-steps", "300",
        "--imitation-epochs", "3", "--out", str(out), "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    model, meta = load(out)
    assert printed["command"] == meta["command"] == "hyperion " + " ".join(argv)
    assert meta["objective"] == {"bsld": 1.0, "wait": 0.0, "cost": 0.5, "carbon": 0.0}
    assert [c["iteration"] for c in meta["curve"]] == [1, 2]
    assert meta["curve"][-1]["env_steps"] >= 300
    assert meta["training"]["env"]["workloads"] == ["lublin:200:1.4:32"]
    assert 0 < meta["training"]["imitation_agreement"] <= 1
    assert [r["policy"] for r in meta["eval"]] == [f"rl:{out}", *BASELINES]
    assert all(r["seed"] == 7 and r["objective"] >= 0 for r in meta["eval"])
    # the range of the jobs it trained on: lublin:200:1.4:32 asks for 1-32 cores, no GPUs
    lo, hi = meta["job_range"]["log_cpus"]
    assert math.log1p(1) <= lo <= hi <= math.log1p(32) and meta["job_range"]["log_gpus"] == [0, 0]
    # normalisation was measured, not left at its defaults
    assert model.site_mean.abs().sum().item() > 0
    logp = model.log_probs([1.0] * model.job_dim, [[0.0] * model.site_dim] * 3, [True] * 3)
    total = sum(math.exp(v) for row in logp for v in row)
    assert len(logp) == 3 and total == pytest.approx(1.0, rel=1e-5)


def test_train_without_a_workload_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--out", str(tmp_path / "m.hyp")]) == 1
    assert "no workload given" in capsys.readouterr().err


def test_train_selects_a_checkpoint_on_validation_seeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_sites(tmp_path, [16, 32, 8], core_hour=[0.1, 0.2, 0.3])
    out = tmp_path / "model.hyp"
    argv = [
        "train", "--sites", cfg, "--workload", "lublin:200:1.4:32", "--iterations", "2",
        "--batch", "150", "--env-runners", "0", "--window", "100", "--max-sites", "4",
        "--eval-seeds", "7", "--imitation-steps", "300", "--imitation-epochs", "3",
        "--select-seeds", "8,9", "--select-every", "1", "--out", str(out), "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    _, meta = load(out)
    selection = meta["training"]["selection"]
    assert [s["iteration"] for s in selection] == [0, 1, 2]
    best = min(selection, key=lambda s: s["ratio"])
    assert meta["training"]["selected_iteration"] == best["iteration"]
    assert all(s["ratio"] > 0 for s in selection)
    t = meta["training"]
    assert t["expert_ratio"] == pytest.approx(1.0)  # it imitated earliest-start, the baseline
    assert t["beats_expert"] == (best["ratio"] < t["expert_ratio"])


def test_select_seeds_must_not_overlap_eval_seeds(tmp_path: Path) -> None:
    cfg = write_sites(tmp_path, [16, 32, 8])
    argv = [
        "train", "--sites", cfg, "--workload", "lublin:200:1.4:32", "--eval-seeds", "7,8",
        "--select-seeds", "8", "--out", str(tmp_path / "m.hyp"),
    ]  # fmt: skip
    assert main(argv) != 0


@pytest.mark.parametrize(
    ("also", "message"),
    [
        ("lublin:10:1.0", "expected SITES=WORKLOAD"),
        ("nowhere.toml=lublin:10:1.0", "no site config"),
    ],
)
def test_a_bad_also_pair_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], also: str, message: str
) -> None:
    argv = ["train", "--workload", "lublin:10:1.0", "--also", also, "--out", str(tmp_path / "m")]
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_an_also_pair_is_built_once_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_sites(tmp_path, [16, 32, 8])
    argv = ["train", "--workload", "lublin:10:1.0", "--also", f"{cfg}=lublin:ten", "--out", "m"]
    assert main(argv) == 1
    assert "bad generated workload" in capsys.readouterr().err
