"""``hyperion bench policy``: per-decision latency of a learned policy (``rl:PATH``) on CPU.

Each decision is a full :meth:`~hyperion.placement.policy.Policy.decide`: features from the
candidates (:mod:`hyperion.rl.features`) and the model's forward pass. Candidates are ``--sites``
synthetic sites whose load, queue, start estimate, cost and carbon are drawn anew (seeded) for
every decision. Without ``--model`` an untrained model of the default size is timed (latency does
not depend on the weights' values). Goal (issue #5): p99 <= 1 ms for 10 sites.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from hyperion.errors import HyperionError
from hyperion.placement.policy import Candidate
from hyperion.types import JobRequest, PartitionState, SiteState


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model.hyp to time (default: an untrained model)")
    parser.add_argument("--sites", type=int, default=10, help="candidate sites (default 10)")
    parser.add_argument("--decisions", type=int, default=5000, help="timed decisions")
    parser.add_argument("--warmup", type=int, default=200, help="untimed decisions first")
    parser.add_argument("--json", action="store_true")


def _candidates(rng: random.Random, n: int, now: float) -> list[Candidate]:
    out = []
    for i in range(n):
        total = rng.choice((64, 256, 1024, 4096))
        idle = rng.randrange(total + 1)
        part = PartitionState(
            name="batch",
            total_nodes=total // 64 or 1,
            idle_nodes=idle // 64,
            alloc_nodes=(total - idle) // 64,
            down_nodes=0,
            total_cpus=total,
            idle_cpus=idle,
            alloc_cpus=total - idle,
            total_gpus=0,
            idle_gpus=0,
            alloc_gpus=0,
            pending_jobs=rng.randrange(200),
            pending_cpus=rng.randrange(4 * total),
        )
        carbon = rng.uniform(20, 600)
        out.append(
            Candidate(
                site=f"site{i}",
                state=SiteState(f"site{i}", now, (part,), carbon_g_per_kwh=carbon),
                partition="batch",
                est_start=now + rng.expovariate(1 / 3600),
                cost=rng.uniform(0, 50),
                carbon_g_per_kwh=carbon,
                est_energy_kwh=rng.uniform(0, 20),
                home=i == 0,
            )
        )
    return out


def _untrained(directory: str) -> str:
    from hyperion.rl.artifact import save
    from hyperion.rl.features import JOB_FEATURES, SITE_FEATURES
    from hyperion.rl.model import PlacementModel

    path = str(Path(directory) / "untrained.hyp")
    model = PlacementModel(len(JOB_FEATURES), len(SITE_FEATURES))
    save(path, model, {"objective": {"bsld": 1.0}, "command": "hyperion bench policy"})
    return path


def measure(model: str, sites: int, decisions: int, warmup: int) -> dict[str, float | int | str]:
    """Latency percentiles (microseconds) of ``decisions`` timed decisions."""
    from hyperion.placement.heuristics import get_policy
    from hyperion.sim.metrics import percentile

    policy = get_policy(f"rl:{model}")
    rng = random.Random(0)
    now = 1.7e9
    cases = [
        (
            JobRequest(ntasks=rng.choice((1, 4, 32, 256)), time_limit_s=rng.randrange(60, 86400)),
            _candidates(rng, sites, now + k),
        )
        for k in range(200)
    ]
    times, aside = [], 0
    for k in range(warmup + decisions):
        job, cands = cases[k % len(cases)]
        t = time.perf_counter_ns()
        policy.record(job, now)  # what the daemon does for every job, then it decides
        policy.decide(job, cands, now)
        took = (time.perf_counter_ns() - t) / 1000.0
        if k < warmup:
            continue
        if policy.status() is not None:  # its fallback decided: not the model's time
            aside += 1
        else:
            times.append(took)
    if not times:
        raise HyperionError(
            f"{model}: the model stepped aside for every decision (the benchmark's jobs lie "
            "outside its training range); nothing of its own to time"
        )
    times.sort()
    return {
        "model": model,
        "sites": sites,
        "decisions": len(times),
        "p50_us": percentile(times, 50),
        "p99_us": percentile(times, 99),
        "max_us": times[-1],
        # decisions its fallback heuristic made (the model stepped aside), left out of the times
        "stepped_aside": aside,
    }


def run(args: argparse.Namespace) -> int:
    try:
        import torch
    except ImportError as exc:
        from hyperion.rl.extra import missing_extra

        raise missing_extra(exc, "hyperion bench policy") from None
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or _untrained(tmp)
        result = measure(model, args.sites, args.decisions, args.warmup)
    result["torch"] = torch.__version__
    result["torch_threads"] = torch.get_num_threads()
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"learned policy, {args.sites} candidate sites, {result['decisions']} decisions on CPU "
        f"(torch {torch.__version__}, {torch.get_num_threads()} threads): "
        f"p50 {result['p50_us']:.0f} µs, p99 {result['p99_us']:.0f} µs, "
        f"max {result['max_us']:.0f} µs"
        + ("" if args.model else " (untrained model)")
        + (f"; {aside} by its fallback, untimed" if (aside := result["stepped_aside"]) else "")
    )
    return 0
