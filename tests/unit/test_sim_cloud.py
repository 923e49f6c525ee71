"""Cloud burst partitions: capacity cap, boot delay, idle power-down, node-hour price, energy."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperion.placement.heuristics import get_policy
from hyperion.sim import (
    CloudPool,
    EnergyModel,
    Engine,
    Pool,
    PriceModel,
    SimJob,
    SimSite,
    load_sim_sites,
)


def J(jid: int, submit: float, cores: int, run: float, gpus: int = 0) -> SimJob:
    return SimJob(jid, submit, run, run, cores, gpus)


def run_on(pool: Pool, jobs: list[SimJob], **site: object):  # type: ignore[no-untyped-def]
    s = SimSite("c", [pool], **site)  # type: ignore[arg-type]
    return Engine([s], get_policy("home")).run(jobs)


def test_boot_delay_warm_reuse_and_idle_power_down() -> None:
    cp = CloudPool("burst", 2, 4, boot_time=30, idle_poweroff=100)
    jobs = [J(1, 0, 4, 100), J(2, 140, 4, 50), J(3, 400, 4, 100)]
    m = run_on(
        cp,
        jobs,
        prices=PriceModel(node_hour=3.6),  # 0.001 per node-second
        energy=EnergyModel(core_w=10.0, idle_w_per_node=100.0),
    )
    # 1 boots a node (starts at 30); 2 finds it warm (idle since 130, 10 s < 100 s);
    # that node powers down at 190 + 100 = 290, so 3 boots again at 400
    assert [(j.start, j.end) for j in jobs] == [(30, 130), (140, 190), (430, 530)]
    assert [j.wait for j in jobs] == [30, 0, 30]
    assert cp.boots == 2
    # powered up [0, 290] and [400, 630]: the idle tail after the last job is paid for too
    assert cp.powered_intervals(530) == [(0, 290), (400, 630)]
    assert m.cloud_node_h == pytest.approx(520 / 3600)
    assert m.cost == pytest.approx(0.52)
    # idle draw only while powered up (520 node-s x 100 W) plus 4 busy cores x 10 W x 250 s
    assert m.energy_kwh == pytest.approx((520 * 100 + 40 * 250) / 3.6e6)
    # the nodes are held from allocation, boot included: 4 x (130 + 50 + 130) core-seconds
    assert m.utilisation == pytest.approx(4 * 310 / (8 * 530))


def test_capacity_cap_queues_jobs_until_a_node_frees() -> None:
    cp = CloudPool("burst", 2, 4, boot_time=30, idle_poweroff=600)
    jobs = [J(1, 0, 4, 100), J(2, 0, 4, 100), J(3, 0, 4, 100)]
    run_on(cp, jobs)
    # two nodes boot at once; the third job gets the first node freed, warm, at 130
    assert [j.start for j in jobs] == [30, 30, 130]
    assert cp.boots == 2


def test_jobs_get_whole_cloud_nodes() -> None:
    jobs = [J(1, 0, 5, 100), J(2, 1, 1, 10)]  # 5 cores on 4-core nodes: both nodes
    run_on(CloudPool("burst", 2, 4), jobs)
    assert [j.start for j in jobs] == [0, 100]
    jobs = [J(1, 0, 5, 100), J(2, 1, 1, 10)]
    run_on(Pool("plain", 8, nodes=2), jobs)  # pooled cores: 3 are still free
    assert [j.start for j in jobs] == [0, 1]
    cp = CloudPool("burst", 2, 4, 1)
    assert cp.nodes_for(J(0, 0, 1, 1, gpus=2)) == 2  # one GPU per node
    assert not cp.can_run(J(0, 0, 9, 1)) and not cp.can_run(J(0, 0, 1, 1, gpus=3))


def test_powered_down_nodes_cost_and_draw_nothing() -> None:
    cloud = CloudPool("burst", 8, 4, boot_time=60, idle_poweroff=300)
    site = SimSite(
        "s",
        [Pool("batch", 4, nodes=1), cloud],
        prices=PriceModel(core_hour=0.0, node_hour=100.0),
        energy=EnergyModel(core_w=0.0, idle_w_per_node=1000.0),
    )
    m = Engine([site], get_policy("home")).run([J(1, 0, 4, 3600)])  # fits batch
    assert cloud.boots == 0 and m.cloud_node_h == 0 and m.cost == 0
    assert m.energy_kwh == pytest.approx(1.0)  # the one batch node, 1 kW for the hour
    st0 = site.state(0.0).partition("burst")
    assert st0 is not None
    assert (st0.cloud_nodes_powered_up, st0.cloud_nodes_powered_down) == (0, 8)


def test_snapshot_follows_boot_and_power_down() -> None:
    cp = CloudPool("burst", 4, 2, boot_time=10, idle_poweroff=50)
    site = SimSite("s", [cp])
    job = J(1, 0, 3, 100)  # two nodes
    cp.submit(job, 0.0)
    assert (job.start, job.end) == (10, 110)
    ps = site.state(5.0).partition("burst")
    assert ps is not None and ps.cloud_nodes_powered_up == 2 and ps.idle_nodes == 2
    cp.finish(job)
    ps = site.state(159.0).partition("burst")
    assert ps is not None and ps.cloud_nodes_powered_up == 2  # idle, still up
    ps = site.state(160.0).partition("burst")
    assert ps is not None and (ps.cloud_nodes_powered_up, ps.cloud_nodes_powered_down) == (0, 4)


def test_start_estimate_adds_the_boot_time_for_cold_nodes() -> None:
    cp = CloudPool("burst", 2, 4, boot_time=45, idle_poweroff=100)
    assert cp.estimate_start(J(1, 0, 4, 10), 0.0) == 45
    first = J(1, 0, 4, 10)
    cp.submit(first, 0.0)
    cp.finish(first)  # ends at 55: its node is warm until 155
    assert cp.estimate_start(J(2, 60, 4, 10), 60.0) == 60
    assert cp.estimate_start(J(3, 60, 8, 10), 60.0) == 105  # needs a cold node as well
    assert cp.estimate_start(J(4, 200, 4, 10), 200.0) == 245  # powered down again


def test_nodes_that_never_power_down_are_paid_until_the_end() -> None:
    cp = CloudPool("burst", 1, 4, boot_time=10, idle_poweroff=None)
    jobs = [J(1, 0, 4, 100), J(2, 500, 4, 100)]
    m = run_on(cp, jobs, prices=PriceModel(node_hour=36.0))
    assert [j.start for j in jobs] == [10, 500]  # still warm at 500
    assert m.cloud_node_h == pytest.approx(600 / 3600) and m.cost == pytest.approx(6.0)


def test_cloud_partition_from_the_live_site_config(tmp_path: Path) -> None:
    cfg = tmp_path / "sites.toml"
    cfg.write_text(
        '[sites.aws]\naccess = { kind = "local" }\nprices = { node_hour = 3.0 }\n'
        '[[sites.aws.partitions]]\nname = "burst"\nnodes = 3\ncores_per_node = 8\n'
        'mem_per_node = "32G"\ncloud = true\nboot_time = "2:00"\nidle_poweroff = 600\n'
    )
    (site,) = load_sim_sites(cfg)
    (cp,) = site.pools
    assert isinstance(cp, CloudPool)
    assert (cp.nodes, cp.cores, cp.boot_time, cp.idle_poweroff) == (3, 24, 120, 600)
    m = Engine([site], get_policy("home")).run([J(1, 0, 8, 3600)])
    # powered up from 0 to 120 (boot) + 3600 (run) + 600 (idle): 1.2 node-hours at 3.0
    assert m.cost == pytest.approx(3.6)
    assert m.sites["aws"].cloud_node_h == pytest.approx(1.2)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 500), st.integers(1, 8), st.integers(1, 200)),
        min_size=1,
        max_size=20,
    ),
    st.integers(0, 60),
    st.one_of(st.none(), st.integers(0, 120)),
)
def test_cloud_accounting_is_consistent(
    spec: list[tuple[int, int, int]], boot: int, off: int | None
) -> None:
    cp = CloudPool("burst", 3, 4, boot_time=boot, idle_poweroff=off)
    jobs = [J(i, s, c, r) for i, (s, c, r) in enumerate(spec)]
    m = run_on(cp, jobs, prices=PriceModel(node_hour=3600.0))
    assert all(j.start >= j.submit and j.end == j.start + j.run for j in jobs)
    last = max(j.end for j in jobs)
    powered = sum(b - a for a, b in cp.powered_intervals(last))
    busy = sum(cp.nodes_for(j) * j.run for j in jobs)
    assert powered >= busy + cp.boots * boot - 1e-6
    assert m.cost == pytest.approx(powered)  # 1 per node-second
    assert cp.on <= cp.nodes and all(b >= a for a, b in cp.powered_intervals(last))


def test_cli_reports_cloud_node_hours(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from hyperion.cli.main import main
    from hyperion.sim import generate, write_swf

    swf = tmp_path / "w.swf"
    write_swf(generate(16, 200, load=1.5, seed=2), swf, machine_size=16)
    cfg = tmp_path / "sites.toml"
    cfg.write_text(
        '[sites.campus]\naccess = { kind = "local" }\n[[sites.campus.partitions]]\n'
        'name = "batch"\nnodes = 2\ncores_per_node = 8\nmem_per_node = 1000\n'
        '[sites.aws]\naccess = { kind = "local" }\nprices = { node_hour = 2.0 }\n'
        '[[sites.aws.partitions]]\nname = "burst"\nnodes = 4\ncores_per_node = 8\n'
        "mem_per_node = 1000\ncloud = true\nboot_time = 120\nidle_poweroff = 300\n"
    )
    args = ["sim", "--trace", f"{swf}@campus", "--sites", str(cfg), "--policy", "earliest-start"]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    aws = out["sites"]["aws"]
    assert aws["jobs"] > 0 and aws["cloud_node_h"] > 0
    assert aws["cost"] == pytest.approx(2.0 * aws["cloud_node_h"])
    assert main(args) == 0
    assert "cloud node-hours powered up" in capsys.readouterr().out
