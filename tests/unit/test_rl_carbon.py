"""The learned policy's carbon features and delay choice (issue #6 section 3)."""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from hyperion.errors import HyperionError
from hyperion.placement.carbon_window import ForecastCurve
from hyperion.placement.policy import Candidate
from hyperion.rl.artifact import META, WEIGHTS, load, save
from hyperion.rl.env import EnvConfig, PlacementEnv
from hyperion.rl.features import (
    FEATURE_SPEC,
    JOB_FEATURES,
    OPTIONS,
    SITE_FEATURES,
    job_features,
    observe,
)
from hyperion.rl.model import PlacementModel
from hyperion.rl.objective import Objective
from hyperion.rl.policy import LearnedPolicy
from hyperion.rl.warmstart import demonstrations
from hyperion.types import JobRequest, PartitionState, SiteState
from tests.unit.rl_sites import write_sites

H = 3600.0
#: 300 g/kWh with a dip to 50 at hours 2-3 (a 1 h job starting at 2 h runs at 50)
DIP = [100.0, 300.0, 50.0, 50.0] + [300.0] * 20


def _part() -> PartitionState:
    return PartitionState(
        name="batch", total_nodes=1, idle_nodes=1, alloc_nodes=0, down_nodes=0,
        total_cpus=64, idle_cpus=64, alloc_cpus=0, total_gpus=0, idle_gpus=0, alloc_gpus=0,
    )  # fmt: skip


def _cand(site: str, values: list[float] | None, est: float = 0.0) -> Candidate:
    fc = tuple((h * H, v) for h, v in enumerate(values)) if values else None
    return Candidate(
        site=site,
        state=SiteState(site=site, time=0.0, partitions=(_part(),)),
        partition="batch",
        est_start=est,
        carbon_g_per_kwh=values[0] if values else 200.0,
        carbon_forecast=fc,
    )


def _job(flex: float | None = None, run: float = H) -> JobRequest:
    return JobRequest(ntasks=4, time_limit_s=int(run), carbon_flex_s=flex)


def _f(row: list[float], name: str) -> float:
    return row[SITE_FEATURES.index(name)]


def test_curve_means_and_daily_repeat() -> None:
    c = ForecastCurve([(h * H, v) for h, v in enumerate(DIP)])
    assert c.mean(0.0, H) == pytest.approx(100.0)
    assert c.mean(0.5 * H, H) == pytest.approx(200.0)  # half at 100, half at 300
    assert c.mean(2 * H, 2 * H) == pytest.approx(50.0)
    assert c.mean(26 * H, H) == pytest.approx(50.0)  # past the end: the day repeats
    assert c.mean(-5 * H, H) == pytest.approx(100.0)  # before the start: the first value


def test_features_on_hand_built_candidates_with_a_known_forecast() -> None:
    cands = [_cand("a", DIP), _cand("b", [200.0] * 24), _cand("c", None)]
    rows, targets = observe(_job(flex=3 * H), cands, 0.0)
    a, b, c = rows
    assert _f(a, "carbon") == pytest.approx(0.1) and _f(a, "carbon_run") == pytest.approx(0.1)
    # the greenest hour within 3 h of flexibility: 2 h from now, 50 g/kWh over the run
    assert targets == [2 * H, None, None]
    assert _f(a, "flex_carbon") == pytest.approx(0.05)
    assert _f(a, "flex_gain") == pytest.approx(0.05)
    assert _f(a, "flex_ahead_h") == pytest.approx(2.0)
    assert _f(a, "flex_ahead_run") == pytest.approx(2.0)
    # flat forecast: nothing greener to wait for; no forecast: the current intensity stands
    assert _f(b, "carbon_run") == pytest.approx(0.2) and _f(b, "flex_gain") == 0.0
    assert _f(b, "flex_carbon") == pytest.approx(0.2) and _f(b, "flex_ahead_h") == 0.0
    assert _f(c, "carbon_run") == pytest.approx(0.2) and _f(c, "flex_ahead_h") == 0.0
    assert [_f(r, "rel_carbon_run") for r in rows] == pytest.approx([0.0, 0.1, 0.1])
    # a later estimated start: the run mean is taken from there, delays from the next hour on
    (late,), (t,) = observe(_job(flex=3 * H), [_cand("a", DIP, est=1.5 * H)], 0.0)
    assert _f(late, "carbon_run") == pytest.approx((0.5 * 300 + 0.5 * 50) / 1000)
    assert t == 2 * H and _f(late, "flex_ahead_run") == pytest.approx(0.5)
    j = job_features(_job(flex=3 * H), 0.0)
    assert j[JOB_FEATURES.index("flexible")] == 1.0
    assert j[JOB_FEATURES.index("log_flex_h")] == pytest.approx(math.log1p(3.0))


def test_rigid_jobs_and_too_short_flexibility_get_no_delay() -> None:
    rows, targets = observe(_job(), [_cand("a", DIP)], 0.0)
    assert targets == [None] and _f(rows[0], "flex_gain") == 0.0
    assert _f(rows[0], "flex_ahead_h") == 0.0
    assert job_features(_job(), 0.0)[JOB_FEATURES.index("flexible")] == 0.0
    _, targets = observe(_job(flex=1.5 * H), [_cand("a", DIP)], 0.0)
    assert targets == [None]  # the dip at 2 h is beyond the flexibility
    deadline = JobRequest(ntasks=4, time_limit_s=int(H), deadline=3 * H)  # latest start 2 h
    _, targets = observe(deadline, [_cand("a", DIP)], 0.0)
    assert targets == [2 * H]


def _eager(options: int = OPTIONS) -> PlacementModel:
    """A model that always prefers a delay where one is offered."""
    m = PlacementModel(len(JOB_FEATURES), len(SITE_FEATURES), hidden=8, options=options)
    with torch.no_grad():
        m.head.weight.zero_()
        m.head.bias.copy_(torch.tensor([0.0, 5.0]))
    return m


def test_a_delay_choice_yields_not_before_within_the_flex_window() -> None:
    policy = LearnedPolicy.from_model(_eager(), Objective.parse("bsld=1,carbon=100"))
    assert policy.needs_forecast and policy.needs_start_estimate
    now = 0.0
    d = policy.decide(_job(flex=3 * H), [_cand("a", DIP), _cand("b", [200.0] * 24)], now)
    assert d.site == "a" and d.not_before == 2 * H
    assert now < d.not_before <= now + 3 * H
    assert "held 2.0 h" in d.reason
    assert sum(math.exp(-s) for s in d.scores.values()) == pytest.approx(1.0, rel=1e-5)
    # the same model never delays a rigid job
    d = policy.decide(_job(), [_cand("a", DIP), _cand("b", [200.0] * 24)], now)
    assert d.not_before is None


def _carbon_csv(tmp_path: Path, name: str, values: list[float], days: int = 30) -> str:
    path = tmp_path / f"{name}.csv"
    lines = ["time,value"] + [
        f"{1672531200 + h * 3600},{values[h % len(values)]}" for h in range(24 * days)
    ]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _carbon_env(tmp_path: Path, flex_share: float) -> EnvConfig:
    cfg = write_sites(tmp_path, [16, 16])
    dip = [400.0] * 24
    dip[3] = dip[4] = 20.0
    carbon = [f"a={_carbon_csv(tmp_path, 'a', dip)}", f"b={_carbon_csv(tmp_path, 'b', [300.0])}"]
    return EnvConfig(
        workloads=["lublin:150:0.8:16"],
        sites=cfg,
        carbon=carbon,
        max_sites=3,
        flex_share=flex_share,
        forecast="oracle",
        objective="bsld=1,carbon=100",
    )


def test_env_masks_delays_of_rigid_jobs(tmp_path: Path) -> None:
    env = PlacementEnv(_carbon_env(tmp_path, 0.0))
    obs, _ = env.reset(seed=0)
    done = False
    while not done:
        assert obs["mask"][:, 1].sum() == 0
        with pytest.raises(ValueError, match="no delay"):
            env.step(1)
        obs, _, done, _, _ = env.step(int(np.flatnonzero(obs["mask"])[0]))


def test_env_delay_holds_a_flexible_job_within_its_flexibility(tmp_path: Path) -> None:
    env = PlacementEnv(_carbon_env(tmp_path, 1.0))
    obs, _ = env.reset(seed=0)
    held = 0
    done = False
    while not done:
        assert env._ask is not None
        job, now = env._ask[0], env.now
        delays = np.flatnonzero(obs["mask"][:, 1])
        if len(delays):
            slot = int(delays[0])
            target = env._delays[slot]
            assert target is not None and now < target <= now + job.flex
            obs, _, done, _, _ = env.step(slot * OPTIONS + 1)
            assert job.site == env.sites[slot].name
            held += 1
        else:
            obs, _, done, _, _ = env.step(int(np.flatnonzero(obs["mask"])[0]))
    assert held > 0
    assert env._engine is not None and env._engine.held == held
    assert all(j.start >= j.submit for j in env.jobs if j.start >= 0)


def test_imitating_carbon_aware_records_its_holds(tmp_path: Path) -> None:
    d = demonstrations(_carbon_env(tmp_path, 1.0), seed=0, steps=300, expert="carbon-aware")
    n = len(d.action)
    assert all(d.mask.reshape(n, -1)[i, a] == 1 for i, a in enumerate(d.action))
    assert (d.action % OPTIONS == 1).any()  # carbon-aware held some flexible jobs
    with pytest.raises(HyperionError, match="cannot imitate"):
        demonstrations(_carbon_env(tmp_path, 1.0), seed=0, steps=10, expert="rl:m.hyp")


def test_models_of_the_previous_feature_spec_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.hyp"
    save(path, PlacementModel(len(JOB_FEATURES), len(SITE_FEATURES)), {"objective": {}})
    with zipfile.ZipFile(path) as z:
        meta, weights = json.loads(z.read(META)), z.read(WEIGHTS)
    assert meta["feature_spec"] == FEATURE_SPEC and FEATURE_SPEC["version"] == 2
    meta["feature_spec"] = {  # what version 1 (site choice only, no carbon forecast) wrote
        "version": 1,
        "job": list(JOB_FEATURES[:5]),
        "site": list(SITE_FEATURES[:16]),
    }
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(META, json.dumps(meta))
        z.writestr(WEIGHTS, weights)
    with pytest.raises(HyperionError, match="trained on other features") as err:
        load(path)
    assert "retrain" in str(err.value)
