"""to_request(): sbatch's defaults turned into a site-neutral JobRequest."""

from __future__ import annotations

import pytest

from hyperion.errors import JobSpecError
from hyperion.jobspec import resolve, to_request
from hyperion.types import JobRequest

SH = "#!/bin/sh\n"


def _req(*argv: str, script: str = SH) -> JobRequest:
    return to_request(resolve(list(argv), {}, script))


def test_defaults() -> None:
    assert _req() == JobRequest(nodes=1, ntasks=1, cpus_per_task=1, name="sbatch")


def test_name_defaults_to_script_file_name() -> None:
    assert _req("dir/train.sh").name == "train.sh"
    assert _req("-J", "given", "dir/train.sh").name == "given"
    assert to_request(resolve(["--wrap=true"], {}, None)).name == "wrap"


@pytest.mark.parametrize(
    ("argv", "nodes", "ntasks"),
    [
        (["-N", "3"], 3, 3),  # one task per node
        (["-N", "2-5"], 2, 2),  # range: the minimum
        (["-N", "2", "--ntasks-per-node=4"], 2, 8),
        (["-n", "10", "--ntasks-per-node=4"], 3, 10),
        (["-n", "6"], 1, 6),
        (["-N", "2", "-n", "5"], 2, 5),
        (["--gpus=4", "--ntasks-per-gpu=2"], 1, 8),
    ],
)
def test_nodes_and_tasks(argv: list[str], nodes: int, ntasks: int) -> None:
    req = _req(*argv)
    assert (req.nodes, req.ntasks) == (nodes, ntasks)


def test_cpus() -> None:
    req = _req("-n", "4", "-c", "8")
    assert req.cpus_per_task == 8 and req.cpus == 32
    assert _req("--gpus=2", "--cpus-per-gpu=6").cpus_per_task == 12


@pytest.mark.parametrize(
    ("argv", "gpus", "gpu_type"),
    [
        (["--gpus=a100:4"], 4, "a100"),
        (["-N2", "--gpus-per-node=4"], 8, None),
        (["-n3", "--gpus-per-task=v100:2"], 6, "v100"),
        (["-N2", "--gres=gpu:a100:2"], 4, "a100"),
        (["--gres=gpu"], 1, None),
        (["--gres=nvme:1"], 0, None),
        (["-N2", "--gpus=1", "--gpus-per-node=2"], 4, None),  # the larger request
    ],
)
def test_gpus(argv: list[str], gpus: int, gpu_type: str | None) -> None:
    req = _req(*argv)
    assert (req.gpus, req.gpu_type) == (gpus, gpu_type)


def test_several_gpu_types_are_refused() -> None:
    with pytest.raises(JobSpecError, match="several GPU types"):
        _req("--gpus=a100:1,v100:1")


@pytest.mark.parametrize(
    ("argv", "mem_mb"),
    [
        (["--mem=16G"], 16384),
        (["--mem=0"], None),  # all of the node's memory
        (["-n", "4", "-c", "2", "--mem-per-cpu=1G"], 8192),
        (["-N", "2", "-n", "4", "--mem-per-cpu=100"], 200),
        (["--gpus=2", "--mem-per-gpu=10G"], 20480),
        ([], None),
    ],
)
def test_memory_is_per_node(argv: list[str], mem_mb: int | None) -> None:
    assert _req(*argv).mem_mb == mem_mb


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("90", 5400), ("1-00:00:00", 86400), ("UNLIMITED", None), ("0", None), ("0:30", 30)],
)
def test_time_limit(value: str, seconds: int | None) -> None:
    assert _req(f"--time={value}").time_limit_s == seconds


def test_partition_account() -> None:
    req = _req("-p", "gpu,cpu", "-A", "proj")
    assert (req.partition, req.account) == ("gpu,cpu", "proj")


def test_zero_nodes_cannot_be_placed() -> None:
    with pytest.raises(JobSpecError, match="nodes=0"):
        _req("-N", "0")
