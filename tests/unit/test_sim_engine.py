"""The multi-site engine, energy/cost/carbon accounting, carbon CSVs, configs, generator, CLI."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hyperion.cli.main import main
from hyperion.errors import HyperionError
from hyperion.placement.heuristics import get_policy
from hyperion.placement.policy import Candidate, Decision, Policy
from hyperion.sim import (
    CarbonSeries,
    EnergyModel,
    Engine,
    Pool,
    PriceModel,
    SimJob,
    SimSite,
    annotate_gpus,
    assign_homes,
    generate,
    load_sim_sites,
    merge,
    read_carbon_csv,
    read_swf,
    simulate,
    uniform_sites,
    write_swf,
)
from hyperion.sim.carbon import CarbonError
from hyperion.types import JobRequest, SiteState


def J(
    jid: int, submit: float, cores: int, run: float, home: str | None = None, gpus: int = 0
) -> SimJob:
    return SimJob(jid, submit, run, run, cores, gpus, home=home)


# -- multi-site engine -------------------------------------------------------------------------


def test_home_policy_keeps_jobs_home_and_earliest_start_moves_them() -> None:
    jobs = [J(1, 0, 4, 100, "a"), J(2, 1, 4, 100, "a"), J(3, 2, 4, 100, "a")]
    m = simulate(jobs, uniform_sites(["a", "b"], 4), "home")
    assert [j.site for j in jobs] == ["a", "a", "a"]
    assert [j.start for j in jobs] == [0, 100, 200]
    assert m.moved == 0 and m.mean_wait == (0 + 99 + 198) / 3
    m = simulate(jobs, uniform_sites(["a", "b"], 4), "earliest-start")
    assert [j.site for j in jobs] == ["a", "b", "a"]
    assert [j.start for j in jobs] == [0, 1, 100]
    assert m.moved == 1


def test_start_estimate_follows_the_sites_plan() -> None:
    seen: list[dict[str, float | None]] = []

    class Spy(Policy):
        name = "spy"
        needs_start_estimate = True

        def decide(self, job: JobRequest, candidates: list[Candidate], now: float) -> Decision:  # type: ignore[override]
            seen.append({c.site: c.est_start for c in candidates})
            assert all(isinstance(c.state, SiteState) for c in candidates)
            return Decision(
                site=candidates[0].site, partition=candidates[0].partition, reason="spy"
            )

    # site a: 4 cores busy until 100, then a queued 4-core job until 150; b idle but listed second
    jobs = [J(1, 0, 4, 100, "a"), J(2, 1, 4, 50, "a"), J(3, 2, 2, 10, "a")]
    Engine(uniform_sites(["a", "b"], 4), Spy()).run(jobs)
    assert seen[0] == {"a": 0, "b": 0}
    assert seen[1] == {"a": 100, "b": 1}
    assert seen[2] == {"a": 150, "b": 2}  # behind the queued job (conservative plan), not 100


def test_estimates_are_only_computed_when_the_policy_asks() -> None:
    seen: list[float | None] = []

    class NoEst(Policy):
        name = "noest"

        def decide(self, job: JobRequest, candidates: list[Candidate], now: float) -> Decision:  # type: ignore[override]
            seen.extend(c.est_start for c in candidates)
            return Decision(site=candidates[0].site, partition=candidates[0].partition, reason="x")

    Engine(uniform_sites(["a", "b"], 4), NoEst()).run([J(1, 0, 1, 10)])
    assert seen == [None, None]


def test_policy_choosing_a_non_candidate_is_an_error() -> None:
    class Bad(Policy):
        name = "bad"

        def decide(self, job: JobRequest, candidates: list[Candidate], now: float) -> Decision:  # type: ignore[override]
            return Decision(site="nowhere", partition="batch", reason="x")

    with pytest.raises(HyperionError, match="nowhere"):
        Engine(uniform_sites(["a", "b"], 4), Bad()).run([J(1, 0, 1, 10)])


def test_not_before_holds_the_job() -> None:
    class Later(Policy):
        name = "later"

        def decide(self, job: JobRequest, candidates: list[Candidate], now: float) -> Decision:  # type: ignore[override]
            return Decision(
                site="b", partition="batch", reason="wait for wind", not_before=now + 500
            )

    jobs = [J(1, 10, 1, 10, "a")]
    m = Engine(uniform_sites(["a", "b"], 4), Later()).run(jobs)
    assert jobs[0].site == "b" and jobs[0].start == 510 and m.mean_wait == 500


def test_gpu_jobs_only_go_where_gpus_are() -> None:
    cpu = SimSite("cpu", [Pool("batch", 64)])
    gpu = SimSite("gpu", [Pool("cpu", 16), Pool("gpu", 16, 4)])
    jobs = [J(1, 0, 2, 10, "cpu", gpus=1), J(2, 0, 2, 10, "gpu"), J(3, 0, 2, 10, "cpu", gpus=9)]
    m = simulate(jobs, [cpu, gpu], "home")
    assert (jobs[0].site, jobs[0].partition) == ("gpu", "gpu")
    assert (jobs[1].site, jobs[1].partition) == ("gpu", "cpu")  # CPU jobs prefer CPU partitions
    assert m.dropped == 1 and jobs[2].start == -1


def test_runs_are_deterministic_per_seed() -> None:
    base = generate(64, 400, load=0.9, seed=3)
    names = ["a", "b", "c"]

    def run(policy: str, seed: int) -> list[tuple[str | None, float]]:
        jobs = assign_homes(base, names, "user")
        simulate(jobs, uniform_sites(names, 64), policy, seed=seed)
        return [(j.site, j.start) for j in jobs]

    assert run("random", 1) == run("random", 1)
    assert run("random", 1) != run("random", 2)
    assert run("earliest-start", 0) == run("earliest-start", 0)


def test_rerunning_an_engine_gives_the_same_metrics() -> None:
    jobs = assign_homes(generate(32, 200, load=1.2, seed=5), ["a", "b"], "round-robin")
    eng = Engine(uniform_sites(["a", "b"], 32), get_policy("least-loaded"))
    m1, m2 = eng.run(jobs), eng.run(jobs)
    assert (m1.mean_wait, m1.mean_bsld, m1.moved) == (m2.mean_wait, m2.mean_bsld, m2.moved)


# -- energy, cost, carbon -------------------------------------------------------------------------


def test_energy_cost_and_carbon_accounting() -> None:
    hourly = CarbonSeries([100.0, 300.0], name="two-hours")  # 100 g/kWh in hour 0, 300 in hour 1
    site = SimSite(
        "s",
        [Pool("batch", 8, 2, nodes=2)],
        energy=EnergyModel(core_w=10.0, gpu_w=200.0, idle_w_per_node=50.0, pue=1.5),
        prices=PriceModel(core_hour=0.1, gpu_hour=2.0, currency="EUR"),
        carbon=hourly,
    )
    # one job, 4 cores + 1 GPU, from 0.5 h to 1.5 h: half an hour at 100 and half at 300
    jobs = [SimJob(1, 0, 3600, 3600, 4, 1), SimJob(2, 0, 1800, 1800, 1, 0)]
    jobs[0].submit = 0
    m = simulate(jobs, [site], "home")
    assert [j.start for j in jobs] == [0, 0]
    busy_kw_1 = (4 * 10 + 1 * 200) * 1.5 / 1000  # 0.36 kW for 1 h
    busy_kw_2 = 1 * 10 * 1.5 / 1000  # 0.015 kW for 0.5 h
    idle_kw = 2 * 50 * 1.5 / 1000  # 0.15 kW over the 1 h makespan
    assert m.energy_kwh == pytest.approx(busy_kw_1 * 1 + busy_kw_2 * 0.5 + idle_kw * 1)
    carbon_g = busy_kw_1 * 100 + busy_kw_2 * 0.5 * 100 + idle_kw * 100
    assert m.carbon_kg == pytest.approx(carbon_g / 1000)
    assert m.cost == pytest.approx(4 * 0.1 + 1 * 2.0 + 1 * 0.1 * 0.5)
    assert m.sites["s"].currency == "EUR"
    assert m.sites["s"].gpu_utilisation == pytest.approx(3600 / (2 * 3600))


def test_carbon_integral_spans_hours_and_wraps() -> None:
    s = CarbonSeries([100.0, 300.0])
    assert s.at(0) == 100 and s.at(3600) == 300 and s.at(7200) == 100  # wraps
    assert s.integral(1800, 5400) == pytest.approx(0.5 * 100 + 0.5 * 300)
    assert s.integral(0, 4 * 3600) == pytest.approx(800)
    assert s.mean(1800, 5400) == pytest.approx(200)
    shifted = CarbonSeries([100.0, 300.0], offset=3600)
    assert shifted.at(0) == 300


def test_cost_of_cloud_partitions_counts_nodes() -> None:
    site = SimSite(
        "c",
        [Pool("burst", 32, nodes=4)],
        prices=PriceModel(node_hour=1.0),
        cloud=frozenset({"burst"}),
    )
    m = simulate([SimJob(1, 0, 3600, 3600, 9)], [site], "home")  # 9 cores on 8-core nodes: 2 nodes
    assert m.cost == pytest.approx(2.0)


# -- carbon CSV files ------------------------------------------------------------------------


EM_HEADER = (
    "Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),"
    "Carbon Intensity gCO₂eq/kWh (LCA),Low Carbon Percentage,Renewable Percentage\n"
)


def test_reads_electricity_maps_iso_dates(tmp_path: Path) -> None:
    p = tmp_path / "XX_2023_hourly.csv"
    p.write_text(
        EM_HEADER
        + "2023-01-01 00:00:00,X,X,XX,150.5,200,1,1\n2023-01-01 01:00:00,X,X,XX,99,120,1,1\n"
    )
    s = read_carbon_csv(p)
    assert s.values == [150.5, 99.0]  # the direct column, not the LCA one
    assert s.start_epoch == 1672531200


def test_reads_day_first_dates_and_fills_gaps(tmp_path: Path) -> None:
    p = tmp_path / "GB.csv"
    p.write_text(
        EM_HEADER + "01/01/2023 00:00,G,G,GB,70,1,1,1\n01/01/2023 02:00,G,G,GB,50,1,1,1\n"
        "02/01/2023 00:00,G,G,GB,10,1,1,1\n"
    )
    s = read_carbon_csv(p)
    assert s.values[:3] == [70.0, 70.0, 50.0]  # 01:00 missing: carried forward
    assert len(s.values) == 25  # day first: 2 January, not 1 February
    assert s.values[-1] == 10.0


def test_reads_generic_two_column_csv_and_named_column(tmp_path: Path) -> None:
    p = tmp_path / "g.csv"
    p.write_text("time,value\n2023-06-01T00:00:00Z,10\n2023-06-01T01:00:00Z,20\n")
    assert read_carbon_csv(p).values == [10.0, 20.0]
    assert read_carbon_csv(p, column="value").values == [10.0, 20.0]
    with pytest.raises(CarbonError, match="no column"):
        read_carbon_csv(p, column="nope")


def test_carbon_csv_errors(tmp_path: Path) -> None:
    with pytest.raises(CarbonError, match="no such"):
        read_carbon_csv(tmp_path / "missing.csv")
    p = tmp_path / "bad.csv"
    p.write_text("time,value\nyesterday,10\n")
    with pytest.raises(CarbonError, match="line 2"):
        read_carbon_csv(p)
    p.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(CarbonError, match="which column"):
        read_carbon_csv(p)


# -- site configs -------------------------------------------------------------------------------


CONFIG = """\
[sites.campus]
access = { kind = "local" }
prices = { core_hour = 0.02, gpu_hour = 1.5, currency = "EUR" }
[[sites.campus.partitions]]
name = "cpu"
nodes = 4
cores_per_node = 16
mem_per_node = "64G"
default = true
max_time = "1-00:00:00"
[[sites.campus.partitions]]
name = "gpu"
nodes = 2
cores_per_node = 32
mem_per_node = "256G"
gpus_per_node = 4

[sites.cloud]
access = { kind = "local" }
prices = { node_hour = 3.0, currency = "EUR" }
[[sites.cloud.partitions]]
name = "burst"
nodes = 8
cores_per_node = 8
mem_per_node = "32G"
cloud = true"""

SIM_CONFIG = """\
[sim.defaults]
core_w = 12.0
idle_w_per_node = 80

[sim.sites.campus]
carbon_csv = "carbon.csv"
pue = 1.3

[sim.sites.cloud]
carbon_g_per_kwh = 25
backfill = false
"""


def test_sites_from_the_live_config_schema(tmp_path: Path) -> None:
    (tmp_path / "carbon.csv").write_text("time,value\n2023-01-01 00:00:00,300\n")
    cfg = tmp_path / "sites.toml"
    cfg.write_text(CONFIG)
    (tmp_path / "sites.sim.toml").write_text(SIM_CONFIG)  # found beside the config
    campus, cloud = load_sim_sites(cfg)
    assert [(p.name, p.cores, p.gpus, p.max_time) for p in campus.pools] == [
        ("cpu", 64, 0, 86400),
        ("gpu", 64, 8, None),
    ]
    assert campus.energy == EnergyModel(core_w=12.0, gpu_w=300.0, idle_w_per_node=80.0, pue=1.3)
    assert (
        campus.prices.gpu_hour == 1.5 and campus.carbon is not None and campus.carbon.at(0) == 300
    )
    assert cloud.cloud == frozenset({"burst"}) and not cloud.pools[0].backfill
    assert cloud.carbon is not None and cloud.carbon.at(12345) == 25


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[sim.sites.campus]\nwatts = 3\n", "unknown simulator key"),
        ("[sim.sites.nowhere]\npue = 1.0\n", "no such site"),
        ("[sim.defaults]\npue = 'high'\n", "wrong type"),
        ("[power]\npue = 1.0\n", "unknown table"),
    ],
)
def test_bad_sim_tables_are_clear_errors(tmp_path: Path, extra: str, message: str) -> None:
    cfg = tmp_path / "sites.toml"
    cfg.write_text(CONFIG)
    sim = tmp_path / "other.sim.toml"
    sim.write_text(extra)
    with pytest.raises(HyperionError, match=message):
        load_sim_sites(cfg, sim_config=sim)


def test_sites_without_a_simulator_file_use_defaults(tmp_path: Path) -> None:
    cfg = tmp_path / "sites.toml"
    cfg.write_text(CONFIG)
    campus, cloud = load_sim_sites(cfg, backfill=False)
    assert campus.energy == EnergyModel() and campus.carbon is None
    assert not any(p.backfill for p in campus.pools)
    with pytest.raises(HyperionError, match="no such simulator file"):
        load_sim_sites(cfg, sim_config=tmp_path / "missing.sim.toml")


# -- workloads and the generator ---------------------------------------------------------


def test_merge_keeps_homes_and_orders_by_submit() -> None:
    a = [J(1, 0, 1, 10), J(2, 20, 1, 10)]
    b = [J(1, 5, 1, 10)]
    jobs = merge([(a, "x"), (b, "y")])
    assert [(j.home, j.submit) for j in jobs] == [("x", 0), ("y", 5), ("x", 20)]
    assert a[0].home is None  # inputs untouched


def test_assign_homes_by_user() -> None:
    jobs = [SimJob(i, i, 10, 10, 1, user=u) for i, u in enumerate([3, 4, 3, -1])]
    homes = [j.home for j in assign_homes(jobs, ["a", "b"], "user")]
    assert homes == ["b", "a", "b", "b"]  # unknown user 3rd job id 3 -> b
    with pytest.raises(HyperionError, match="valid modes"):
        assign_homes(jobs, ["a"], "nearest")


def test_generator_hits_the_load_and_is_deterministic() -> None:
    a = generate(128, 2000, load=0.7, seed=11)
    b = generate(128, 2000, load=0.7, seed=11)
    c = generate(128, 2000, load=0.7, seed=12)
    assert [(j.submit, j.run, j.cores) for j in a] == [(j.submit, j.run, j.cores) for j in b]
    assert [(j.submit, j.run, j.cores) for j in a] != [(j.submit, j.run, j.cores) for j in c]
    span = max(j.submit for j in a)
    assert sum(j.cores * j.run for j in a) / (128 * span) == pytest.approx(0.7, rel=1e-3)
    assert all(1 <= j.cores <= 128 and j.run >= 1 and j.req == j.run for j in a)
    serial = sum(j.cores == 1 for j in a) / len(a)
    assert 0.15 < serial < 0.35
    pow2 = sum(j.cores & (j.cores - 1) == 0 for j in a) / len(a)
    assert pow2 > 0.7
    assert all(x.submit <= y.submit for x, y in zip(a, a[1:], strict=False))


def test_generator_gpu_share_and_estimates() -> None:
    jobs = generate(64, 1000, seed=1, gpu_share=0.25, estimate_factor=3.0)
    share = sum(j.gpus > 0 for j in jobs) / len(jobs)
    assert 0.2 < share < 0.3
    assert all(j.run <= j.req <= 3 * j.run + 1 for j in jobs)
    with pytest.raises(HyperionError):
        generate(64, 10, load=0)


def test_annotate_gpus_sizes_requests() -> None:
    jobs = annotate_gpus([J(1, 0, 20, 10), J(2, 0, 1, 10)], 1.0, cores_per_gpu=8, max_gpus=2)
    assert [j.gpus for j in jobs] == [2, 1]


def test_generated_swf_round_trips(tmp_path: Path) -> None:
    jobs = generate(32, 50, seed=2)
    p = tmp_path / "gen.swf"
    write_swf(jobs, p, machine_size=32)
    tr = read_swf(p)
    assert tr.max_procs == 32 and tr.req_from_run == 0
    assert [(j.submit, j.run, j.cores) for j in tr.jobs] == [
        (j.submit, j.run, j.cores) for j in jobs
    ]


# -- command line ---------------------------------------------------------------------------------


@pytest.fixture
def swf(tmp_path: Path) -> Path:
    p = tmp_path / "w.swf"
    write_swf(generate(64, 300, load=0.9, seed=4), p, machine_size=64)
    return p


def test_cli_sim_json(swf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--trace", str(swf), "--policy", "home", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["jobs"] == 300 and out["policy"] == "home" and out["dropped"] == 0
    assert out["mean_wait"] >= 0 and "site" in out["sites"]


def test_cli_sim_multi_site_with_carbon(
    swf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for zone, value in (("AA", 400), ("BB", 20)):
        (tmp_path / f"{zone}_2023.csv").write_text(f"time,value\n2023-01-01 00:00:00,{value}\n")
    args = [
        "sim",
        "--trace",
        str(swf),
        "--policy",
        "greenest",
        "--json",
        "--carbon",
        str(tmp_path / "AA_2023.csv"),
        "--carbon",
        str(tmp_path / "BB_2023.csv"),
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["site_names"] == ["AA", "BB"]
    assert out["sites"]["BB"]["jobs"] == 300 and out["carbon_kg"] > 0


def test_cli_sim_table_and_errors(swf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--trace", str(swf), "--policy", "earliest-start"]) == 0
    assert "mean bounded slowdown" in capsys.readouterr().out
    assert main(["sim", "--trace", str(swf), "--policy", "nope"]) == 1
    err = capsys.readouterr().err
    assert "unknown placement policy 'nope'" in err and "Traceback" not in err
    assert main(["sim", "--trace", "/nonexistent.swf"]) == 2
    assert "no such trace file" in capsys.readouterr().err


def test_cli_eval_writes_csv(swf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ev"
    args = [
        "eval",
        "--trace",
        str(swf),
        "--trace",
        "lublin:200:0.8:64",
        "--policies",
        "home,random",
        "--seeds",
        "0,1",
        "--out",
        str(out),
        "--no-plot",
    ]
    assert main(args) == 0
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 2 * 2 * 2
    assert {r["policy"] for r in rows} == {"home", "random"}
    assert "policy evaluation" in capsys.readouterr().out


def test_cli_bench_dispatch(
    swf: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["bench", "sim", "--trace", str(swf), "--repeat", "1", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert [c["case"] for c in res["cases"]][0] == "FCFS+EASY, 1 site"
    assert all(c["jobs"] == 300 for c in res["cases"])
    assert main(["bench", "nope"]) == 1
    assert "valid benchmarks: sim" in capsys.readouterr().err
    monkeypatch.delenv("HYPERION_TRACES", raising=False)
    assert main(["bench", "sim"]) == 1
    assert "HYPERION_TRACES" in capsys.readouterr().err


def test_cli_imports_nothing_heavy() -> None:
    code = (
        "import sys, hyperion.cli.main; "
        "heavy = [m for m in ('numpy', 'matplotlib', 'hyperion.sim') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_cli_policy_options_and_listing(swf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--list-policies"]) == 0
    out = capsys.readouterr().out
    assert "weighted  (options: wait, cost, carbon)" in out and "random  (options: seed)" in out
    args = ["sim", "--trace", str(swf), "--policy", "weighted", "--option", "wait=0", "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["policy"] == "weighted"
    assert main(["sim", "--trace", str(swf), "--policy", "home", "--option", "wait=1"]) == 1
    assert "has no option wait" in capsys.readouterr().err
