"""The placement environment: masking, rewards on hand-built cases, shapes, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hyperion.rl.env import EnvConfig, PlacementEnv
from hyperion.rl.features import JOB_FEATURES, OPTIONS, SITE_FEATURES
from hyperion.rl.model import PlacementModel
from hyperion.rl.objective import Objective
from hyperion.sim import simulate
from tests.unit.rl_sites import write_jobs, write_sites

# Two 4-core sites a and b. j1 and j2 fill a in turn; j3 goes to b.
JOBS = [(0.0, 100.0, 4), (10.0, 100.0, 4), (20.0, 50.0, 4)]


def _env(tmp_path: Path, objective: str = "bsld", **sites: list[float]) -> PlacementEnv:
    cfg = write_sites(tmp_path, [4, 4], **sites)  # type: ignore[arg-type]
    swf = write_jobs(tmp_path, JOBS, 8)
    return PlacementEnv(
        EnvConfig(workloads=[swf], sites=cfg, homes="first", objective=objective, max_sites=3)
    )


def _play(env: PlacementEnv, slots: list[int]) -> list[float]:
    """Start each job now at the given site slots."""
    env.reset(seed=0)
    rewards = []
    for k, slot in enumerate(slots):
        _, r, done, truncated, info = env.step(slot * OPTIONS)
        rewards.append(r)
        assert done == (k == len(slots) - 1) and not truncated
    assert info["objective"] == pytest.approx(-sum(rewards))
    return rewards


def test_bsld_reward_is_the_change_of_the_running_sum(tmp_path: Path) -> None:
    # j1 -> a (runs 0-100), j2 -> a (waits 90 s: bsld 1.9), j3 -> b (no wait)
    rewards = _play(_env(tmp_path), [0, 0, 1])
    # step 1: nothing waited yet; step 2: j2 has waited 10 s by j3's arrival (10/100);
    # step 3 (the end): j2's remaining 80 s of wait
    assert rewards == pytest.approx([0.0, -0.1 / 3, -0.8 / 3])


def test_return_equals_minus_the_simulators_mean_bounded_slowdown(tmp_path: Path) -> None:
    env = _env(tmp_path)
    rewards = _play(env, [0, 1, 0])  # j2 to b: nobody waits except j3 (a is busy until 100)
    m = env._engine.measure(env.jobs) if env._engine else None
    assert m is not None
    assert -sum(rewards) == pytest.approx(m.mean_bsld - 1.0)
    assert -sum(rewards) == pytest.approx(((80 + 50) / 50 - 1) / 3)


def test_wait_cost_and_carbon_terms(tmp_path: Path) -> None:
    env = _env(tmp_path, "wait=1,cost=1,carbon=1", core_hour=[0.0, 2.0], carbon=[100.0, 500.0])
    rewards = _play(env, [0, 0, 1])
    wait_h = 90 / 3600
    cost = 4 * 2.0 * 50 / 3600  # j3 on b: 4 cores x 50 s at 2 EUR per core-hour
    kwh = lambda run: 4 * 10.0 * run / 3.6e6  # noqa: E731  4 cores at 10 W
    carbon_kg = (kwh(100) * 100 * 2 + kwh(50) * 500) / 1000
    assert -sum(rewards) == pytest.approx((wait_h + cost + carbon_kg) / 3)


def test_an_infeasible_site_is_masked_and_refused(tmp_path: Path) -> None:
    cfg = write_sites(tmp_path, [8, 4, 8])
    swf = write_jobs(tmp_path, [(0.0, 100.0, 8), (5.0, 10.0, 8)], 8)
    env = PlacementEnv(EnvConfig(workloads=[swf], sites=cfg, max_sites=4))
    obs, _ = env.reset(seed=0)
    # rigid jobs: "now" only where the site can run the job, never a delay
    assert obs["mask"].tolist() == [[1.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]
    assert not obs["sites"][1].any() and not obs["sites"][3].any()
    for bad in (2, 6, 14):
        with pytest.raises(ValueError, match="cannot run"):
            env.step(bad)
    for bad in (1, 5):
        with pytest.raises(ValueError, match="no delay"):
            env.step(bad)
    model = PlacementModel(len(JOB_FEATURES), len(SITE_FEATURES))
    with torch.no_grad():
        logits = model(*(torch.as_tensor(obs[k])[None] for k in ("job", "sites", "mask")))
    probs = torch.softmax(logits, -1)[0]
    assert probs.shape == (8,) and probs.sum().item() == pytest.approx(1.0)
    assert all(probs[i].item() == 0 for i in (1, 2, 3, 5, 6, 7))
    draws = torch.multinomial(probs, 2000, replacement=True)
    assert set(draws.tolist()) <= {0, 4}


@pytest.mark.parametrize("n_sites", [2, 5])
def test_observation_shapes(tmp_path: Path, n_sites: int) -> None:
    cfg = write_sites(tmp_path, [16] * n_sites)
    env = PlacementEnv(EnvConfig(workloads=["lublin:60:0.9:64"], sites=cfg, max_sites=6))
    obs, _ = env.reset(seed=1)
    assert obs["job"].shape == (len(JOB_FEATURES),)
    assert obs["sites"].shape == (6, len(SITE_FEATURES))
    assert obs["mask"].shape == (6, OPTIONS)
    assert obs["mask"][n_sites:].sum() == 0 and obs["mask"][:, 0].sum() >= 2
    assert obs["mask"][:, 1].sum() == 0  # no flexible jobs, no forecast
    assert env.observation_space.contains(obs)
    assert env.action_space.n == 6 * OPTIONS
    # the model itself takes any number of sites: score only the real ones
    model = PlacementModel(len(JOB_FEATURES), len(SITE_FEATURES))
    real = torch.as_tensor(obs["sites"][:n_sites])[None]
    mask = torch.ones(1, n_sites, OPTIONS)
    assert model(torch.as_tensor(obs["job"])[None], real, mask).shape == (1, n_sites * OPTIONS)


def _trajectory(env: PlacementEnv, seed: int) -> list[tuple[list[float], float]]:
    obs, _ = env.reset(seed=seed)
    out = []
    done = False
    while not done:
        a = int(np.flatnonzero(obs["mask"])[-1])
        obs, r, done, _, _ = env.step(a)
        out.append((obs["sites"].ravel().tolist(), r))
    return out


def test_episodes_are_deterministic_per_seed(tmp_path: Path) -> None:
    cfg = write_sites(tmp_path, [16, 32, 16])
    spec = EnvConfig(workloads=["lublin:80:1.2:64"], sites=cfg, max_sites=4, window=50)
    a = _trajectory(PlacementEnv(spec), 7)
    b = _trajectory(PlacementEnv(spec), 7)
    c = _trajectory(PlacementEnv(spec), 8)
    assert a == b
    assert a != c
    assert len(a) <= 50


def test_earliest_start_in_the_env_matches_the_simulator(tmp_path: Path) -> None:
    cfg = write_sites(tmp_path, [16, 32, 16])
    env = PlacementEnv(EnvConfig(workloads=["lublin:200:1.2:64"], sites=cfg, max_sites=4))
    obs, info = env.reset(seed=3)
    slot = {s.name: i for i, s in enumerate(env.sites)}
    total, done = 0.0, False
    while not done:
        best = min(env.candidates, key=lambda c: (c.est_start, not c.home))
        obs, r, done, _, _ = env.step(slot[best.site] * OPTIONS)
        total += r
    sc = env.config.scenario(info["seed"])
    m = simulate(sc.jobs, sc.sites, "earliest-start")
    assert m.jobs == len(env.jobs) - m.dropped
    assert -total * len(env.jobs) / m.jobs == pytest.approx(m.mean_bsld - 1.0)


def test_objective_parsing() -> None:
    assert Objective.parse("bsld") == Objective()
    assert Objective.parse("wait=2,carbon=0.5") == Objective(0.0, 2.0, 0.0, 0.5)
    assert str(Objective.parse("cost=1")) == "cost=1"
    for bad in ("speed=1", "bsld=x", "", "bsld=0", "bsld=-1"):
        with pytest.raises(Exception, match="objective"):
            Objective.parse(bad)


def test_also_draws_each_site_mix_and_workload_by_seed(tmp_path: Path) -> None:
    (tmp_path / "two").mkdir()
    (tmp_path / "three").mkdir()
    two = write_sites(tmp_path / "two", [32, 16])
    three = write_sites(tmp_path / "three", [128, 64, 32])
    spec = EnvConfig(workloads=["lublin:50:1.0:32"], sites=two, also=[[three, "lublin:50:1.0:128"]])
    sizes = {len(spec.scenario(seed).sites) for seed in range(20)}
    assert sizes == {2, 3}  # both pairs are drawn
    for seed in range(20):
        sites, workloads, _ = spec.variant(seed)
        assert (sites, workloads) in [(two, ["lublin:50:1.0:32"]), (three, ["lublin:50:1.0:128"])]
    assert EnvConfig.from_dict(spec.to_dict()) == spec  # ships to Ray workers as plain data
    env = PlacementEnv(spec)
    seen = set()
    for seed in range(8):
        env.reset(seed=seed)
        seen.add(len(env.sites))
    assert seen == {2, 3}
