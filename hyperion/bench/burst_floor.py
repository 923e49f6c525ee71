"""``hyperion bench burst-floor``: how low could any meta-scheduler get the burst's mean wait?

A model, no Slurm: the burst of ``hyperion bench multicluster`` (same generator, same seed) on
the testbed's shape (alpha 4, beta 3, gamma 4 nodes of 2 cores), list-scheduled with no
reservations (every job that fits free cores starts at once: more eager than Slurm's
backfilling), a fixed hand-off gap after each job (Slurm's measured ~0.75 s between a job's end
and the next start) and submissions spaced as the real commands take. Schemes:

- ``per-site (sbatch -M)``: each job bound at submission to the site with the least requested
  work per core (Slurm's estimates use the time limits, so ``sbatch -M`` balances limits), then
  first fit in submission order inside each site;
- ``global <order>``: one queue over all sites (what late binding approximates with no
  reaction delay), in submission order, smallest first, or shortest real work first (an
  oracle: it knows each job's run time, which nobody knows at submission).

It answers whether the issue's 0.8x goal is reachable by placement on this burst at all; the
live figures come from ``hyperion bench multicluster``.
"""

from __future__ import annotations

import argparse
import heapq
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hyperion.bench.burst import BenchJob, generate_workload
from hyperion.cli.common import parse_seeds
from hyperion.errors import HyperionError

#: (site, nodes, cores per node) of the testbed
TESTBED_SHAPE: tuple[tuple[str, int, int], ...] = (("alpha", 4, 2), ("beta", 3, 2), ("gamma", 4, 2))


@dataclass
class _Site:
    name: str
    free: list[int]  # free cores per node

    def take(self, job: BenchJob) -> list[tuple[int, int]] | None:
        """Cores per node for ``job`` if it fits now (best fit on one node, else spread over
        the nodes with most free cores; an explicit 2-node job takes half on each of two)."""
        order = sorted(range(len(self.free)), key=lambda i: -self.free[i])
        if job.nodes == 2:
            half = -(-job.ntasks // 2)
            two = [i for i in order if self.free[i] >= half][:2]
            return [(i, half) for i in two] if len(two) == 2 else None
        one = [i for i in order if self.free[i] >= job.ntasks]
        if one:
            return [(min(one, key=lambda i: self.free[i]), job.ntasks)]
        got, need = [], job.ntasks
        for i in order:
            if need and self.free[i]:
                n = min(need, self.free[i])
                got.append((i, n))
                need -= n
        return got if not need else None


def _run(
    jobs: Sequence[BenchJob],
    submit: dict[int, float],
    queues: dict[str, list[BenchJob]],
    shape: Sequence[tuple[str, int, int]],
    gap_s: float,
) -> list[float]:
    """Event-driven list scheduling; ``queues`` maps a site name (or ``*``: any site) to its
    jobs in priority order. Returns the waits."""
    sites = {name: _Site(name, [cores] * nodes) for name, nodes, cores in shape}
    events: list[tuple[float, int, str, list[tuple[int, int]]]] = []
    waits: list[float] = []
    arrivals = sorted({submit[j.index] for j in jobs})
    t, k = 0.0, 0
    while len(waits) < len(jobs):
        for name, queue in queues.items():
            for job in list(queue):
                if submit[job.index] > t:
                    continue
                targets = list(sites.values()) if name == "*" else [sites[name]]
                for site in targets:
                    alloc = site.take(job)
                    if alloc is not None:
                        for i, n in alloc:
                            site.free[i] -= n
                        queue.remove(job)
                        waits.append(t - submit[job.index])
                        heapq.heappush(
                            events, (t + job.runtime_s + gap_s, job.index, site.name, alloc)
                        )
                        break
        nxt = [events[0][0]] if events else []
        while k < len(arrivals) and arrivals[k] <= t:
            k += 1
        if k < len(arrivals):
            nxt.append(arrivals[k])
        if not nxt:
            break
        t = min(nxt)
        while events and events[0][0] <= t:
            _, _, name, alloc = heapq.heappop(events)
            for i, n in alloc:
                sites[name].free[i] += n
    if len(waits) < len(jobs):
        raise HyperionError(
            f"{len(jobs) - len(waits)} job(s) of the burst fit no node of the model's sites"
        )
    return waits


def _bind_by_limits(
    jobs: Sequence[BenchJob], shape: Sequence[tuple[str, int, int]]
) -> dict[str, list[BenchJob]]:
    """sbatch -M's choice, modelled: the site whose requested work per core is least."""
    cores = {name: nodes * per for name, nodes, per in shape}
    work = dict.fromkeys(cores, 0.0)
    out: dict[str, list[BenchJob]] = {name: [] for name in cores}
    for j in jobs:
        site = min(cores, key=lambda s: (work[s] / cores[s], list(cores).index(s)))
        work[site] += j.ntasks * j.time_limit_s
        out[site].append(j)
    return out


ORDERS: dict[str, Callable[[BenchJob], tuple[float, ...]]] = {
    "submission order": lambda j: (j.index,),
    "smallest first": lambda j: (j.ntasks, j.index),
    "shortest work first (oracle)": lambda j: (j.ntasks * j.runtime_s, j.index),
}


def floor(
    jobs: Sequence[BenchJob],
    *,
    shape: Sequence[tuple[str, int, int]] = TESTBED_SHAPE,
    gap_s: float = 0.75,
    spacing_s: float = 0.09,
) -> dict[str, float]:
    """Mean wait (s) of each scheme (see the module docstring) on ``jobs``."""
    submit = {j.index: i * spacing_s for i, j in enumerate(jobs)}
    out = {
        "per-site (sbatch -M)": statistics.fmean(
            _run(jobs, submit, _bind_by_limits(jobs, shape), shape, gap_s)
        )
    }
    for label, key in ORDERS.items():
        waits = _run(jobs, submit, {"*": sorted(jobs, key=key)}, shape, gap_s)
        out[f"global, {label}"] = statistics.fmean(waits)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=200, help="jobs in the burst (default 200)")
    parser.add_argument(
        "--seeds", default="0,1,2,3,4", help="workload seeds (default 0-4; 0 is the live one)"
    )
    parser.add_argument(
        "--gap", type=float, default=0.75, help="hand-off gap after each job, s (default 0.75)"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base > 0 else "-"


def run(args: argparse.Namespace) -> int:
    seeds = parse_seeds(args.seeds)
    if args.jobs <= 0 or args.gap < 0 or not seeds:
        raise HyperionError("need --jobs > 0, --gap >= 0 and at least one seed")
    rows = {s: floor(generate_workload(args.jobs, s), gap_s=args.gap) for s in seeds}
    if args.json:
        print(json.dumps({str(s): r for s, r in rows.items()}, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    base = "per-site (sbatch -M)"
    table = Table(title=f"burst of {args.jobs} jobs: modelled mean wait, s (x per-site)")
    table.add_column("scheme")
    for s in seeds:
        table.add_column(f"seed {s}", justify="right")
    for scheme in rows[seeds[0]]:
        table.add_row(
            scheme,
            *(f"{rows[s][scheme]:.1f} ({_ratio(rows[s][scheme], rows[s][base])})" for s in seeds),
        )
    Console().print(table)
    return 0
