"""The trace-driven multi-site simulator (see docs/simulator.md).

    from hyperion.sim import read_swf, simulate, uniform_sites
    trace = read_swf("lublin_256.swf")
    metrics = simulate(trace.jobs, uniform_sites(["a"], trace.machine_size), "home")

Pure Python (no numpy), deterministic for a given seed.
"""

from __future__ import annotations

from collections.abc import Sequence

from hyperion.placement.heuristics import POLICIES, get_policy, policy_options
from hyperion.placement.policy import Policy
from hyperion.sim.carbon import CarbonSeries, read_carbon_csv
from hyperion.sim.cloud import CloudPool
from hyperion.sim.config import load_sim_sites, uniform_sites
from hyperion.sim.engine import Engine
from hyperion.sim.job import SimJob
from hyperion.sim.lublin import generate, write_swf
from hyperion.sim.metrics import Metrics, SiteMetrics
from hyperion.sim.nodepool import NodePool
from hyperion.sim.pool import Pool
from hyperion.sim.preempt import Member, SharedPool
from hyperion.sim.site import EnergyModel, PriceModel, SimSite
from hyperion.sim.swf import SwfTrace, TraceError, parse_swf, read_swf
from hyperion.sim.workload import (
    annotate_gpus,
    assign_flex,
    assign_homes,
    assign_partitions,
    assign_priorities,
    merge,
    scale_time,
)


def simulate(
    jobs: Sequence[SimJob],
    sites: Sequence[SimSite],
    policy: Policy | str = "home",
    *,
    seed: int = 0,
    **options: object,
) -> Metrics:
    """Run ``jobs`` on ``sites`` under ``policy`` (an object, or a name for :func:`get_policy`;
    ``seed`` goes to the policies that take one)."""
    if isinstance(policy, str):
        if policy in POLICIES and "seed" in policy_options(policy):
            options.setdefault("seed", seed)
        pol = get_policy(policy, **options)
    else:
        pol = policy
    return Engine(sites, pol).run(jobs)


__all__ = [
    "CarbonSeries",
    "CloudPool",
    "EnergyModel",
    "Engine",
    "Member",
    "Metrics",
    "NodePool",
    "Pool",
    "PriceModel",
    "SimJob",
    "SharedPool",
    "SimSite",
    "SiteMetrics",
    "SwfTrace",
    "TraceError",
    "annotate_gpus",
    "assign_flex",
    "assign_homes",
    "assign_partitions",
    "assign_priorities",
    "generate",
    "load_sim_sites",
    "merge",
    "parse_swf",
    "read_carbon_csv",
    "read_swf",
    "scale_time",
    "simulate",
    "uniform_sites",
    "write_swf",
]
