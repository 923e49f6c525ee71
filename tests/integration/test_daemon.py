"""hyperiond against the real testbed: users, isolation, placement, exactly-once submission
under SIGKILL at named crash points, re-placement, and a site outage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from hyperion.api.client import Client, DaemonUnreachable
from hyperion.errors import HyperionError
from tests.postgres import PostgresServer

from .daemon import (
    as_user,
    cancel_everything,
    daemon,
    slurm_jobs_with_key,
    start_daemon,
    stop_daemon,
    wait_for,
    write_config,
)

SCRIPT = "#!/bin/sh\n#SBATCH --time=5\nid -un\n"


def _job(d_client: Client, job_id: str) -> dict:  # type: ignore[type-arg]
    return d_client.job(job_id)


def _submit_as(user: str, d, *args: str) -> str:  # type: ignore[no-untyped-def]
    proc = as_user(user, d, "hsub", "--parsable", *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().split(";")[0]  # a job held by Hyperion has no site yet


def test_job_runs_as_the_submitting_user(testbed: Path) -> None:
    with daemon(testbed) as d:
        out = d.workdir / "out-%j.txt"
        job_id = _submit_as("alice", d, "-J", "hyd-test-run", f"--output={out}", "--wrap", "id -un")
        client = d.client()
        job = wait_for(
            lambda: (j := client.job(job_id))["state"] == "COMPLETED" and j,
            "the job to complete",
            timeout=120,
        )
        assert job["user"] == "alice"
        (attempt,) = job["attempts"]
        written = Path(str(out).replace("%j", attempt["slurm_job_id"]))
        assert written.read_text().strip() == "alice"  # Slurm ran it as alice
        assert attempt["placed_reason"].startswith("earliest-start")
        assert set(attempt["scores"]) >= {"alpha", "beta", "gamma"}


def test_users_see_and_cancel_only_their_own_jobs(testbed: Path) -> None:
    with daemon(testbed) as d:
        job_id = _submit_as("alice", d, "-J", "hyd-test-held", "--hold", "--wrap", "true")
        mine = as_user("alice", d, "hq", "--json")
        assert job_id in mine.stdout
        theirs = as_user("bob", d, "hq", "--json")
        assert theirs.returncode == 0 and job_id not in theirs.stdout
        peek = as_user("bob", d, "hq", job_id)
        assert peek.returncode != 0 and "no job" in peek.stderr.lower()
        steal = as_user("bob", d, "hcancel", job_id)
        assert steal.returncode != 0
        assert d.client().job(job_id)["state"] in {"SUBMITTED", "PENDING"}
        admin = as_user(None, d, "hq", "--all", "--json")  # root is an admin
        assert job_id in admin.stdout
        ok = as_user("alice", d, "hcancel", job_id)
        assert ok.returncode == 0, ok.stderr
        job = d.client().job(job_id)
        assert job["state"] == "CANCELLED"
        key = job["attempts"][0]["key"]
        states = {s for _, _, s in slurm_jobs_with_key(testbed, key)}
        assert states <= {"CANCELLED"}


def test_test_only_explains_every_site(testbed: Path) -> None:
    with daemon(testbed) as d:
        proc = as_user("alice", d, "hsub", "--test-only", "--json", "--wrap", "true")
        assert proc.returncode == 0, proc.stderr
        decision = json.loads(proc.stdout)["decision"]
        rows = {r["site"]: r for r in decision["candidates"]}
        assert set(rows) == {"alpha", "beta", "gamma"}
        assert all(r["feasible"] for r in rows.values())
        assert decision["site"] in rows and decision["policy"] == "earliest-start"
        assert d.client().jobs(all=True) == []  # nothing was submitted


def test_job_no_site_can_fit_is_rejected_with_reasons(testbed: Path) -> None:
    with daemon(testbed) as d:
        proc = as_user("alice", d, "hsub", "-N", "1", "--gres=gpu:8", "--wrap", "true")
        assert proc.returncode == 1
        for site in ("alpha", "beta", "gamma"):
            assert site in proc.stderr
        assert "Traceback" not in proc.stderr


def test_unknown_option_fails_like_sbatch(testbed: Path) -> None:
    with daemon(testbed) as d:
        proc = as_user("alice", d, "hsub", "--partiton=batch", "--wrap", "true")
        assert proc.returncode == 1
        assert "--partition" in proc.stderr


def _bob_sbatch(testbed: Path, site: str, *options: str) -> str:
    """bob submits a plain Slurm job (not through Hyperion); returns its Slurm job id."""
    out = subprocess.run(
        ["runuser", "-u", "bob", "--", "sbatch", "--parsable",
         f"--chdir={testbed / 'share'}", *options],
        env={**os.environ, "SLURM_CONF": str(testbed / site / "slurm.conf")},
        capture_output=True, text=True, check=True, cwd="/",
    )  # fmt: skip
    return out.stdout.strip().split(";")[0]


def _plant(testbed: Path, site: str, key: str) -> str:
    """bob submits a job whose comment claims an attempt key of someone else."""
    return _bob_sbatch(testbed, site, "--hold", "-J", "hyd-test-forged",
                       f"--comment=hyperion:{key}", "--wrap", "true")  # fmt: skip


def _attempt_key_site(db_url: str) -> tuple[str, str]:
    from hyperion.state.db import make_engine

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            row = conn.exec_driver_sql("SELECT key, site FROM attempt").one()
        return str(row[0]), str(row[1])
    finally:
        engine.dispose()


def _crash_and_recover(
    testbed: Path, point: str, forge: bool = False, db_url: str | None = None
) -> None:
    workdir = testbed / "share" / f"hyd-crash-{point}-{uuid.uuid4().hex[:8]}"
    workdir.mkdir(exist_ok=True)
    workdir.chmod(0o1777)
    config = write_config(workdir / "sites.toml", testbed)
    db_url = db_url or f"sqlite:///{workdir / 'hyperion.db'}"
    d = start_daemon(workdir, config, db_url, crash_at=point, tag="-crash")
    try:
        with pytest.raises((DaemonUnreachable, HyperionError)):
            d.client().submit(
                ["-J", "hyd-test-crash"], SCRIPT, None, [], {"PATH": "/bin"}, str(workdir)
            )
        assert d.proc.wait(timeout=30) == -signal.SIGKILL
        key, site = _attempt_key_site(db_url)
        forged = _plant(testbed, site, key) if forge else None
        d = start_daemon(workdir, config, db_url, tag="-after")
        found = wait_for(
            lambda: [f for f in slurm_jobs_with_key(testbed, key) if f[1] != forged],
            f"a Slurm job for {key}",
        )
        assert len(found) == 1, f"exactly one Slurm job per Hyperion job, got {found}"
        job = wait_for(
            lambda: (j := d.client().jobs(all=True)) and j[0]["slurm_job_id"] and j[0],
            "the job to record its Slurm id",
        )
        assert job["slurm_job_id"] == found[0][1]
        assert job["user"] == "root"
        assert len([f for f in slurm_jobs_with_key(testbed, key) if f[1] != forged]) == 1
    finally:
        stop_daemon(d)
        cancel_everything(testbed)


@pytest.mark.parametrize("point", ["before_submit", "after_submit"])
def test_exactly_one_slurm_job_after_a_crash(testbed: Path, point: str) -> None:
    _crash_and_recover(testbed, point)


def test_recovery_does_not_adopt_another_users_job_with_a_forged_key(testbed: Path) -> None:
    _crash_and_recover(testbed, "before_submit", forge=True)


def test_exactly_one_slurm_job_after_a_crash_with_postgresql_state(
    testbed: Path, pg: PostgresServer
) -> None:
    _crash_and_recover(testbed, "after_submit", db_url=pg.create_database("hyperiond_crash"))


def _fill(testbed: Path, site: str, n: int) -> list[str]:
    """Occupy a cluster with long jobs of bob (plain sbatch, as another user would)."""
    return [
        _bob_sbatch(
            testbed,
            site,
            "-J",
            "hyd-test-filler",
            "-n",
            "2",
            "--time=30",
            "-o",
            "/dev/null",
            "--wrap",
            "sleep 600",
        )  # fmt: skip
        for _ in range(n)
    ]


def _move_scenario(testbed: Path, crash_at: str | None) -> None:
    workdir = testbed / "share" / f"hyd-move-{crash_at}-{uuid.uuid4().hex[:8]}"
    workdir.mkdir(exist_ok=True)
    workdir.chmod(0o1777)
    config = write_config(workdir / "sites.toml", testbed)
    db_url = f"sqlite:///{workdir / 'hyperion.db'}"
    d = start_daemon(workdir, config, db_url, crash_at=crash_at, tag="-move")
    fillers: list[str] = []
    try:
        client = d.client()
        client.drain("beta")
        client.drain("gamma")
        fillers = _fill(testbed, "alpha", 4)  # alpha is full for 30 minutes of limits
        doc = client.submit(
            ["-J", "hyd-test-move", "-n", "1"], SCRIPT, None, [], {"PATH": "/bin"}, str(workdir)
        )
        job_id = doc["job"]["id"]
        assert doc["job"]["site"] == "alpha"
        client.resume("gamma")  # now gamma predicts a start within seconds
        if crash_at:
            assert d.proc.wait(timeout=90) == -signal.SIGKILL
            d = start_daemon(workdir, config, db_url, tag="-after-move")
            client = d.client()
        job = wait_for(
            lambda: (j := client.job(job_id))["site"] == "gamma" and j["slurm_job_id"] and j,
            "the job to move to gamma",
            timeout=90,
        )
        first, second = job["attempts"][0], job["attempts"][1]
        assert first["site"] == "alpha" and "moved from alpha" in first["end_reason"]
        wait_for(
            lambda: client.job(job_id)["attempts"][0]["state"] == "CANCELLED",
            "the alpha attempt to be cancelled",
        )
        live = [s for s in slurm_jobs_with_key(testbed, first["key"]) if s[2] != "CANCELLED"]
        assert live == []
        assert len(slurm_jobs_with_key(testbed, second["key"])) == 1
    finally:
        stop_daemon(d)
        conf = testbed / "alpha" / "slurm.conf"
        if fillers:
            subprocess.run(
                ["scancel", *fillers], env={**os.environ, "SLURM_CONF": str(conf)}, check=False
            )
        cancel_everything(testbed)


def test_jobs_beyond_the_backlogs_wait_in_hyperion_and_go_oldest_first(testbed: Path) -> None:
    # room with site_backlog 0: alpha 8, beta 6 CPUs -> 7 two-CPU jobs go at once. gamma is
    # drained: its cloud nodes may be powering down from an earlier test, and a job waits there
    # for the power cycle (SuspendTimeout + boot), which is not what this test is about.
    with daemon(testbed, late_binding=True, site_backlog=0.0, replace=False) as d:
        drained = as_user(None, d, "hctl", "drain", "gamma")
        assert drained.returncode == 0, drained.stderr
        client = d.client()
        argv = ("-J", "hyd-test-late", "-n", "2", "--time=5", "--wrap", "sleep 4")
        ids = [_submit_as("alice", d, *argv) for _ in range(16)]
        first = [client.job(j) for j in ids]
        held = [j for j in first if j["state"] == "QUEUED"]
        assert len(held) >= 6, [j["state"] for j in first]
        assert all("held by Hyperion" in j["reason"] for j in held)
        done = wait_for(
            lambda: all(client.job(i)["state"] == "COMPLETED" for i in ids)
            and [client.job(i) for i in ids],
            "every job to complete",
            timeout=180,
        )
        for job in done:
            (attempt,) = job["attempts"]  # one Slurm job each, no move, no resubmission
            assert len(slurm_jobs_with_key(testbed, attempt["key"])) <= 1
        placed = {j["id"]: j["attempts"][0] for j in done}
        for j in held:
            assert "in Hyperion's queue" in placed[j["id"]]["placed_reason"]
        order = [placed[j["id"]]["created_at"] for j in held]
        assert order == sorted(order)  # first come, first served


def test_pending_job_moves_to_a_site_that_starts_it_sooner(testbed: Path) -> None:
    _move_scenario(testbed, None)


def test_exactly_one_slurm_job_after_a_crash_during_a_move(testbed: Path) -> None:
    _move_scenario(testbed, "during_replace")


def test_site_outage_is_detected_avoided_and_recovered(testbed: Path) -> None:
    restd_pid = testbed / "run" / "slurmrestd.pid"
    with daemon(testbed) as d:
        client = d.client()
        os.kill(int(restd_pid.read_text().split()[0]), signal.SIGKILL)
        try:
            wait_for(
                lambda: not next(s for s in client.sites() if s["name"] == "beta")["up"],
                "beta to be marked down",
                timeout=60,
            )
            doc = client.submit(
                ["-J", "hyd-test-outage", "--test-only"],
                SCRIPT,
                None,
                [],
                {"PATH": "/bin"},
                str(d.workdir),
                test_only=True,
            )
            rows = {r["site"]: r for r in doc["decision"]["candidates"]}
            assert not rows["beta"]["feasible"] and "down" in rows["beta"]["why_not"]
            assert doc["decision"]["site"] != "beta"
        finally:
            subprocess.run(
                [str(Path(__file__).resolve().parents[2] / "scripts" / "testbed"), "up"],
                check=True,
                capture_output=True,
            )
        wait_for(
            lambda: next(s for s in client.sites() if s["name"] == "beta")["up"],
            "beta to come back",
            timeout=60,
        )


def test_tcp_identity_comes_from_munge(testbed: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with daemon(testbed, listen=f"127.0.0.1:{port}") as d:
        url = f"http://127.0.0.1:{port}"
        job_id = _submit_as("alice", d, "-J", "hyd-test-tcp", "--hold", "--wrap", "true")
        mine = as_user("alice", d, "hq", "--json", url=url)
        assert mine.returncode == 0, mine.stderr
        assert json.loads(mine.stdout)["jobs"][0]["user"] == "alice"
        theirs = as_user("bob", d, "hq", "--json", url=url)
        assert theirs.returncode == 0 and job_id not in theirs.stdout
        forged = subprocess.run(
            ["curl", "-s", "-H", "X-Hyperion-Munge: not-a-credential", f"{url}/hyperion/v1/jobs"],
            capture_output=True,
            text=True,
            check=True,
        )
        doc = json.loads(forged.stdout)
        assert doc["errors"] and "jobs" not in doc
        anonymous = subprocess.run(
            ["curl", "-s", f"{url}/hyperion/v1/jobs"], capture_output=True, text=True, check=True
        )
        assert "credential" in json.loads(anonymous.stdout)["errors"][0]["error"]


def test_openapi_document_is_published(testbed: Path) -> None:
    with daemon(testbed) as d:
        doc = d.client().request("GET", "/openapi.json")
        assert doc["openapi"].startswith("3.")
        assert "/hyperion/v1/jobs" in doc["paths"]
        assert {"get", "post"} <= set(doc["paths"]["/hyperion/v1/jobs"])


def test_pending_job_leaves_a_site_that_goes_down_and_is_reconciled_on_return(
    testbed: Path,
) -> None:
    restd_pid = testbed / "run" / "slurmrestd.pid"
    with daemon(testbed) as d:
        client = d.client()
        client.drain("alpha")
        client.drain("gamma")
        doc = client.submit(
            ["-J", "hyd-test-failover", "--hold"],
            SCRIPT,
            None,
            [],
            {"PATH": "/bin"},
            str(d.workdir),
        )
        job_id = doc["job"]["id"]
        assert doc["job"]["site"] == "beta"
        first_key = doc["job"]["attempts"][0]["key"]
        client.resume("alpha")
        client.resume("gamma")
        os.kill(int(restd_pid.read_text().split()[0]), signal.SIGKILL)
        try:
            job = wait_for(
                lambda: (j := client.job(job_id))["site"] != "beta" and j["slurm_job_id"] and j,
                "the job to leave beta while beta is down",
                timeout=90,
            )
            first = job["attempts"][0]
            assert first["state"] == "CANCELLING" and "site down" in first["end_reason"]
        finally:
            subprocess.run(
                [str(Path(__file__).resolve().parents[2] / "scripts" / "testbed"), "up"],
                check=True,
                capture_output=True,
            )
        wait_for(
            lambda: client.job(job_id)["attempts"][0]["state"] == "CANCELLED",
            "the beta attempt to be cancelled once beta answers",
            timeout=90,
        )
        assert [s for s in slurm_jobs_with_key(testbed, first_key) if s[2] != "CANCELLED"] == []
        live = slurm_jobs_with_key(testbed, job["attempts"][1]["key"])
        assert len(live) == 1 and live[0][0] == job["site"]


def test_a_job_running_in_two_places_after_an_outage_keeps_the_first_start(
    testbed: Path,
) -> None:
    """beta stops answering while a job waits there for its begin time; Hyperion moves it to
    alpha; beta's controller (still alive behind the dead slurmrestd) starts it too. When beta
    answers again, the attempt that started first is kept and the other one is cancelled."""
    restd_pid = testbed / "run" / "slurmrestd.pid"
    with daemon(testbed) as d:
        client = d.client()
        client.drain("alpha")
        client.drain("gamma")
        doc = client.submit(
            ["-J", "hyd-test-twice", "--begin=now+20", "-t", "5"],
            "#!/bin/sh\nsleep 300\n",
            None,
            [],
            {"PATH": "/bin"},
            str(d.workdir),
        )
        job_id = doc["job"]["id"]
        assert doc["job"]["site"] == "beta"
        client.resume("alpha")
        os.kill(int(restd_pid.read_text().split()[0]), signal.SIGKILL)
        try:
            moved = wait_for(
                lambda: (j := client.job(job_id))["site"] == "alpha" and j["slurm_job_id"] and j,
                "the job to move to alpha while beta is down",
                timeout=90,
            )
            first, second = moved["attempts"][0], moved["attempts"][1]
            wait_for(
                lambda: client.job(job_id)["attempts"][1]["state"] == "RUNNING",
                "the alpha copy to start",
                timeout=120,
            )
            beta_conf = {**os.environ, "SLURM_CONF": str(testbed / "beta" / "slurm.conf")}
            wait_for(  # beta's controller, behind the dead slurmrestd, starts its copy too
                lambda: (
                    subprocess.run(
                        ["squeue", "-h", "-j", first["slurm_job_id"], "-o", "%T"],
                        env=beta_conf,
                        capture_output=True,
                        text=True,
                        check=False,
                    ).stdout.strip()
                    == "RUNNING"
                ),
                "beta's copy to start",
                timeout=120,
            )
        finally:
            subprocess.run(
                [str(Path(__file__).resolve().parents[2] / "scripts" / "testbed"), "up"],
                check=True,
                capture_output=True,
            )
        beta_states = wait_for(
            lambda: slurm_jobs_with_key(testbed, first["key"]), "beta's copy to be visible again"
        )
        assert beta_states[0][2] in {"RUNNING", "CANCELLED"}, "beta's controller ran it"
        job = wait_for(
            lambda: (
                (j := client.job(job_id))
                and sorted(a["state"] for a in j["attempts"]) == ["CANCELLED", "RUNNING"]
                and j
            ),
            "one of the two copies to be cancelled",
            timeout=90,
        )
        kept = next(a for a in job["attempts"] if a["state"] == "RUNNING")
        dropped = next(a for a in job["attempts"] if a["state"] == "CANCELLED")
        assert dropped["started_at"] is not None, "both copies had started"
        assert kept["started_at"] <= dropped["started_at"], "the first start must be kept"
        assert "duplicate" in (dropped["end_reason"] or "")
        running = [
            s
            for k in (first["key"], second["key"])
            for s in slurm_jobs_with_key(testbed, k)
            if s[2] == "RUNNING"
        ]
        assert len(running) == 1 and running[0][0] == kept["site"]


def test_the_learned_policy_places_and_steps_aside_on_unfamiliar_jobs(testbed: Path) -> None:
    """The shipped model as the daemon's default policy: it decides a job like those it was
    trained on; once most submitted jobs lie outside its range (no time limit: it never saw
    one) its fallback heuristic decides, and the reason and hctl sites say so. --test-only
    probes do not count."""
    with daemon(testbed, default_policy="rl") as d:

        def test_only(*args: str) -> dict[str, Any]:
            proc = as_user("alice", d, "hsub", "--test-only", "--json", *args, "--wrap", "true")
            assert proc.returncode == 0, proc.stderr
            decision: dict[str, Any] = json.loads(proc.stdout)["decision"]
            return decision

        first = test_only("--time=10", "-n", "1")
        assert first["policy"] == "rl" and "learned policy (bsld=1)" in first["reason"]
        for _ in range(3):  # probes without a time limit: not jobs of the workload
            assert "steps aside" not in test_only("-n", "1")["reason"]
        job_id = _submit_as("alice", d, "-J", "hyd-test-rl", "--hold", "-n", "1", "--wrap", "true")
        try:
            reason = d.client().job(job_id)["attempts"][0]["placed_reason"]
            assert "the model steps aside: 1 of the last 1 jobs" in reason
            assert "log_time_limit" in reason and "weighted places them" in reason
            sites = json.loads(as_user(None, d, "hctl", "sites", "--json").stdout)["sites"]
            assert "the model steps aside" in sites[0]["policy_status"]
            assert "steps aside" in test_only("--time=10", "-n", "1")["reason"]
        finally:
            as_user("alice", d, "hcancel", job_id)
