"""The testbed itself: status, env, Slurm's own multi-cluster submission, preemption on beta,
cloud power-up on gamma, the job-end hook. These are the behaviours the rest of Hyperion is
measured against."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from hyperion.api.client import Client
from hyperion.errors import HyperionError

from .conftest import TESTBED


def _slurm(conf: Path, *argv: str, user: str | None = None) -> str:
    cmd = ["runuser", "-u", user, "--", *argv] if user else list(argv)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, cwd="/")
    assert proc.returncode == 0, f"{argv}: {proc.stderr}"
    return proc.stdout


def test_status_lists_every_component_up(testbed: Path) -> None:
    proc = subprocess.run([str(TESTBED), "status"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout
    names = [line.split("  ")[0].strip() for line in proc.stdout.splitlines()]
    for component in (
        "munge",
        "mariadb",
        "slurmdbd",
        "slurmctld alpha",
        "slurmctld beta",
        "slurmctld gamma",
        "sshd",
        "slurmrestd",
    ):
        assert component in names


def test_env_exports_point_at_the_clusters(testbed: Path) -> None:
    out = subprocess.run([str(TESTBED), "env"], capture_output=True, text=True, check=True).stdout
    exports = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())
    for name in ("alpha", "beta", "gamma"):
        conf = Path(exports[f"SLURM_CONF_{name.upper()}"])
        assert f"ClusterName={name}" in conf.read_text()
    assert Path(exports["HYPERION_CONFIG"]).name == "testbed.toml"


def test_slurm_multi_cluster_submission_works(testbed: Path) -> None:
    conf = testbed / "alpha" / "slurm.conf"
    out = _slurm(
        conf,
        "sbatch",
        "-M",
        "alpha,beta",
        "--parsable",
        "--hold",
        f"--chdir={testbed / 'share'}",
        "--wrap",
        "true",
        user="bob",
    )
    job_id, cluster = out.strip().split(";")
    assert cluster in {"alpha", "beta"}
    _slurm(conf, "scancel", "-M", cluster, job_id)


def test_inference_preempts_gpu_with_requeue(testbed: Path) -> None:
    conf = testbed / "beta" / "slurm.conf"
    share = f"--chdir={testbed / 'share' / 'beta'}"
    low = [
        _slurm(
            conf,
            "sbatch",
            "--parsable",
            "-p",
            "gpu",
            "--gres=gpu:2",
            "-n",
            "2",
            share,
            "--wrap",
            "sleep 120",
            user="bob",
        ).strip()
        for _ in range(3)
    ]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = _slurm(conf, "squeue", "-h", "-j", ",".join(low), "-o", "%T").split()
            if states.count("RUNNING") == 3:
                break
            time.sleep(1)
        high = _slurm(
            conf,
            "sbatch",
            "--parsable",
            "-p",
            "inference",
            "--gres=gpu:2",
            share,
            "--wrap",
            "sleep 1",
            user="alice",
        ).strip()
        low.append(high)
        deadline = time.monotonic() + 60
        requeued = False
        while time.monotonic() < deadline and not requeued:
            out = _slurm(conf, "squeue", "-h", "-j", ",".join(low[:3]), "-o", "%i %T %r")
            requeued = any(line.split()[1] == "PENDING" for line in out.splitlines())
            time.sleep(1)
        assert requeued, "a gpu-partition job should have been requeued by the inference job"
    finally:
        _slurm(conf, "scancel", *low)


def _events(client: Client, site: str) -> int:
    return next(s for s in client.sites() if s["name"] == site)["job_end_events"]


def test_a_job_end_reaches_hyperiond_through_the_epilog_hook(testbed: Path) -> None:
    """EpilogSlurmctld (plugins/slurm_hooks/hyperion-job-end) tells the testbed's hyperiond that
    a job ended, so that late binding need not wait for its next poll; any job counts."""
    client = Client(socket_path=str(testbed / "run" / "hyperiond.sock"))
    before = _events(client, "alpha")
    conf = testbed / "alpha" / "slurm.conf"
    out = _slurm(
        conf, "sbatch", "--parsable", f"--chdir={testbed / 'share'}", "--wrap", "true", user="bob"
    )
    assert out.strip().split(";")[0].isdigit()
    deadline = time.monotonic() + 60
    while _events(client, "alpha") <= before:
        assert time.monotonic() < deadline, "no job-end event from alpha's EpilogSlurmctld"
        time.sleep(0.2)
    with pytest.raises(HyperionError, match="site: expected a short string"):
        client.request("POST", "/events", body={"site": ["alpha"]})
