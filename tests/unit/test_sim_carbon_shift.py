"""Time shifting, carbon-aware placement, forecasts and the carbon lower bound (issue #6)."""

from __future__ import annotations

import math

import pytest

from hyperion.errors import HyperionError
from hyperion.placement.heuristics import CarbonAwarePolicy, get_policy
from hyperion.placement.policy import Candidate
from hyperion.sim import CarbonSeries, Engine, Pool, SimJob, SimSite, uniform_sites
from hyperion.sim.bound import carbon_lower_bound
from hyperion.sim.forecast import CarbonForecasts
from hyperion.sim.site import EnergyModel
from hyperion.sim.workload import assign_flex
from hyperion.types import JobRequest, PartitionState, SiteState

H = 3600.0
#: 24 hours at 300 g/kWh with a dip to 50 at hour 3 (and 200 at hour 5)
DIP = [300.0] * 24
DIP[3] = 50.0
DIP[5] = 200.0


def part(total: int = 64) -> PartitionState:
    return PartitionState(
        name="batch", total_nodes=1, idle_nodes=1, alloc_nodes=0, down_nodes=0,
        total_cpus=total, idle_cpus=total, alloc_cpus=0, total_gpus=0, idle_gpus=0, alloc_gpus=0,
    )  # fmt: skip


def cand(site: str, values: list[float], *, est: float = 0.0, home: bool = False) -> Candidate:
    fc = tuple((h * H, v) for h, v in enumerate(values))
    return Candidate(
        site=site,
        state=SiteState(site=site, time=0.0, partitions=(part(),)),
        partition="batch",
        est_start=est,
        carbon_g_per_kwh=values[0],
        home=home,
        carbon_forecast=fc,
    )


def job(run: float = H, flex: float | None = None, deadline: float | None = None) -> JobRequest:
    return JobRequest(ntasks=4, time_limit_s=int(run), carbon_flex_s=flex, deadline=deadline)


# -- the policy on hand-built candidates -----------------------------------------------------------


def test_flexible_job_waits_for_the_dip() -> None:
    d = get_policy("carbon-aware").decide(job(flex=6 * H), [cand("a", DIP)], 0.0)
    assert d.site == "a" and d.not_before == 3 * H
    assert "held 3.0 h" in d.reason


def test_job_without_flexibility_is_never_delayed() -> None:
    p = get_policy("carbon-aware")
    for j in (job(), job(flex=0), JobRequest(ntasks=4)):
        assert p.decide(j, [cand("a", DIP)], 0.0).not_before is None


def test_flexibility_bounds_the_shift() -> None:
    p = get_policy("carbon-aware")
    # 2 h of flexibility: the dip at hour 3 is out of reach; hours 0..2 are all 300: no hold
    assert p.decide(job(flex=2 * H), [cand("a", DIP)], 0.0).not_before is None
    # a deadline that leaves a latest start of 5 h: not the dip at 3 h only if it ends too late
    d = p.decide(job(deadline=6 * H), [cand("a", DIP)], 0.0)  # latest start 5 h: dip reachable
    assert d.not_before == 3 * H
    d = p.decide(job(deadline=3.5 * H), [cand("a", DIP)], 0.0)  # latest start 2.5 h
    assert d.not_before is None
    # the deadline wins over a longer flex
    d = p.decide(job(flex=10 * H, deadline=3.5 * H), [cand("a", DIP)], 0.0)
    assert d.not_before is None


def test_shift_needs_a_gain_worth_the_hold() -> None:
    flat = [300.0] * 24
    flat[2] = 290.0  # 10 g/kWh greener: below min_gain_g (25)
    assert (
        get_policy("carbon-aware").decide(job(flex=6 * H), [cand("a", flat)], 0.0).not_before
        is None
    )
    p = get_policy("carbon-aware", min_gain_g=0, min_gain=0.01)
    assert p.decide(job(flex=6 * H), [cand("a", flat)], 0.0).not_before == 2 * H


def test_shift_across_sites_prefers_a_green_site_now_over_a_dip_later() -> None:
    d = get_policy("carbon-aware").decide(
        job(flex=6 * H), [cand("dirty", DIP), cand("clean", [30.0] * 24)], 0.0
    )
    assert d.site == "clean" and d.not_before is None


def test_held_jobs_spread_over_hours_instead_of_piling_into_one_dip() -> None:
    p = get_policy("carbon-aware", book_cap=0.1)  # 6.4 of 64 cores per hour
    c = [cand("a", [300.0, 300.0, 100.0, 120.0] + [300.0] * 20)]
    first = p.decide(job(flex=6 * H), c, 0.0)
    second = p.decide(job(flex=6 * H), c, 0.0)
    assert first.not_before == 2 * H and second.not_before == 3 * H


def test_carbon_aware_picks_the_greener_of_two_idle_sites() -> None:
    cs = [cand("dirty", [400.0] * 24, home=True), cand("clean", [40.0] * 24)]
    d = get_policy("carbon-aware").decide(job(), cs, 0.0)
    assert d.site == "clean" and d.not_before is None


def test_carbon_aware_does_not_wait_much_longer_for_green_power() -> None:
    p = get_policy("carbon-aware", slack=1.0)
    # one-hour job: the clean site starts 5 h later (beyond 1x its length)
    cs = [cand("dirty", [400.0] * 24), cand("clean", [40.0] * 24, est=5 * H)]
    assert p.decide(job(), cs, 0.0).site == "dirty"
    # within the slack (30 min later) the clean site wins
    cs = [cand("dirty", [400.0] * 24), cand("clean", [40.0] * 24, est=0.5 * H)]
    assert p.decide(job(), cs, 0.0).site == "clean"


def test_carbon_aware_judges_the_run_not_the_current_hour() -> None:
    # a 4-hour job: site a is green now and dirty afterwards, site b the other way round
    a = [50.0] + [500.0] * 23
    b = [150.0] + [100.0] * 23
    assert (
        get_policy("carbon-aware").decide(job(run=4 * H), [cand("a", a), cand("b", b)], 0).site
        == "b"
    )
    assert (
        get_policy("greenest").decide(job(run=4 * H), [cand("a", a), cand("b", b)], 0).site == "a"
    )


def test_greenest_with_slack_and_bad_options() -> None:
    cs = [cand("dirty", [400.0]), cand("clean", [40.0], est=10 * H)]
    assert get_policy("greenest").decide(job(), cs, 0.0).site == "clean"
    assert get_policy("greenest", slack=2).decide(job(), cs, 0.0).site == "dirty"
    assert get_policy("greenest", slack=2).needs_start_estimate
    with pytest.raises(HyperionError, match="slack"):
        get_policy("greenest", slack=-1)
    with pytest.raises(HyperionError, match="min_gain"):
        get_policy("carbon-aware", min_gain=1.5)


def test_weighted_wait_term_is_the_slowdown_it_adds() -> None:
    cs = [cand("dirty", [400.0], est=0.0), cand("clean", [40.0], est=2 * H)]
    p = get_policy("weighted")
    # a 10-minute job: 2 h of wait is 12x its length; a 10-hour job: 0.2x
    assert p.decide(job(run=600), cs, 0.0).site == "dirty"
    assert p.decide(job(run=10 * H), cs, 0.0).site == "clean"


def test_without_forecast_nothing_is_held() -> None:
    c = cand("a", DIP)
    bare = Candidate(site="a", state=c.state, partition="batch", est_start=0.0,
                     carbon_g_per_kwh=300.0)  # fmt: skip
    assert get_policy("carbon-aware").decide(job(flex=6 * H), [bare], 0.0).not_before is None


# -- forecasts -------------------------------------------------------------------------------------


def test_forecasters_use_only_the_past() -> None:
    periodic = CarbonSeries([float(i % 24) for i in range(24 * 4)])
    now = 3 * 24 * H + 0.5 * H  # day 3, hour 0: three whole days of history
    pts = CarbonForecasts("daily-profile:3", horizon_h=26).points(periodic, now)
    assert [v for _, v in pts] == [float(h % 24) for h in range(27)]
    pers = CarbonForecasts("persistence", horizon_h=3).points(periodic, now)
    assert [v for _, v in pers] == [0.0, 23.0, 23.0, 23.0]  # now known; then the last ended hour
    values = DIP * 3
    series = CarbonSeries(values)
    now = 24 * H + 0.5 * H  # day 2, hour 0
    prof = CarbonForecasts().points(series, now)
    assert prof[0] == (24 * H, 300.0) and len(prof) == 49
    oracle = CarbonForecasts("oracle", horizon_h=5).points(series, now)
    assert [v for _, v in oracle] == [300.0, 300.0, 300.0, 50.0, 300.0, 200.0]
    # changing the future does not change the profile forecast
    values2 = DIP * 2 + [999.0] * 24
    assert CarbonForecasts().points(CarbonSeries(values2), now) == prof
    # the history does not wrap around to the end of the series (the future)
    start = CarbonForecasts(horizon_h=3).points(CarbonSeries([1.0] + [999.0] * 47), 0)
    assert [v for _, v in start] == [1.0] * 4
    with pytest.raises(HyperionError, match="unknown carbon forecast"):
        CarbonForecasts("crystal-ball")


# -- the engine ------------------------------------------------------------------------------------


def one_site(values: list[float]) -> list[SimSite]:
    return [SimSite("a", [Pool("batch", 8)], carbon=CarbonSeries(values))]


def test_engine_holds_a_flexible_job_until_the_dip() -> None:
    jobs = [SimJob(1, 0.0, H, H, 4, flex=6 * H), SimJob(2, 0.0, H, H, 4)]
    m = Engine(one_site(DIP), get_policy("carbon-aware"), forecast="oracle").run(jobs)
    assert jobs[0].start == 3 * H and jobs[1].start == 0.0
    assert m.held == 1 and m.flexible == 1 and m.late == 0
    assert m.carbon_kg == pytest.approx(4 * 10 * (50 + 300) / 1e6)
    assert m.mean_bsld_rigid == 1.0


def test_engine_respects_a_deadline_and_counts_late_jobs() -> None:
    jobs = [SimJob(1, 0.0, H, H, 4, deadline=3.5 * H)]
    Engine(one_site(DIP), get_policy("carbon-aware"), forecast="oracle").run(jobs)
    assert jobs[0].start == 0.0 and jobs[0].end <= 3.5 * H
    late = SimJob(2, 0.0, 2 * H, 2 * H, 8, flex=H)
    blocker = SimJob(1, 0.0, 4 * H, 4 * H, 8)
    m = Engine(one_site(DIP), get_policy("earliest-start")).run([blocker, late])
    assert late.start == 4 * H and m.late == 1 and m.held == 0


def test_engine_fills_forecasts_only_for_policies_that_read_them() -> None:
    sites = uniform_sites(["a", "b"], 8, carbon={"a": CarbonSeries(DIP), "b": CarbonSeries(DIP)})
    e = Engine(sites, get_policy("earliest-start"))
    j = SimJob(1, 0.0, H, H, 1)
    opts = e._candidates(j, 0.0)
    assert all(c.carbon_forecast is None for c in e.candidates(j, opts, 0.0, estimate=False))
    e2 = Engine(sites, get_policy("carbon-aware"), forecast="oracle")
    fc = e2.candidates(j, opts, 0.0, estimate=True)[0].carbon_forecast
    assert fc is not None and fc[3] == (3 * H, 50.0)


def test_assign_flex_is_seeded() -> None:
    jobs = [SimJob(i, float(i), 60.0, 60.0, 1) for i in range(1000)]
    a = assign_flex(jobs, 0.5, 6 * H, seed=3)
    b = assign_flex(jobs, 0.5, 6 * H, seed=3)
    c = assign_flex(jobs, 0.5, 6 * H, seed=4)
    flags = [j.flex > 0 for j in a]
    assert flags == [j.flex > 0 for j in b] != [j.flex > 0 for j in c]
    assert 400 < sum(flags) < 600 and all(j.flex in (0.0, 6 * H) for j in a)
    assert all(j.flex == 0 for j in jobs)  # the input is untouched
    with pytest.raises(HyperionError, match="share"):
        assign_flex(jobs, 1.5, H)


# -- the lower bound -------------------------------------------------------------------------------


def test_lower_bound_fills_the_cheapest_site_hours_first() -> None:
    e = EnergyModel(core_w=10.0)
    sites = [
        SimSite("green", [Pool("batch", 2)], energy=e, carbon=CarbonSeries([100.0, 10.0])),
        SimSite("dirty", [Pool("batch", 2)], energy=e, carbon=CarbonSeries([500.0, 200.0])),
    ]
    # 5 core-hours of work in 2 hours: green hour 1 (2 core-h at 10), green hour 0 (2 at 100),
    # dirty hour 1 (1 at 200) -> 10 W x (2*10 + 2*100 + 1*200) g/kWh x h = 4.2 g
    jobs = [SimJob(1, 0.0, 5 * H, 5 * H, 1)]
    lb = carbon_lower_bound(jobs, sites, 0.0, 2 * H)
    assert lb.carbon_kg == pytest.approx(10 * (2 * 10 + 2 * 100 + 200) / 1e6)
    assert lb.energy_kwh == pytest.approx(0.05) and lb.mean_g_per_kwh == pytest.approx(84.0)
    with pytest.raises(HyperionError, match="does not fit"):
        carbon_lower_bound([SimJob(1, 0.0, 9 * H, 9 * H, 1)], sites, 0.0, 2 * H)
    with pytest.raises(HyperionError, match="no carbon series"):
        carbon_lower_bound(jobs, [SimSite("x", [Pool("batch", 2)])], 0.0, H)


def test_lower_bound_is_below_every_policy() -> None:
    from hyperion.sim.lublin import generate

    series = {n: CarbonSeries([(50 + 37 * i * (k + 1)) % 400 + 5.0 for i in range(48)])
              for k, n in enumerate(["a", "b", "c"])}  # fmt: skip
    sites = uniform_sites(["a", "b", "c"], 32, carbon=series)
    jobs = generate(32, 400, load=0.9, seed=2)
    ends, carbons = [], []
    for name in ("earliest-start", "greenest", "carbon-aware", "round-robin"):
        m = Engine(sites, get_policy(name)).run(jobs)
        carbons.append(m.carbon_kg)
        ends.append(max(j.end for j in jobs))
    lb = carbon_lower_bound(jobs, sites, 0.0, max(ends))
    assert 0 < lb.carbon_kg <= min(carbons) and math.isfinite(lb.mean_g_per_kwh)


def test_policy_is_registered_with_its_options() -> None:
    p = get_policy("carbon-aware", slack=1, shift=False)
    assert isinstance(p, CarbonAwarePolicy) and p.needs_forecast and not p.shift
    assert p.decide(job(flex=6 * H), [cand("a", DIP)], 0.0).not_before is None


def test_live_carbon_forecasters_plug_in() -> None:
    pytest.importorskip("hyperion.carbon.forecast")
    series = CarbonSeries([float(i % 24) for i in range(24 * 10)])
    pts = CarbonForecasts("daily-profile:3", horizon_h=5).points(series, 5 * 86400 + 3 * H + 10)
    assert [v for _, v in pts] == [3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    assert CarbonForecasts("daily-profile:3", horizon_h=2).points(series, 10.0)[1][1] == 0.0


def test_forecasts_past_the_end_of_a_wrapping_series() -> None:
    # a simulation longer than its series wraps around; the forecast must keep working
    short = CarbonSeries([float(h % 24) for h in range(48)])
    pts = CarbonForecasts("daily-profile:1", horizon_h=5).points(short, (48 + 30) * H)
    assert [v for _, v in pts] == [6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
    one = CarbonSeries([42.0])  # a constant site
    assert {v for _, v in CarbonForecasts(horizon_h=3).points(one, 10 * H)} == {42.0}
