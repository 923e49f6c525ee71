"""The SiteConnector contract, run against every transport on the real testbed:
alpha over SSH, beta through slurmrestd (JWT), gamma through the local CLI (cloud nodes)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from hyperion.config import HyperionConfig
from hyperion.errors import JobRejected
from hyperion.sites import SiteConnector, Submission
from hyperion.types import JobState

from .conftest import wait_state

SCRIPT = "#!/bin/sh\necho hello from $(hostname)\n"
HOSTILE = [
    "semi;colon",
    "$(touch {canary})",
    "`touch {canary}`",
    "quote'single",
    'quote"double',
    "a b  c",
    "back\\slash",
    "; touch {canary} #",
]


def _submit(
    conn: SiteConnector, *options: tuple[str, str | None], user: str = "alice", script: str = SCRIPT
) -> str:
    cwd = str(conn.workdir)  # type: ignore[attr-defined]
    sub = Submission(script=script, user=user, cwd=cwd, options=(("time", "5"), *options))
    job_id = conn.submit(sub)
    conn.submitted.append(job_id)  # type: ignore[attr-defined]
    return job_id


def test_ping_reports_slurm_version(conn: SiteConnector, site: str) -> None:
    info = conn.ping()
    assert info.slurm_version.startswith("22.05")
    assert info.cluster in {site, ""}


def test_submit_runs_as_user_and_completes(conn: SiteConnector) -> None:
    job_id = _submit(conn, ("job-name", "contract-run"))
    assert job_id.isdigit()
    status = conn.jobs([job_id])[job_id]
    assert status.user == "alice"
    assert status.name == "contract-run"
    final = wait_state(conn, job_id, lambda s: s.is_final, timeout=120)
    assert final is JobState.COMPLETED


def test_many_jobs_in_one_query(conn: SiteConnector) -> None:
    ids = [_submit(conn, ("hold", None), ("job-name", f"held-{i}")) for i in range(5)]
    before = conn.calls
    statuses = conn.jobs(ids)
    assert conn.calls - before == 1, "a status query must be one Slurm call, not one per job"
    assert set(statuses) == set(ids)
    assert all(s.state is JobState.PENDING for s in statuses.values())
    assert all(s.user == "alice" for s in statuses.values())


def test_cancel_many(conn: SiteConnector) -> None:
    ids = [_submit(conn, ("hold", None)) for _ in range(3)]
    conn.cancel(ids)
    for job_id in ids:
        wait_state(conn, job_id, lambda s: s is JobState.CANCELLED, timeout=30)
    conn.cancel(ids)  # cancelling finished jobs is not an error


def test_unknown_job_is_absent(conn: SiteConnector) -> None:
    assert conn.jobs(["999999"]) == {}


def test_snapshot_matches_config(conn: SiteConnector, config: HyperionConfig, site: str) -> None:
    state = conn.snapshot()
    assert state.site == site
    cfg = config.site(site)
    assert {p.name for p in state.partitions} == {p.slurm_partition for p in cfg.partitions}
    for part_cfg in cfg.partitions:
        part = state.partition(part_cfg.slurm_partition)
        assert part is not None
        assert part.total_nodes == part_cfg.nodes
        assert part.total_cpus == part_cfg.nodes * part_cfg.cores_per_node
        assert part.total_gpus == part_cfg.nodes * part_cfg.gpus_per_node
        assert 0 <= part.idle_cpus <= part.total_cpus
        assert part.max_time_s == part_cfg.max_time_s


def test_snapshot_sees_pending_jobs(conn: SiteConnector) -> None:
    job_id = _submit(conn, ("hold", None), ("ntasks", "2"))
    state = conn.snapshot()
    mine = [j for j in state.jobs if j.job_id == job_id]
    assert len(mine) == 1 and mine[0].state is JobState.PENDING and mine[0].cpus == 2
    assert sum(p.pending_jobs for p in state.partitions) >= 1


def test_estimate_start(conn: SiteConnector) -> None:
    before = time.time()
    est = conn.estimate_start(Submission(script=SCRIPT, user="alice", options=(("time", "5"),)))
    assert est.start_time >= before - 120
    assert est.start_time <= before + 7 * 86400
    assert est.partition


def test_estimate_start_refuses_impossible_job(conn: SiteConnector) -> None:
    with pytest.raises(JobRejected):
        conn.estimate_start(Submission(script=SCRIPT, user="alice", options=(("ntasks", "999"),)))


def test_rejected_job_carries_slurm_message(conn: SiteConnector) -> None:
    with pytest.raises(JobRejected) as err:
        conn.submit(Submission(script=SCRIPT, user="alice", options=(("partition", "nosuch"),)))
    assert "partition" in str(err.value).lower()


def test_preemption_settings(conn: SiteConnector, site: str) -> None:
    pre = conn.preemption()
    if site == "beta":
        assert pre.mode_for("gpu") == "REQUEUE"
        assert pre.partition_modes["inference"] == "OFF"
    else:
        assert all(m == "OFF" for m in pre.partition_modes.values())


def test_hostile_values_reach_slurm_literally(conn: SiteConnector, tmp_path: Path) -> None:
    canary = Path("/tmp") / f"hyperion-canary-{uuid.uuid4().hex}"
    ids = {}
    for template in HOSTILE:
        value = template.format(canary=canary)
        ids[value] = _submit(conn, ("hold", None), ("job-name", value), ("comment", value))
    statuses = conn.jobs(ids.values())
    for value, job_id in ids.items():
        assert statuses[job_id].name == value
        assert statuses[job_id].comment == value
    assert not canary.exists(), "a job option was executed by a shell"


def test_hostile_output_path_is_literal(conn: SiteConnector) -> None:
    canary = f"hyperion-canary-{uuid.uuid4().hex}"
    workdir = Path(conn.workdir)  # type: ignore[attr-defined]
    out = f"{workdir}/out-$(touch {canary});`touch {canary}`'\"-%j.txt"
    job_id = _submit(conn, ("output", out))
    wait_state(conn, job_id, lambda s: s.is_final, timeout=120)
    for where in (Path("/"), Path("/root"), workdir, Path("/home/alice")):
        assert not (where / canary).exists()
    written = Path(out.replace("%j", job_id))
    assert written.read_text().startswith("hello from")
    written.unlink()


@pytest.mark.parametrize("value", ["two\nlines", "nul\0byte", "cr\rreturn"])
def test_control_characters_are_refused_before_slurm(conn: SiteConnector, value: str) -> None:
    from hyperion.errors import JobSpecError

    before = conn.calls
    with pytest.raises(JobSpecError):
        conn.submit(Submission(script=SCRIPT, user="alice", options=(("job-name", value),)))
    assert conn.calls == before
