"""The candidate filter and the cost formula, on the testbed's site configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperion.config import load_config
from hyperion.config.schema import HyperionConfig
from hyperion.placement.cost import job_cost, job_hours
from hyperion.placement.feasible import candidates, site_partition, why_not
from hyperion.types import JobRequest

CONFIG = Path(__file__).resolve().parents[2] / "site-configs" / "testbed.toml"


@pytest.fixture(scope="module")
def config() -> HyperionConfig:
    return load_config(CONFIG, env={"HYPERION_TESTBED_DIR": "/nonexistent"})


def _sites(config: HyperionConfig, job: JobRequest, **kw: object) -> dict[str, str]:
    ok, _ = candidates(job, config, **kw)  # type: ignore[arg-type]
    return {f.site: f.partition for f in ok}


def test_small_cpu_job_fits_everywhere_in_the_default_partition(config: HyperionConfig) -> None:
    assert _sites(config, JobRequest()) == {"alpha": "batch", "beta": "gpu", "gamma": "cloud"}


def test_gpu_job_only_fits_the_gpu_site(config: HyperionConfig) -> None:
    ok, rejected = candidates(JobRequest(gpus=2), config)
    assert [f.site for f in ok] == ["beta"]
    assert "no GPUs" in rejected["alpha"] and "no GPUs" in rejected["gamma"]


def test_too_many_gpus_is_rejected_everywhere_with_reasons(config: HyperionConfig) -> None:
    ok, rejected = candidates(JobRequest(gpus=8, nodes=1), config)
    assert ok == []
    assert set(rejected) == {"alpha", "beta", "gamma"}
    assert "8 GPUs asked, 6 exist" in rejected["beta"]


def test_per_node_gpu_limit_over_several_nodes(config: HyperionConfig) -> None:
    part = config.site("beta").partition("gpu")
    assert part is not None
    assert why_not(JobRequest(nodes=2, gpus=4), part) is None
    assert "3 GPUs per node" in str(why_not(JobRequest(nodes=2, gpus=6), part))


def test_time_limit_picks_the_partition_that_allows_it(config: HyperionConfig) -> None:
    beta = config.site("beta")
    long_job = JobRequest(time_limit_s=10 * 3600, gpus=1)
    assert site_partition(long_job, beta) == ("gpu", "")
    named, why = site_partition(JobRequest(partition="inference", time_limit_s=10 * 3600), beta)
    assert named is None and "above its 14400s" in why
    assert site_partition(JobRequest(time_limit_s=3 * 86400), beta)[0] is None


def test_named_partition_must_exist(config: HyperionConfig) -> None:
    ok, rejected = candidates(JobRequest(partition="inference"), config)
    assert [f.site for f in ok] == ["beta"]
    assert rejected["alpha"] == "no partition 'inference'"


def test_memory_cores_and_nodes_bounds(config: HyperionConfig) -> None:
    batch = config.site("alpha").partition("batch")
    assert batch is not None
    assert "5 nodes asked" in str(why_not(JobRequest(nodes=5), batch))
    assert "3 CPUs per task" in str(why_not(JobRequest(cpus_per_task=3), batch))
    assert "9 CPUs asked" in str(why_not(JobRequest(ntasks=9), batch))
    assert "MB per node" in str(why_not(JobRequest(mem_mb=5000), batch))
    assert why_not(JobRequest(nodes=4, ntasks=8, mem_mb=4000), batch) is None


def test_unavailable_and_pinned_sites(config: HyperionConfig) -> None:
    ok, rejected = candidates(JobRequest(), config, {"alpha": "drained by an administrator"})
    assert "alpha" not in {f.site for f in ok} and rejected["alpha"].startswith("drained")
    assert _sites(config, JobRequest(), only="gamma") == {"gamma": "cloud"}


def test_cost_of_core_gpu_and_cloud_node_hours(config: HyperionConfig) -> None:
    alpha, beta, gamma = (config.site(n) for n in ("alpha", "beta", "gamma"))
    two_hours = JobRequest(ntasks=4, time_limit_s=7200)
    assert job_cost(two_hours, alpha.prices, alpha.partitions[0]) == pytest.approx(4 * 2 * 0.02)
    gpu = JobRequest(ntasks=2, gpus=2, time_limit_s=3600)
    assert job_cost(gpu, beta.prices, beta.partitions[0]) == pytest.approx(2 * 0.02 + 2 * 1.20)
    # cloud: whole nodes are billed (3 cores on 2-core nodes = 2 nodes), their 2 s boot too
    cloud = JobRequest(ntasks=3, time_limit_s=3600)
    cost = job_cost(cloud, gamma.prices, gamma.partitions[0])
    assert cost == pytest.approx(2 * 0.10 * (3600 + 2) / 3600)
    assert job_hours(JobRequest(), alpha.partitions[0]) == 48.0  # the partition's limit
