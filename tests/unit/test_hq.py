"""Rendering of the API's JOB and DECISION dicts, and the hq / hcancel commands (no daemon)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console, RenderableType

from hyperion.api.client import NotFound
from hyperion.cli import hcancel, hq
from hyperion.cli.render import (
    decision_view,
    fmt_duration,
    fmt_number,
    fmt_when,
    job_view,
    jobs_table,
    parse_when,
    wait_or_start,
)

NOW = datetime(2025, 3, 4, 12, 0, 0, tzinfo=UTC)
T0 = "2025-03-04T11:50:00Z"  # ten minutes before NOW
ATTEMPTS = [
    {"seq": 1, "key": "h0ABCDE.1", "site": "beta", "partition": "gpu", "slurm_job_id": 17,
     "state": "CANCELLED", "slurm_state": "CANCELLED", "placed_reason": "earliest start",
     "scores": {"alpha": 300.0, "beta": 60.0}, "end_reason": "moved: alpha starts 20m earlier",
     "created_at": T0, "submitted_at": "2025-03-04T11:50:01Z", "started_at": None,
     "ended_at": "2025-03-04T11:55:00Z"},
    {"seq": 2, "key": "h0ABCDE.2", "site": "alpha", "partition": "cpu", "slurm_job_id": 4242,
     "state": "RUNNING", "slurm_state": "RUNNING", "placed_reason": "re-placed",
     "scores": {"alpha": 0.0, "beta": float("inf")}, "end_reason": None,
     "created_at": "2025-03-04T11:55:00Z", "submitted_at": "2025-03-04T11:55:01Z",
     "started_at": "2025-03-04T11:56:48Z", "ended_at": None},
]  # fmt: skip
RUNNING = {"id": "h0ABCDE", "name": "train", "user": "alice", "state": "RUNNING",
           "site": "alpha", "partition": "cpu", "slurm_job_id": 4242, "submitted_at": T0,
           "started_at": "2025-03-04T11:56:48Z", "ended_at": None, "reason": None,
           "attempts": ATTEMPTS}  # fmt: skip
PENDING = {"id": "h0FGHJK", "name": "sweep", "user": "bob", "state": "PENDING", "site": "beta",
           "partition": "gpu", "slurm_job_id": 18, "submitted_at": "2025-03-04T11:56:48Z",
           "started_at": None, "ended_at": None, "reason": "Priority",
           "attempts": [ATTEMPTS[0]]}  # fmt: skip


def text_of(renderable: RenderableType) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_durations_and_times() -> None:
    assert [fmt_duration(s) for s in (0, 42, 192, 3725, 2 * 86400 + 4 * 3600)] == [
        "0s", "42s", "3m12s", "1h02m", "2d04h",
    ]  # fmt: skip
    assert parse_when("2025-03-04T11:50:00Z") == parse_when(1741089000)
    assert parse_when("2025-03-04T11:50:00") == parse_when("2025-03-04T12:50:00+01:00")
    assert parse_when(None) is None and parse_when("not a time") is None
    local = datetime(2025, 3, 4, 11, 50, tzinfo=UTC).astimezone().strftime("%H:%M:%S")
    assert fmt_when(T0, NOW).endswith(f"{local} (10m00s ago)")
    assert fmt_when("2025-03-04T12:05:00Z", NOW).endswith("(in 5m00s)")
    assert [fmt_number(v) for v in (float("inf"), None, 0.1234, 12345.6)] == [
        "∞", "-", "0.123", "12346",
    ]  # fmt: skip


def test_wait_so_far_or_start_time() -> None:
    assert wait_or_start(PENDING, NOW) == "waiting 3m12s"
    local = datetime(2025, 3, 4, 11, 56, 48, tzinfo=UTC).astimezone().strftime("%H:%M:%S")
    assert wait_or_start(RUNNING, NOW).endswith(local)
    never = {**PENDING, "state": "CANCELLED", "ended_at": "2025-03-04T11:58:00Z"}
    assert wait_or_start(never, NOW) == "waited 1m12s"


def test_jobs_table() -> None:
    out = text_of(jobs_table([RUNNING, PENDING], now=NOW))
    header, first, second = out.splitlines()[:3]
    for col in ("ID", "NAME", "USER", "SITE", "SLURM ID", "STATE", "WAIT / START", "ATTEMPTS"):
        assert col in header
    assert first.split()[:6] == ["h0ABCDE", "train", "alice", "alpha", "4242", "RUNNING"]
    assert first.split()[-1] == "2"
    assert "waiting 3m12s" in second and second.split()[-1] == "1"


def test_job_history_shows_every_attempt() -> None:
    out = text_of(job_view(RUNNING, now=NOW))
    for text in (
        "h0ABCDE", "train", "alice", "Slurm job 4242", "attempts", "beta", "gpu", "17",
        "CANCELLED", "earliest start", "moved: alpha starts 20m earlier", "re-placed",
        "beta 60", "alpha 300", "alpha 0  beta ∞", "started", "(3m12s ago)", "(10m00s ago)",
    ):  # fmt: skip
        assert text in out, text
    assert "not placed" in text_of(job_view({**PENDING, "attempts": []}, now=NOW))


def test_decision_lists_candidates_chosen_first() -> None:
    decision = {
        "site": "alpha", "partition": "cpu", "reason": "lowest weighted score",
        "policy": "weighted", "scores": {"alpha": 0.25, "beta": 0.75, "delta": 1.0},
        "candidates": [
            {"site": "beta", "partition": "gpu", "est_start": "2025-03-04T12:30:00Z",
             "cost": {"amount": 1.5, "currency": "EUR"}, "feasible": True, "why_not": None},
            {"site": "gamma", "partition": None, "est_start": None, "cost": None,
             "feasible": False, "why_not": "time limit 2-00:00:00 over MaxTime 1-00:00:00"},
            {"site": "alpha", "partition": "cpu", "est_start": 1741089600, "cost": 0.2,
             "feasible": True, "why_not": None},
        ],
    }  # fmt: skip
    out = text_of(decision_view(decision, now=NOW))
    assert "would run on site alpha, partition cpu" in out and "policy weighted" in out
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert [r.split("│")[1].strip() for r in rows] == ["alpha", "beta", "delta", "gamma"]
    assert "(now)" in rows[0] and "0.20" in rows[0] and "0.25" in rows[0]
    assert "(in 30m00s)" in rows[1] and "1.50 EUR" in rows[1]
    assert "no: time limit 2-00:00:00 over MaxTime" in rows[3]
    refused = text_of(decision_view({"site": None, "candidates": [], "scores": {}}))
    assert "no site can take this job" in refused
    assert "Hyperion's queue" not in out
    held = text_of(decision_view({**decision, "hold": "held by Hyperion: every site is full"}))
    assert "wait in Hyperion's queue (held by Hyperion: every site is full)" in held


class FakeClient:
    """Answers like hyperion.api.client.Client, from the dicts above."""

    def __init__(self) -> None:
        self.last_warnings: list[str] = []
        self.last_envelope: dict[str, Any] = {}
        self.queries: list[dict[str, Any]] = []

    def jobs(self, **query: Any) -> list[dict[str, Any]]:
        self.queries.append(query)
        self.last_envelope = {"meta": {}, "errors": [], "warnings": [], "jobs": [PENDING]}
        return [PENDING]

    def job(self, job_id: str) -> dict[str, Any]:
        self.last_envelope = {"meta": {}, "errors": [], "warnings": [], "job": RUNNING}
        return RUNNING

    def cancel(self, job_id: str) -> dict[str, Any]:
        if job_id == "h0NOPE0":
            raise NotFound(404, [{"error": f"no job {job_id}", "hint": "see `hq --all`"}])
        states = {"h0ABCDE": "CANCELLED", "h0DONE0": "COMPLETED", "h0FGHJK": "CANCELLING"}
        return {**PENDING, "id": job_id, "state": states[job_id]}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    client = FakeClient()
    monkeypatch.setattr(hq, "make_client", lambda: client)
    monkeypatch.setattr(hcancel, "make_client", lambda: client)
    monkeypatch.setenv("COLUMNS", "200")
    return client


def test_hq_lists_and_filters(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert hq.main(["--all", "-u", "bob", "--site", "beta", "--state", "PENDING"]) == 0
    assert fake.queries == [{"all": True, "user": "bob", "site": "beta", "state": "PENDING"}]
    out = capsys.readouterr().out
    assert "h0FGHJK" in out and "sweep" in out and "waiting" in out


def test_hq_one_job_and_json(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert hq.main(["h0ABCDE"]) == 0
    assert "moved: alpha starts 20m earlier" in capsys.readouterr().out
    assert hq.main(["--json", "h0ABCDE"]) == 0
    assert json.loads(capsys.readouterr().out)["job"]["id"] == "h0ABCDE"


def test_hcancel_reports_each_id_and_fails_if_any_failed(
    fake: FakeClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hcancel.main(["h0ABCDE", "h0NOPE0", "h0DONE0", "h0FGHJK"]) == 1
    out = capsys.readouterr()
    assert out.out.splitlines() == [
        "h0ABCDE: cancelled on site beta (Slurm job 18)",
        "h0DONE0: already ended (COMPLETED) on site beta (Slurm job 18); nothing to cancel",
        "h0FGHJK: cancel requested on site beta (Slurm job 18); state now CANCELLING",
    ]
    assert "hcancel: error: h0NOPE0: no job h0NOPE0\n  hint: see `hq --all`" in out.err
    assert hcancel.main(["h0ABCDE"]) == 0
