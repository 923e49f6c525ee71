"""translate(): Hyperion's names rewritten for one site, time checked against the partition."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from hyperion.errors import JobSpecError
from hyperion.jobspec import JobSpec, resolve, to_sbatch_argv, translate

SH = "#!/bin/sh\n"


@dataclass(frozen=True)
class Part:
    name: str
    slurm_name: str | None = None
    max_time_s: int | None = None
    gpu_type: str | None = None
    slurm_gpu_type: str | None = None
    default: bool = False


@dataclass(frozen=True)
class Site:
    name: str
    partitions: list[Part]
    account_map: dict[str, str] = field(default_factory=dict)
    qos_map: dict[str, str] = field(default_factory=dict)


SITE = Site(
    "uni",
    [
        Part("cpu", "batch", max_time_s=2 * 86400),
        Part("gpu", "gpu_a100", 86400, "a100", "nvidia_a100"),
        Part("gpu-old", None, None, "v100", None),
        Part("debug", "short", 3600, default=True),
    ],
    account_map={"proj": "p0042"},
    qos_map={"high": "urgent"},
)


def _spec(*argv: str) -> JobSpec:
    return resolve(list(argv), {}, SH)


def test_names_are_translated_and_originals_kept() -> None:
    spec = translate(_spec("-p", "gpu", "-A", "proj", "-q", "high", "--gres=gpu:a100:2"), SITE)
    assert spec.values() == {
        "partition": "gpu_a100",
        "account": "p0042",
        "qos": "urgent",
        "gres": "gpu:nvidia_a100:2",
    }
    assert spec.options["partition"].original == "gpu"
    assert spec.options["partition"].source == "cli"


def test_unmapped_account_and_qos_are_kept() -> None:
    spec = translate(_spec("-p", "cpu", "-A", "other", "-q", "normal"), SITE)
    assert spec.values() == {"partition": "batch", "account": "other", "qos": "normal"}
    assert spec.options["account"].original is None


def test_partition_without_slurm_name_keeps_its_name() -> None:
    assert translate(_spec("-p", "gpu-old"), SITE).get("partition") == "gpu-old"


def test_partition_list() -> None:
    assert translate(_spec("-p", "cpu,debug"), SITE).get("partition") == "batch,short"


def test_default_partition_is_set_explicitly() -> None:
    spec = translate(_spec("-t", "30"), SITE)
    assert spec.get("partition") == "short"
    assert spec.options["partition"].source == "hyperion"
    first = Site("s", [Part("a", "A"), Part("b", "B")])
    assert translate(_spec(), first).get("partition") == "A"


def test_unknown_partition_lists_the_site_partitions() -> None:
    with pytest.raises(JobSpecError, match="site 'uni' has no partition 'big'") as err:
        translate(_spec("-p", "big"), SITE)
    assert "cpu, debug, gpu, gpu-old" in str(err.value)


@pytest.mark.parametrize("time", ["1-00:00:01", "UNLIMITED", "0", "1441"])
def test_time_above_the_partition_limit(time: str) -> None:
    with pytest.raises(JobSpecError) as err:
        translate(_spec("-p", "gpu", "-t", time), SITE)
    text = str(err.value)
    assert "partition 'gpu'" in text and "site 'uni'" in text and "1-00:00:00" in text


@pytest.mark.parametrize("time", ["1-00:00:00", "1440", "10"])
def test_time_within_the_limit(time: str) -> None:
    assert translate(_spec("-p", "gpu", "-t", time), SITE).get("time") == time


def test_time_checked_against_the_default_partition() -> None:
    with pytest.raises(JobSpecError, match="partition 'debug'"):
        translate(_spec("-t", "2:00:00"), SITE)


def test_unlimited_partition_accepts_any_time() -> None:
    assert translate(_spec("-p", "gpu-old", "-t", "UNLIMITED"), SITE).get("time") == "UNLIMITED"


@pytest.mark.parametrize(
    ("argv", "name", "value"),
    [
        (["--gpus=a100:4"], "gpus", "nvidia_a100:4"),
        (["--gpus-per-node=a100:2"], "gpus-per-node", "nvidia_a100:2"),
        (["--gpus-per-task=a100:1"], "gpus-per-task", "nvidia_a100:1"),
        (["--gres=gpu:a100:2,nvme:1"], "gres", "gpu:nvidia_a100:2,nvme:1"),
        (["--gpus=4"], "gpus", "4"),
    ],
)
def test_gpu_types(argv: list[str], name: str, value: str) -> None:
    assert translate(_spec("-p", "gpu", *argv), SITE).get(name) == value


def test_gpu_type_without_slurm_type_becomes_untyped() -> None:
    assert translate(_spec("-p", "gpu-old", "--gres=gpu:v100:2"), SITE).get("gres") == "gpu:2"


def test_gpu_type_the_partition_lacks() -> None:
    with pytest.raises(JobSpecError, match="GPU type 'v100'.*partition 'gpu' on site 'uni'"):
        translate(_spec("-p", "gpu", "--gpus=v100:1"), SITE)


def test_translated_spec_renders_for_sbatch() -> None:
    spec = translate(_spec("-p", "gpu", "-t", "60", "--gpus=a100:1", "-J", "x"), SITE)
    assert to_sbatch_argv(spec) == [
        "--partition=gpu_a100",
        "--time=60",
        "--gpus=nvidia_a100:1",
        "--job-name=x",
    ]


def test_works_with_the_real_site_config() -> None:
    schema: Any = pytest.importorskip("hyperion.config.schema")
    site = schema.SiteConfig.model_validate(
        {
            "name": "cluster1",
            "access": {"kind": "local"},
            "partitions": [
                {
                    "name": "gpu",
                    "slurm_name": "gpu_q",
                    "nodes": 2,
                    "cores_per_node": 32,
                    "mem_per_node": "256G",
                    "gpus_per_node": 4,
                    "gpu_type": "a100",
                    "slurm_gpu_type": "a100_80g",
                    "max_time": "12:00:00",
                },
            ],  # fmt: skip
            "account_map": {"proj": "p1"},
        }
    )
    spec = translate(_spec("-p", "gpu", "--gpus=a100:2", "-A", "proj", "-t", "60"), site)
    assert spec.values() == {"partition": "gpu_q", "gpus": "a100_80g:2", "account": "p1",
                             "time": "60"}  # fmt: skip
    with pytest.raises(JobSpecError, match="12:00:00"):
        translate(_spec("-p", "gpu", "-t", "13:00:00"), site)
