"""Baseline policies on hand-built candidates (only Candidate / SiteState / JobRequest)."""

from __future__ import annotations

import pytest

from hyperion.errors import HyperionError
from hyperion.placement.heuristics import POLICIES, get_policy, policy_options
from hyperion.placement.policy import Candidate, Policy
from hyperion.types import JobRequest, PartitionState, SiteState

JOB = JobRequest(ntasks=4, time_limit_s=3600)


def part(alloc: int = 0, pending: int = 0, total: int = 64) -> PartitionState:
    return PartitionState(
        name="batch", total_nodes=1, idle_nodes=1, alloc_nodes=0, down_nodes=0,
        total_cpus=total, idle_cpus=total - alloc, alloc_cpus=alloc,
        total_gpus=0, idle_gpus=0, alloc_gpus=0, pending_cpus=pending,
    )  # fmt: skip


def cand(
    site: str,
    *,
    home: bool = False,
    est: float | None = None,
    cost: float | None = None,
    carbon: float | None = None,
    alloc: int = 0,
    pending: int = 0,
    energy: float | None = None,
) -> Candidate:
    state = SiteState(site=site, time=0.0, partitions=(part(alloc, pending),))
    return Candidate(
        site=site,
        state=state,
        partition="batch",
        est_start=est,
        cost=cost,
        carbon_g_per_kwh=carbon,
        est_energy_kwh=energy,
        home=home,
    )


def test_registry_lists_every_baseline() -> None:
    assert list(POLICIES) == [
        "home", "random", "round-robin", "earliest-start",
        "least-loaded", "cheapest", "greenest", "weighted", "carbon-aware",
    ]  # fmt: skip
    for name in POLICIES:
        p = get_policy(name)
        assert isinstance(p, Policy) and p.name == name


def test_unknown_policy_lists_valid_names() -> None:
    with pytest.raises(HyperionError) as ei:
        get_policy("fastest")
    assert "fastest" in str(ei.value) and "earliest-start" in str(ei.value)


def test_unknown_option_lists_valid_options() -> None:
    with pytest.raises(HyperionError, match="no option speed") as ei:
        get_policy("weighted", speed=1)
    assert "wait, cost, carbon" in str(ei.value)
    assert policy_options("random") == ["seed"]
    with pytest.raises(HyperionError, match="weights"):
        get_policy("weighted", wait=-1)


def test_home_prefers_home_and_falls_back_to_first() -> None:
    d = get_policy("home").decide(JOB, [cand("a"), cand("b", home=True)], 0)
    assert d.site == "b" and d.scores == {"a": 1.0, "b": 0.0}
    assert get_policy("home").decide(JOB, [cand("a"), cand("b")], 0).site == "a"


def test_random_is_seeded_and_deterministic() -> None:
    cs = [cand("a"), cand("b"), cand("c")]
    seq1 = [get_policy("random", seed=7).decide(JOB, cs, 0).site for _ in range(1)]
    p1, p2, p3 = (
        get_policy("random", seed=7),
        get_policy("random", seed=7),
        get_policy("random", seed=8),
    )
    a = [p1.decide(JOB, cs, 0).site for _ in range(30)]
    b = [p2.decide(JOB, cs, 0).site for _ in range(30)]
    c = [p3.decide(JOB, cs, 0).site for _ in range(30)]
    assert a == b and a != c and seq1[0] == a[0]
    assert set(a) == {"a", "b", "c"}


def test_round_robin_cycles_by_name_and_skips_missing_sites() -> None:
    p = get_policy("round-robin")
    cs = [cand("b"), cand("a"), cand("c")]
    assert [p.decide(JOB, cs, 0).site for _ in range(4)] == ["a", "b", "c", "a"]
    assert p.decide(JOB, [cand("a"), cand("c")], 0).site == "c"  # b missing: next after a is c


def test_earliest_start_needs_and_uses_estimates() -> None:
    p = get_policy("earliest-start")
    assert p.needs_start_estimate
    d = p.decide(JOB, [cand("a", est=500), cand("b", est=100), cand("c", est=None)], 50)
    assert d.site == "b" and d.scores["b"] == 50 and d.scores["c"] == float("inf")
    # a tie goes to the home site
    assert p.decide(JOB, [cand("a", est=100), cand("b", est=100, home=True)], 0).site == "b"


def test_least_loaded_counts_allocated_and_pending() -> None:
    d = get_policy("least-loaded").decide(
        JOB, [cand("a", alloc=10, pending=50), cand("b", alloc=40)], 0
    )
    assert d.site == "b"
    assert d.scores == {"a": 60 / 64, "b": 40 / 64}


def test_cheapest_and_greenest() -> None:
    cs = [cand("a", cost=5.0, carbon=50.0), cand("b", cost=2.0, carbon=300.0), cand("c")]
    assert get_policy("cheapest").decide(JOB, cs, 0).site == "b"
    assert get_policy("greenest").decide(JOB, cs, 0).site == "a"


def test_weighted_trades_wait_against_carbon() -> None:
    cs = [
        cand("fast-dirty", est=0, cost=1.0, carbon=400.0, energy=1.0),
        cand("slow-clean", est=3600, cost=1.0, carbon=40.0, energy=1.0),
    ]
    assert get_policy("weighted", wait=1, cost=0, carbon=0).decide(JOB, cs, 0).site == "fast-dirty"
    assert get_policy("weighted", wait=0, cost=0, carbon=1).decide(JOB, cs, 0).site == "slow-clean"
    d = get_policy("weighted", wait=1, cost=1, carbon=2).decide(JOB, cs, 0)
    assert d.site == "slow-clean"
    assert d.scores["fast-dirty"] == pytest.approx(0 + 1 + 2 * 1.0)
    assert d.scores["slow-clean"] == pytest.approx(1 + 1 + 2 * 0.1)
    assert not get_policy("weighted", wait=0).needs_start_estimate
