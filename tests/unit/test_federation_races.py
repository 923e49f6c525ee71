"""The daemon's state machine under races no real cluster can be made to hit on demand.

A small in-memory connector plays the site (it records what it is asked, and can hold sbatch
until the test lets it go). The same behaviours are exercised against real Slurm in
tests/integration/test_daemon.py; these make the interleavings deterministic.
"""

from __future__ import annotations

import threading
from typing import Any

from hyperion.daemon.federation import Federation
from hyperion.state import repo
from hyperion.state.db import session
from hyperion.state.ids import key_from_comment
from hyperion.types import JobState
from tests.unit.memory_site import ALICE, SCRIPT, MemorySite


def _submit_in_thread(fed: Federation, body: dict[str, Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fed.submit(ALICE, body))
        except Exception as exc:  # noqa: BLE001 - reported to the test
            out.append(exc)

    t = threading.Thread(target=run)
    t.start()
    return t, out


BODY = {
    "argv": ["--time=5"],
    "script": SCRIPT,
    "env": {"PATH": "/bin"},
    "cwd": "/tmp",
    "site": "gamma",
}


def test_reconcile_does_not_resubmit_an_attempt_the_api_is_submitting(fed: Federation) -> None:
    gamma: MemorySite = fed.conns["gamma"]  # type: ignore[assignment]
    gamma.hold_submit = threading.Event()
    t, out = _submit_in_thread(fed, BODY)
    assert gamma.in_submit.wait(10)
    fed.reconcile()  # sees the INTENT, finds no key in Slurm yet: must not submit it again
    gamma.hold_submit.set()
    t.join(10)
    assert len(gamma.submits) == 1
    status, payload = out[0]
    assert status == 201 and payload["job"]["state"] == "SUBMITTED"


def test_a_cancel_while_sbatch_runs_cancels_the_job_it_creates(fed: Federation) -> None:
    gamma: MemorySite = fed.conns["gamma"]  # type: ignore[assignment]
    gamma.hold_submit = threading.Event()
    t, out = _submit_in_thread(fed, BODY)
    assert gamma.in_submit.wait(10)
    with session(fed.engine, write=False) as s:
        (job,) = repo.list_jobs(s, owner="alice")
    fed.cancel(ALICE, job.id)
    gamma.hold_submit.set()
    t.join(10)
    (slurm_id,) = gamma.queue
    assert gamma.queue[slurm_id].state is JobState.CANCELLED
    assert (slurm_id, "alice") in gamma.cancels  # as the owner
    assert fed.job_view(job.id)["state"] == "CANCELLED"


def test_recovery_adopts_only_the_owners_job(fed: Federation) -> None:
    gamma: MemorySite = fed.conns["gamma"]  # type: ignore[assignment]
    with session(fed.engine) as s:
        row = repo.create_job(
            s, owner="alice", owner_uid=1001, spec={**BODY, "script_args": [], "script_path": None}
        )
        attempt = repo.add_attempt(s, row, "gamma", "cloud", "test", {})
        key = attempt.key
    forged = gamma.add("bob", f"hyperion:{key}")  # bob writes alice's key into a comment
    fed.reconcile()
    job = fed.job_view(row.id)
    assert job["slurm_job_id"] != forged
    assert len(gamma.submits) == 1 and key_from_comment(gamma.submits[0].option("comment")) == key
    assert job["slurm_job_id"] in gamma.queue and gamma.queue[job["slurm_job_id"]].user == "alice"


def test_a_move_whose_old_job_finished_meanwhile_does_not_run_it_again(fed: Federation) -> None:
    alpha: MemorySite = fed.conns["alpha"]  # type: ignore[assignment]
    gamma: MemorySite = fed.conns["gamma"]  # type: ignore[assignment]
    with session(fed.engine) as s:
        row = repo.create_job(
            s,
            owner="alice",
            owner_uid=1001,
            spec={**BODY, "site": None, "script_args": [], "script_path": None},
        )
        old = repo.add_attempt(s, row, "alpha", "batch", "test", {})
        old_id = alpha.add("alice", f"hyperion:{old.key}", JobState.COMPLETED)
        repo.set_attempt_state(s, old, "SUBMITTED", slurm_job_id=old_id)
        repo.set_attempt_state(s, old, "CANCELLING", end_reason="moved to gamma")
        repo.add_attempt(s, row, "gamma", "cloud", "moved", {})  # INTENT: the crash came here
    fed.reconcile()
    job = fed.job_view(row.id)
    states = [a["state"] for a in job["attempts"]]
    assert states == ["COMPLETED", "ABANDONED"]
    assert gamma.submits == [] and alpha.cancels == []
