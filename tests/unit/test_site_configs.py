"""The shipped site configurations load, and say what the docs claim they say."""

from __future__ import annotations

from pathlib import Path

from hyperion.config import load_config

CONFIGS = Path(__file__).resolve().parents[2] / "site-configs"


def test_example_university_is_a_valid_three_site_config() -> None:
    cfg = load_config(CONFIGS / "example-university.toml")
    assert {n: s.access.kind for n, s in cfg.sites.items()} == {
        "campus": "ssh",
        "national": "rest",
        "cloud": "local",
    }
    gpu = cfg.site("national").partition("gpu")
    assert gpu is not None and gpu.slurm_partition == "h100" and gpu.gpus_per_node == 4
    assert gpu.preemptible and gpu.max_time_s == 2 * 86400
    burst = cfg.site("cloud").default_partition
    assert burst.cloud and burst.boot_time == 180 and burst.idle_poweroff == 600
    assert cfg.site("campus").partition("bigmem").mem_per_node == 1024 * 1024  # type: ignore[union-attr]
    assert cfg.site("campus").account_map["physics"] == "phys-hpc"


def test_testbed_config_matches_the_testbed_layout() -> None:
    cfg = load_config(CONFIGS / "testbed.toml", env={"HYPERION_TESTBED_DIR": "/srv/tb"})
    alpha = cfg.site("alpha").access
    assert alpha.kind == "ssh" and str(alpha.known_hosts) == "/srv/tb/ssh/known_hosts"
    beta = cfg.site("beta")
    assert [p.name for p in beta.partitions] == ["gpu", "inference"]
    assert beta.partition("gpu").preemptible  # type: ignore[union-attr]
    assert not beta.partition("inference").preemptible  # type: ignore[union-attr]
    assert cfg.site("gamma").default_partition.cloud
