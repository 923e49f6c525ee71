"""Preemptible partitions on shared nodes: REQUEUE by higher-tier partitions, checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperion.errors import HyperionError
from hyperion.placement.heuristics import get_policy
from hyperion.sim import (
    CarbonSeries,
    EnergyModel,
    Engine,
    Member,
    Pool,
    PriceModel,
    SharedPool,
    SimJob,
    SimSite,
    assign_partitions,
    load_sim_sites,
)
from hyperion.sim.metrics import Metrics


def J(jid: int, submit: float, cores: int, run: float, part: str | None = None, gpus: int = 0):
    return SimJob(jid, submit, run, run, cores, gpus, req_partition=part)


def shared(cores: int = 4, gpus: int = 0, ckpt: float | None = None, **kw: object) -> SharedPool:
    members = [Member("low", 1, preemptible=True), Member("high", 10)]
    return SharedPool("g", cores, gpus, members=members, checkpoint_s=ckpt, **kw)


def run_on(pool: Pool, jobs: list[SimJob], **site: object) -> Metrics:
    s = SimSite("s", [pool], **site)  # type: ignore[arg-type]
    return Engine([s], get_policy("home")).run(jobs)


def test_high_tier_job_requeues_a_low_tier_job_losing_all_work() -> None:
    jobs = [J(1, 0, 4, 100), J(2, 50, 2, 10, "high")]
    m = run_on(shared(), jobs, energy=EnergyModel(core_w=1.0))
    low, high = jobs
    assert (low.partition, high.partition) == ("low", "high")
    assert (high.start, high.end) == (50, 60)
    # requeued at 50 with nothing kept, restarted at 60 for its whole 100 s
    assert (low.start, low.end, low.segs, low.preempted) == (60, 160, [(0, 50)], 1)
    assert low.lost == 50 and low.wait == 60  # end - submit - run time
    assert (m.preemptions, m.lost_core_s) == (1, 4 * 50)
    assert m.mean_wait == 30
    # energy counts the lost work: 4 cores x (100 + 50) s + 2 cores x 10 s, at 1 W a core
    assert m.energy_kwh == pytest.approx(620 / 3.6e6)
    assert m.utilisation == pytest.approx(620 / (4 * 160))


def test_checkpoints_keep_work_up_to_the_last_one() -> None:
    jobs = [J(1, 0, 4, 100), J(2, 50, 2, 10, "high")]
    m = run_on(shared(ckpt=30), jobs)
    low = jobs[0]
    # checkpoint at 30 s: 30 s kept, 20 s lost; the remaining 70 s run from 60 to 130
    assert (low.saved, low.lost, low.start, low.end) == (30, 20, 60, 130)
    assert low.wait == 30
    assert m.lost_core_s == 4 * 20


def test_carbon_and_cost_cover_every_run_of_a_requeued_job() -> None:
    jobs = [J(1, 0, 4, 3600), J(2, 1800, 4, 1800, "high")]
    m = run_on(
        shared(),
        jobs,
        carbon=CarbonSeries([100.0, 300.0]),  # hour 0: 100 g/kWh, then 300
        energy=EnergyModel(core_w=250.0),  # 1 kW per 4-core job
        prices=PriceModel(core_hour=1.0),
    )
    # low ran [0, 1800) (lost) and [3600, 7200); high ran [1800, 3600)
    assert jobs[0].segs == [(0, 1800)] and (jobs[0].start, jobs[0].end) == (3600, 7200)
    assert m.carbon_kg == pytest.approx((0.5 * 100 + 1 * 300 + 0.5 * 100) / 1000)
    assert m.cost == pytest.approx(4 * 1.5 + 4 * 0.5)


def test_the_most_recently_started_low_tier_job_is_requeued() -> None:
    jobs = [J(1, 0, 2, 100), J(2, 10, 2, 100), J(3, 20, 2, 10, "high")]
    m = run_on(shared(), jobs)
    assert [j.preempted for j in jobs] == [0, 1, 0]  # job 2 started last: it loses least
    assert jobs[2].start == 20 and jobs[1].start == 30 and m.preemptions == 1


def test_no_preemption_of_non_preemptible_or_equal_tiers() -> None:
    members = [Member("a", 1), Member("b", 10)]  # a is not preemptible
    jobs = [J(1, 0, 4, 100, "a"), J(2, 50, 2, 10, "b")]
    m = run_on(SharedPool("g", 4, members=members), jobs)
    assert jobs[1].start == 100 and m.preemptions == 0
    jobs = [J(1, 0, 4, 100), J(2, 50, 2, 10)]  # both in "low"
    m = run_on(shared(), jobs)
    assert jobs[1].start == 100 and m.preemptions == 0


def test_gpu_head_only_requeues_jobs_holding_gpus() -> None:
    jobs = [J(1, 0, 2, 100), J(2, 1, 2, 100, gpus=2), J(3, 5, 1, 10, "high", gpus=1)]
    m = run_on(shared(cores=8, gpus=2), jobs)
    assert [j.preempted for j in jobs] == [0, 1, 0]
    assert jobs[2].start == 5 and m.preemptions == 1


def test_higher_tier_jobs_are_scheduled_first_on_the_shared_nodes() -> None:
    # low is not preemptible here: no requeue, but the queue orders high before low
    members = [Member("low", 1), Member("high", 10)]
    jobs = [J(1, 0, 4, 10, "low"), J(2, 1, 4, 10, "low"), J(3, 2, 4, 10, "high")]
    run_on(SharedPool("g", 4, members=members, backfill=False), jobs)
    assert [j.start for j in jobs] == [0, 20, 10]


def test_site_snapshot_lists_each_member_partition() -> None:
    pool = shared()
    site = SimSite("s", [pool])
    pool.submit(J(1, 0, 4, 100), 0.0)
    pool.submit(J(2, 1, 4, 100), 1.0)
    st_ = site.state(1.0)
    low, high = st_.partition("low"), st_.partition("high")
    assert low is not None and high is not None
    assert (low.running_jobs, low.pending_jobs, low.preempt_mode, low.priority_tier) == (
        1,
        1,
        "REQUEUE",
        1,
    )
    assert (high.running_jobs, high.pending_jobs, high.preempt_mode) == (0, 0, "OFF")
    assert low.idle_cpus == high.idle_cpus == 0 and high.total_cpus == 4
    assert site.cores == 4  # shared nodes are counted once


def test_routing_by_requested_partition_and_time_limit() -> None:
    members = [Member("low", 1, True), Member("high", 10, max_time=60)]
    pool = SharedPool("g", 4, members=members)
    site = SimSite("s", [pool, Pool("other", 4)])
    assert site.pool_for(J(1, 0, 1, 10, "high")) is pool
    assert pool.partition_of(J(1, 0, 1, 10, "high")) == "high"
    assert pool.partition_of(J(1, 0, 1, 100, "high")) == "low"  # over high's limit
    assert site.pool_for(J(1, 0, 1, 10, "other")) is site.pools[1]
    assert site.pool_for(J(1, 0, 1, 10, "nowhere")) is pool  # unknown here: default routing


def _config(tmp_path: Path, sim: str | None = None) -> Path:
    part = (
        '[[sites.hpc.partitions]]\nname = "{n}"\nnodes = 2\ncores_per_node = 4\n'
        "mem_per_node = 1000\npriority_tier = {t}\npreemptible = {p}\n{d}"
    )
    cfg = tmp_path / "hpc.toml"
    cfg.write_text(
        '[sites.hpc]\naccess = { kind = "local" }\n'
        + part.format(n="gpu", t=1, p="true", d="default = true\n")
        + part.format(n="gpu-priority", t=10, p="false", d="")
        + part.format(n="other", t=1, p="false", d="").replace("nodes = 2", "nodes = 3")
    )
    if sim is not None:
        (tmp_path / "hpc.sim.toml").write_text(sim)
    return cfg


def test_config_infers_shared_nodes_and_preemption(tmp_path: Path) -> None:
    (site,) = load_sim_sites(_config(tmp_path, "[sim.defaults]\ncheckpoint_interval_s = 600\n"))
    grp, other = site.pools
    assert isinstance(grp, SharedPool) and not isinstance(other, SharedPool)
    assert [(m.name, m.tier, m.preemptible) for m in grp.members] == [
        ("gpu", 1, True),
        ("gpu-priority", 10, False),
    ]
    assert (grp.cores, grp.checkpoint_s, site.cores) == (8, 600, 8 + 12)
    jobs = [J(1, 0, 8, 1000), J(2, 700, 4, 100, "gpu-priority")]
    m = Engine([site], get_policy("home")).run(jobs)
    assert m.preemptions == 1 and jobs[0].saved == 600 and jobs[0].lost == 100


def test_share_nodes_option(tmp_path: Path) -> None:
    (site,) = load_sim_sites(_config(tmp_path, "[sim.defaults]\nshare_nodes = []\n"))
    assert not any(isinstance(p, SharedPool) for p in site.pools) and site.cores == 8 + 8 + 12
    for bad, msg in (
        ('[["gpu", "nope"]]', "no partition"),
        ('[["gpu", "other"]]', "differ"),
        ('[["gpu", "gpu-priority"], ["gpu"]]', "more than one group"),
        ('["gpu"]', "list of lists"),
    ):
        cfg = _config(tmp_path, f"[sim.defaults]\nshare_nodes = {bad}\n")
        with pytest.raises(HyperionError, match=msg):
            load_sim_sites(cfg)


def test_assign_partitions_marks_a_seeded_share() -> None:
    base = [J(i, i, 1, 1) for i in range(1000)]
    jobs = assign_partitions(base, {"high": 0.3}, seed=4)
    assert 0.25 < sum(j.req_partition == "high" for j in jobs) / 1000 < 0.35
    assert all(j.req_partition is None for j in base)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 60),
            st.integers(1, 4),
            st.integers(1, 40),
            st.booleans(),  # asks for the high tier
        ),
        min_size=1,
        max_size=20,
    ),
    st.sampled_from([None, 7.0]),
    st.sampled_from([False, True, "conservative"]),
)
def test_preemption_schedules_are_feasible(
    spec: list[tuple[int, int, int, bool]], ckpt: float | None, backfill: bool | str
) -> None:
    jobs = [J(i, s, c, r, "high" if h else None) for i, (s, c, r, h) in enumerate(spec)]
    pool = shared(ckpt=ckpt, backfill=backfill)
    m = run_on(pool, jobs)
    assert m.jobs == len(jobs)
    events: list[tuple[float, int]] = []
    for j in jobs:
        runs = [*(j.segs or []), (j.start, j.end)]
        assert sum(b - a for a, b in runs) == pytest.approx(j.run + j.lost)
        assert j.preempted == len(runs) - 1 and j.start >= j.submit
        assert j.partition == ("high" if j.req_partition else "low")
        if j.partition == "high":
            assert j.preempted == 0  # nothing outranks the top tier
        for a, b in runs:
            events += [(a, j.cores), (b, -j.cores)]
    used = 0
    for _, d in sorted(events, key=lambda e: (e[0], e[1])):
        used += d
        assert used <= 4
    assert m.preemptions == sum(j.preempted for j in jobs)
    assert m.lost_core_s == pytest.approx(sum(j.cores * j.lost for j in jobs))


def test_scenario_gives_a_share_of_jobs_the_high_tier(tmp_path: Path) -> None:
    from hyperion.sim.scenario import build

    cfg = _config(tmp_path)
    sc = build(["lublin:400:1.5:8"], sites_config=str(cfg), partition_shares={"gpu-priority": 0.3})
    asked = sum(j.req_partition == "gpu-priority" for j in sc.jobs)
    assert 80 < asked < 160
    m = Engine(sc.sites, get_policy("home")).run(sc.jobs)
    assert m.preemptions > 0 and m.lost_core_s > 0
    assert sum(j.partition == "gpu-priority" for j in sc.jobs) == asked
