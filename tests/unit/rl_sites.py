"""Small site configs and hand-built workloads for the learned-policy tests."""

from __future__ import annotations

from pathlib import Path

import torch

from hyperion.sim.job import SimJob
from hyperion.sim.lublin import write_swf


def write_sites(
    directory: Path,
    cores: list[int],
    *,
    core_hour: list[float] | None = None,
    carbon: list[float] | None = None,
) -> str:
    """A site-config TOML with one single-node partition per site, named a, b, c, ..."""
    lines, sim = [], []
    for i, n in enumerate(cores):
        name = "abcdefghij"[i]
        price = core_hour[i] if core_hour else 0.0
        lines += [
            f"[sites.{name}]",
            'access = { kind = "local" }',
            f'prices = {{ currency = "EUR", core_hour = {price} }}',
            f"[[sites.{name}.partitions]]",
            'name = "batch"',
            "nodes = 1",
            f"cores_per_node = {n}",
            "mem_per_node = 64000",
        ]
        if carbon:
            sim += [f"[sim.sites.{name}]", f"carbon_g_per_kwh = {carbon[i]}"]
    path = directory / "sites.toml"
    path.write_text("\n".join(lines) + "\n")
    if sim:
        (directory / "sites.sim.toml").write_text("\n".join(sim) + "\n")
    return str(path)


def write_jobs(directory: Path, jobs: list[tuple[float, float, int]], size: int) -> str:
    """An SWF file of (submit, run, cores) jobs with exact requested times."""
    path = directory / "jobs.swf"
    sim_jobs = [SimJob(i + 1, s, r, r, c, user=1) for i, (s, r, c) in enumerate(jobs)]
    write_swf(sim_jobs, path, machine_size=size)
    return str(path)


def tiny_model(path: Path, bounds: object = None) -> None:
    """An untrained 8-unit model at ``path``; ``bounds`` is its recorded ``job_range``."""
    from hyperion.rl.artifact import save
    from hyperion.rl.features import JOB_FEATURES, SITE_FEATURES
    from hyperion.rl.model import PlacementModel

    torch.manual_seed(0)
    m = PlacementModel(len(JOB_FEATURES), len(SITE_FEATURES), hidden=8)
    meta: dict[str, object] = {"objective": {"bsld": 1.0}, "command": "test"}
    if bounds is not None:
        meta["job_range"] = bounds
    save(path, m, meta)
