"""A lower bound on a workload's carbon: all its energy at the lowest intensity capacity allows.

The bound is *fluid*: the workload's busy core-seconds (and GPU-seconds) may run in any site and
hour of the window ``[t0, t1]``, split arbitrarily, ignoring submit times, job shapes and
queueing. Every site-hour offers ``cores x seconds of that hour inside the window`` core-seconds
at ``intensity x core_w x pue``; the cheapest site-hours are filled first until the work is
placed (GPU-seconds the same way with ``gpu_w``). Idle power (``idle_w_per_node`` of every node
of a plain partition over the window) is the same for every placement and is added as is. No
schedule can emit less in that window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from hyperion.errors import HyperionError
from hyperion.sim.carbon import HOUR
from hyperion.sim.cloud import CloudPool
from hyperion.sim.job import SimJob
from hyperion.sim.site import SimSite


@dataclass(frozen=True)
class LowerBound:
    """The bound (kg CO2eq), the energy it places (kWh) and the mean intensity it reaches."""

    carbon_kg: float
    energy_kwh: float
    mean_g_per_kwh: float
    t0: float
    t1: float


def _fill(work_s: float, slots: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """Fill ``work_s`` unit-seconds into ``(g per unit-second, capacity, watts per unit)`` slots,
    cheapest first; returns (grams, watt-seconds, unit-seconds that did not fit)."""
    grams = joules = 0.0
    left = work_s
    for cost, cap, watts in sorted(slots):
        if left <= 0:
            break
        take = min(cap, left)
        grams += take * cost
        joules += take * watts
        left -= take
    return grams, joules, max(left, 0.0)


def carbon_lower_bound(
    jobs: Sequence[SimJob], sites: Sequence[SimSite], t0: float, t1: float
) -> LowerBound:
    """The fluid lower bound (module docstring) of ``jobs`` on ``sites`` over ``[t0, t1]``."""
    if t1 <= t0:
        raise HyperionError(f"carbon lower bound: empty window [{t0}, {t1}]")
    missing = [s.name for s in sites if s.carbon is None]
    if missing:
        raise HyperionError(
            f"carbon lower bound: site(s) {', '.join(missing)} have no carbon series",
            hint="give every site a carbon_csv or carbon_g_per_kwh",
        )
    core_s = math.fsum(j.cores * j.run for j in jobs)
    gpu_s = math.fsum(j.gpus * j.run for j in jobs)
    core_slots: list[tuple[float, float, float]] = []
    gpu_slots: list[tuple[float, float, float]] = []
    idle_g = 0.0
    for s in sites:
        series = s.carbon
        if series is None:
            continue
        e = s.energy
        k = math.floor((t0 + series.offset) / HOUR)
        while True:
            a = max(k * HOUR - series.offset, t0)
            b = min((k + 1) * HOUR - series.offset, t1)
            if a >= t1:
                break
            g = series.at(a) / 3.6e6  # grams per watt-second
            if b > a:
                cw, gw = e.core_w * e.pue, e.gpu_w * e.pue
                core_slots.append((g * cw, s.cores * (b - a), cw))
                if s.gpus:
                    gpu_slots.append((g * gw, s.gpus * (b - a), gw))
            k += 1
        plain = sum(p.nodes for p in s.pools if not isinstance(p, CloudPool))
        idle_g += e.idle_w_per_node * e.pue * plain * series.integral(t0, t1) / 1000.0
    grams_c, ws_c, left_c = _fill(core_s, core_slots)
    grams_g, ws_g, left_g = _fill(gpu_s, gpu_slots)
    if left_c > 0 or left_g > 0:
        raise HyperionError(
            f"carbon lower bound: the workload does not fit the sites' capacity in [{t0:.0f}, "
            f"{t1:.0f}] s",
            hint="widen the window (t1: the latest end of the runs compared)",
        )
    energy_kwh = (ws_c + ws_g) / 3.6e6
    return LowerBound(
        carbon_kg=(grams_c + grams_g + idle_g) / 1000.0,
        energy_kwh=energy_kwh,
        mean_g_per_kwh=(grams_c + grams_g) / energy_kwh if energy_kwh > 0 else math.nan,
        t0=t0,
        t1=t1,
    )
