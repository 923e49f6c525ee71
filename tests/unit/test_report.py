"""``hctl report``: grouping and windows of the ledger totals, who sees what, --since parsing,
and the CSV, JSON and PNG outputs."""

from __future__ import annotations

import csv
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from hyperion.api.server import Api
from hyperion.cli import hctl
from hyperion.cli.report import csv_rows, parse_since, write_csv, write_png
from hyperion.daemon.federation import Federation
from hyperion.daemon.identity import Caller
from hyperion.daemon.report import report
from hyperion.daemon.routes import routes
from hyperion.errors import HyperionError
from hyperion.state import ledger, repo
from hyperion.state.db import session
from hyperion.state.models import AttemptState
from tests.unit.ledger_sites import federation, finished_attempt

ALICE = Caller(uid=1001, user="alice", admin=False)
ADMIN = Caller(uid=0, user="root", admin=True)
H = 3600.0


def _fill(fed: Federation) -> dict[str, str]:
    """alice: 1 core-hour on cpu (physics) and 1 node-hour on cloud (no account); bob: 2 GPU
    hours on gpu (physics), and a job of his that ran on cpu, then (moved) on gpu."""
    e = fed.engine
    jobs = {
        "a1": finished_attempt(e, owner="alice", account="physics", started=10 * H, ended=11 * H),
        "a2": finished_attempt(
            e, owner="alice", site="cloud", partition="burst", started=20 * H, ended=21 * H
        ),
        "b1": finished_attempt(
            e, owner="bob", account="physics", site="gpu", partition="gpu",
            request={"gpus": 2}, started=30 * H, ended=31 * H,
        ),
    }  # fmt: skip
    with session(e) as s:
        job = repo.create_job(s, owner="bob", owner_uid=2, spec={}, request={"ntasks": 1})
        for seq, site, part in ((1, "cpu", "batch"), (2, "gpu", "gpu")):
            a = repo.add_attempt(s, job, site, part, "t", {})
            repo.set_attempt_state(s, a, AttemptState.SUBMITTED, slurm_job_id=str(seq))
            start = (40 + 2 * seq) * H
            repo.set_attempt_state(
                s, a, AttemptState.FAILED, started_at=start, ended_at=start + H / 2
            )
        jobs["b2"] = job.id
    assert fed.ledger.record_finished() == 5
    return jobs


def _groups(rows: list[ledger.GroupTotals]) -> dict[str, ledger.GroupTotals]:
    return {g.key: g for g in rows}


def test_totals_per_user_account_and_site(tmp_path: Path) -> None:
    with federation(tmp_path) as fed:
        _fill(fed)
        with session(fed.engine, write=False) as s:
            by_user = _groups(ledger.totals(s, "user"))
            by_account = _groups(ledger.totals(s, "account"))
            by_site = _groups(ledger.totals(s, "site"))
            (total,) = ledger.totals(s, None)
        alice, bob = by_user["alice"], by_user["bob"]
        assert (alice.jobs, alice.attempts, bob.jobs, bob.attempts) == (2, 2, 2, 3)
        assert alice.core_hours == pytest.approx(2.0)
        assert alice.cost == pytest.approx({"EUR": 0.04, "USD": 0.5 * (H + 120) / H})
        # cpu: 1 core of a 2-core node (10 W + 25 W) x 1.2; cloud: 10 W + 40 W for 1 h + boot
        cloud_kwh = (10 * H + 40 * (H + 120)) / 3.6e6
        assert alice.energy_kwh == pytest.approx(0.042 + cloud_kwh)
        assert alice.co2_g == 0.0 and alice.co2_missing == 2  # no carbon source configured
        assert set(by_account) == {"physics", ledger.NO_ACCOUNT}
        assert by_account["physics"].jobs == 2 and by_account[ledger.NO_ACCOUNT].jobs == 2
        assert by_site["cpu"].attempts == 2 and by_site["gpu"].attempts == 2
        assert by_site["gpu"].cost["EUR"] == pytest.approx(2 * 2.0 + 0.01 + 0.5 * 0.01)
        assert (total.jobs, total.attempts) == (4, 5)  # bob's moved job counts once


def test_window_and_owner_filters(tmp_path: Path) -> None:
    with federation(tmp_path) as fed:
        _fill(fed)
        with session(fed.engine, write=False) as s:
            mid = _groups(ledger.totals(s, "user", since=21 * H, until=41 * H))
            only_alice = ledger.totals(s, "site", owner="alice")
            assert ledger.totals(s, None, since=1e12) == []
        # ended at 21 h is in [21 h, 41 h); 11 h and 42.5 h are not
        assert set(mid) == {"alice", "bob"} and mid["alice"].attempts == 1
        assert mid["bob"].attempts == 1
        assert {g.key for g in only_alice} == {"cpu", "cloud"}


def test_a_user_sees_their_own_totals_an_admin_everyone(tmp_path: Path) -> None:
    with federation(tmp_path) as fed:
        _fill(fed)
        mine = report(fed.engine, ALICE, {"by": "site"})
        assert mine["scope"] == "user alice" and mine["total"]["jobs"] == 2
        every = report(fed.engine, ADMIN, {"by": "user", "since": str(25 * H)})
        assert every["scope"] == "all users"
        assert [g["key"] for g in every["groups"]] == ["bob"]
        with pytest.raises(HyperionError, match="by=owner"):
            report(fed.engine, ALICE, {"by": "owner"})
        with pytest.raises(HyperionError, match="since=yesterday: not a time"):
            report(fed.engine, ALICE, {"since": "yesterday"})
        with pytest.raises(HyperionError, match="is not after"):
            report(fed.engine, ALICE, {"since": "100", "until": "50"})
        api = Api(routes(fed), "admins", lambda *a, **k: None)
        status, payload = api.dispatch("GET", "/hyperion/v1/report", "by=account", {}, ALICE, [])
        assert status == 200 and payload["report"]["by"] == "account"
        _, doc = api.dispatch("GET", "/hyperion/v1/openapi.json", "", {}, ALICE, [])
        assert "by=user|account|site" in doc["paths"]["/hyperion/v1/report"]["get"]["summary"]


def test_since_parsing() -> None:
    now = 1_750_000_000.0
    assert parse_since("7d", now) == now - 7 * 86400
    assert parse_since("1d12h", now) == now - 36 * 3600
    assert parse_since("90m", now) == now - 5400
    assert parse_since("1.5h", now) == now - 5400
    assert parse_since("2w", now) == now - 14 * 86400
    assert parse_since("2025-03-01", now) == datetime(2025, 3, 1).timestamp()  # local time
    assert parse_since("2025-03-01T08:00:00Z", now) == 1740816000.0
    for bad in ("yesterday", "7x", "-3d", ""):
        with pytest.raises(HyperionError, match="--since"):
            parse_since(bad, now)


REPORT: dict[str, Any] = {
    "by": "site", "since": 1.0, "until": None, "scope": "all users",
    "groups": [
        {"key": "cpu", "jobs": 2, "attempts": 3, "core_hours": 1.5, "energy_kwh": 0.07,
         "co2_g": 21.0, "co2_missing": 0, "cost": {"EUR": 0.06}},
        {"key": "cloud", "jobs": 1, "attempts": 1, "core_hours": 4.0, "energy_kwh": 0.05,
         "co2_g": 0.0, "co2_missing": 1, "cost": {"USD": 0.52}},
    ],
    "total": {"key": "total", "jobs": 3, "attempts": 4, "core_hours": 5.5, "energy_kwh": 0.12,
              "co2_g": 21.0, "co2_missing": 1, "cost": {"EUR": 0.06, "USD": 0.52}},
}  # fmt: skip


def test_csv_has_one_cost_column_per_currency(tmp_path: Path) -> None:
    rows = csv_rows(REPORT)
    assert rows[0] == [
        "site", "jobs", "attempts", "core_hours", "energy_kwh", "co2_g", "co2_missing",
        "cost_EUR", "cost_USD",
    ]  # fmt: skip
    assert rows[2] == ["cloud", 1, 1, 4.0, 0.05, 0.0, 1, 0.0, 0.52]
    path = tmp_path / "r.csv"
    write_csv(REPORT, path)
    with path.open() as f:
        assert list(csv.reader(f))[1][0] == "cpu"
    with pytest.raises(HyperionError, match="--csv"):
        write_csv(REPORT, tmp_path / "no" / "such" / "dir.csv")


def test_png_chart(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "r.png"
    write_png(REPORT, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class _FakeClient:
    asked: dict[str, Any] = {}

    def __init__(self) -> None:
        self.last_warnings: list[str] = []

    def report(self, **kw: Any) -> dict[str, Any]:
        _FakeClient.asked = kw
        return REPORT


def test_hctl_report_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("hyperion.api.client.Client", _FakeClient)
    out = tmp_path / "r.csv"
    argv = ["report", "--by", "site", "--since", "7d", "--csv", str(out), "--json"]
    assert hctl.main(argv) == 0
    assert _FakeClient.asked["by"] == "site"
    assert abs(_FakeClient.asked["since"] - (time.time() - 7 * 86400)) < 60
    assert json.loads(capsys.readouterr().out)["report"]["by"] == "site" and out.exists()
    assert hctl.main(["report"]) == 0
    table = capsys.readouterr().out
    assert "total" in table and "0.06 EUR, 0.52 USD" in table and "carbon source" in table
    assert hctl.main(["report", "--since", "last tuesday"]) == 1
    err = capsys.readouterr().err
    assert "--since 'last tuesday'" in err and "Traceback" not in err


@pytest.mark.parametrize("text", ["0001-01-01", "0001-01-01T00:00"])
def test_since_out_of_range_is_a_clear_error(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        with pytest.raises(HyperionError, match="--since"):
            parse_since(text)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
