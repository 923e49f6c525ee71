"""Carbon-aware time shifting on the real testbed.

The testbed replays a synthetic day per zone 360x faster than wall time (site-configs/
testbed.toml): alpha (DE) is at 450 gCO2/kWh for 50 s, then at 100 for 30 s, over and over. A
job with ``--carbon-flex`` submitted in a 450 phase is held in Hyperion's queue and starts in
Slurm at the next 100 phase, not before; a job without flexibility starts at once; both get
their CO2 in the ledger.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlmodel import select

from hyperion.state.db import make_engine, session
from hyperion.state.ledger import LedgerEntry

from .daemon import as_user, daemon, wait_for

COMMON = ("--parsable", "--site", "alpha", "--policy", "carbon-aware", "-n", "1", "--time=0:20")


def alpha_now(client: Any) -> float | None:
    sites = {s["name"]: s for s in client.sites()}
    carbon = sites["alpha"].get("carbon")
    return carbon["g_per_kwh"] if carbon else None


def submit(d: Any, *extra: str) -> str:
    proc = as_user("alice", d, "hsub", *COMMON, *extra, "--wrap", "sleep 4")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().split(";")[0]


def test_flexible_job_waits_for_the_low_carbon_hour(testbed: Path) -> None:
    with daemon(testbed) as d:
        client = d.client()
        # at the start of a high-carbon phase (50 s), not near its end: a slow machine may
        # otherwise submit after it ended, and nothing is held
        wait_for(lambda: alpha_now(client) == 100.0, "alpha in a low-carbon phase", timeout=90)
        wait_for(lambda: alpha_now(client) == 450.0, "alpha in a high-carbon phase", timeout=90)
        flex_id = submit(d, "--carbon-flex=2m", "-J", "hyd-test-carbon-flex")
        rigid_id = submit(d, "-J", "hyd-test-carbon-rigid")
        submitted = time.time()

        held = client.job(flex_id)
        assert held["state"] == "QUEUED", held
        assert held["reason"].startswith("held for low carbon until "), held["reason"]
        assert "site alpha, forecast 100 g/kWh vs 450 now" in held["reason"]
        not_before = held["not_before"]
        assert submitted < not_before <= submitted + 60

        rigid = wait_for(
            lambda: (j := client.job(rigid_id))["state"] == "COMPLETED" and j, "rigid job ends"
        )
        assert rigid["started_at"] - rigid["submitted_at"] < 15  # never delayed for carbon

        done = wait_for(
            lambda: (j := client.job(flex_id))["state"] == "COMPLETED" and j["usage"] and j,
            "the flexible job to run and be recorded",
            timeout=150,
        )
        (attempt,) = done["attempts"]
        assert attempt["submitted_at"] >= not_before  # sent to Slurm at the planned time
        # Slurm's start (whole seconds): at the planned hour, not before
        assert int(not_before) <= attempt["started_at"] <= not_before + 20
        # the run's mean intensity: the 100 phase (Slurm's start may be truncated into the
        # last second at 450)
        assert alpha_at(client, attempt) < 200

        engine = make_engine(d.db_url)
        try:
            with session(engine, write=False) as s:
                rows = {
                    r.job_id: r
                    for r in s.exec(
                        select(LedgerEntry).where(
                            LedgerEntry.job_id.in_([flex_id, rigid_id])  # type: ignore[attr-defined]
                        )
                    ).all()
                }
        finally:
            engine.dispose()
        flex_row = wait_row(rows, flex_id)
        assert flex_row.co2_g is not None and flex_row.co2_g > 0
        assert flex_row.carbon_g_per_kwh is not None and flex_row.carbon_g_per_kwh < 200
        assert flex_row.carbon_stale is False
        assert wait_row(rows, rigid_id).co2_g is not None


def alpha_at(client: Any, attempt: dict[str, Any]) -> float:
    """The intensity the attempt ran at, as the ledger recorded it."""
    return float(attempt["usage"]["carbon_g_per_kwh"])


def wait_row(rows: dict[str, LedgerEntry], job_id: str) -> LedgerEntry:
    row = rows.get(job_id)
    assert row is not None, f"no ledger row for {job_id}"
    return row
