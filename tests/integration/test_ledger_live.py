"""The ledger on the real testbed: a short job submitted through hyperiond gets its ledger row
(energy, cost, CO2 from the testbed's synthetic carbon series) once it completes, shown by hq
and hctl report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select

from hyperion.config import load_config
from hyperion.state.db import make_engine, session
from hyperion.state.ledger import LedgerEntry

from .daemon import as_user, daemon, wait_for


def test_a_completed_job_gets_its_ledger_row(testbed: Path) -> None:
    with daemon(testbed) as d:
        out = d.workdir / "ledger-%j.out"
        proc = as_user(
            "alice", d, "hsub", "--parsable", "--site", "alpha", "-n", "2", "--time=2",
            "-J", "hyd-test-ledger", f"--output={out}", "--wrap", "sleep 2",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        job_id = proc.stdout.strip().split(";")[0]
        client = d.client()
        job = wait_for(
            lambda: (j := client.job(job_id))["state"] == "COMPLETED" and j["usage"] and j,
            "the job to complete and be recorded",
            timeout=120,
        )
        (attempt,) = job["attempts"]
        elapsed = attempt["ended_at"] - attempt["started_at"]
        assert elapsed >= 2

        engine = make_engine(d.db_url)
        try:
            with session(engine, write=False) as s:
                (row,) = s.exec(select(LedgerEntry).where(LedgerEntry.job_id == job_id)).all()
        finally:
            engine.dispose()
        site = load_config(d.config).site("alpha")
        power, prices = site.power, site.prices
        # 2 cores of a 2-core node: both cores' draw and the node's whole idle draw
        watts = (2 * power.core_w + power.idle_w_per_node) * power.pue
        assert (row.owner, row.site, row.partition, row.cpus) == ("alice", "alpha", "batch", 2)
        assert row.elapsed_s == pytest.approx(elapsed)
        assert row.energy_kwh == pytest.approx(watts * elapsed / 3.6e6)
        assert row.cost == pytest.approx(2 * prices.core_hour * elapsed / 3600)
        assert row.currency == prices.currency and row.energy_source == "model"
        # the testbed's synthetic DE day: 450 or 100 g/kWh, a mean of them over the run
        assert row.carbon_g_per_kwh is not None and 100 <= row.carbon_g_per_kwh <= 450
        assert row.co2_g == pytest.approx(row.energy_kwh * row.carbon_g_per_kwh)
        assert row.carbon_stale is False
        assert attempt["usage"]["cost"] == pytest.approx(row.cost)

        shown = as_user("alice", d, "hq", job_id)
        assert shown.returncode == 0 and "Wh" in shown.stdout, shown.stderr
        rep = as_user("alice", d, "hctl", "report", "--by", "site", "--since", "1h", "--json")
        assert rep.returncode == 0, rep.stderr
        groups = {g["key"]: g for g in json.loads(rep.stdout)["report"]["groups"]}
        assert groups["alpha"]["attempts"] == 1
        assert groups["alpha"]["energy_kwh"] == pytest.approx(row.energy_kwh)
