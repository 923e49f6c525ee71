"""The ledger: hand-computed energy, cost and CO2 (cores, GPUs, cloud nodes with boot, spot),
its recording through the federation, and the migration that adds it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from hyperion.config import HyperionConfig
from hyperion.config.schema import PartitionConfig, Prices
from hyperion.daemon.ledger import Intensity, Usage, measure, stored_request
from hyperion.placement.cost import job_cost
from hyperion.state import ledger, repo
from hyperion.state.db import make_engine, open_database, session
from hyperion.state.migrations import MIGRATIONS, current_version, migrate
from hyperion.state.models import AttemptState
from hyperion.types import JobRequest, JobState
from tests.unit.ledger_sites import config, federation, finished_attempt
from tests.unit.memory_site import ALICE, SCRIPT, MemorySite


@pytest.fixture
def cfg(tmp_path: Path) -> HyperionConfig:
    return config(tmp_path)


def _measure(
    cfg: HyperionConfig,
    site: str,
    part: str,
    req: JobRequest,
    seconds: float,
    intensity: Intensity | None,
    gpu_kwh: float | None = None,
) -> Usage:
    sc = cfg.site(site)
    return measure(
        req, sc, sc.partition(part), 1000.0, 1000.0 + seconds, intensity, gpu_kwh=gpu_kwh
    )


def test_cores_energy_cost_and_co2(cfg: HyperionConfig) -> None:
    # 2 cores x 10 W plus the whole 2-core node's 50 W idle, PUE 1.2, for half an hour
    u = _measure(cfg, "cpu", "batch", JobRequest(ntasks=2), 1800, intensity=Intensity(300, False))
    assert u.energy_kwh == pytest.approx((2 * 10 + 50) * 1.2 * 1800 / 3.6e6)  # 0.042 kWh
    assert u.energy_kwh == pytest.approx(0.042)
    assert u.cost == pytest.approx(0.5 * 2 * 0.04) and u.currency == "EUR"
    assert u.co2_g == pytest.approx(0.042 * 300) and u.carbon_stale is False
    assert u.core_hours == pytest.approx(1.0) and u.billed_s == 1800 and u.nodes == 1
    # one core of a two-core node pays half the node's idle draw
    half = _measure(cfg, "cpu", "batch", JobRequest(ntasks=1), 3600, intensity=None)
    assert half.energy_kwh == pytest.approx((10 + 25) * 1.2 / 1000)
    assert half.co2_g is None and half.carbon_g_per_kwh is None  # no carbon source: not invented


def test_gpus_modelled_and_measured(cfg: HyperionConfig) -> None:
    req = JobRequest(ntasks=2, gpus=2)
    u = _measure(cfg, "gpu", "gpu", req, 3600, intensity=Intensity(50, True))
    # 2 x 5 W + 2 x 400 W + half a node (2 of 4 GPUs) x 200 W, for an hour
    assert u.energy_kwh == pytest.approx((10 + 800 + 100) / 1000)
    assert u.cost == pytest.approx(2 * 0.01 + 2 * 2.0)
    assert u.co2_g == pytest.approx(0.91 * 50) and u.carbon_stale is True
    assert u.energy_source == "model"
    m = _measure(cfg, "gpu", "gpu", req, 3600, intensity=None, gpu_kwh=0.5)
    assert m.energy_kwh == pytest.approx(0.11 + 0.5) and m.energy_source == "measured"


def test_cloud_nodes_are_billed_with_their_boot(cfg: HyperionConfig) -> None:
    req = JobRequest(ntasks=6)  # 6 cores on 4-core nodes: 2 whole nodes
    u = _measure(cfg, "cloud", "burst", req, 1800, intensity=None)
    assert u.nodes == 2 and u.billed_s == 1800 + 120
    assert u.cost == pytest.approx((1800 + 120) / 3600 * 2 * 0.5) and u.currency == "USD"
    assert u.energy_kwh == pytest.approx((6 * 10 * 1800 + 2 * 40 * (1800 + 120)) / 3.6e6)
    predicted = job_cost(JobRequest(ntasks=6, time_limit_s=3600), *_prices(cfg, "cloud", "burst"))
    assert predicted == pytest.approx((3600 + 120) / 3600 * 2 * 0.5)
    site = cfg.site("cloud")
    site = site.model_copy(update={"prices": site.prices.model_copy(update={"boot_billed": False})})
    v = measure(req, site, site.partition("burst"), 0.0, 1800.0, None)
    assert v.cost == pytest.approx(0.5 * 2 * 0.5) and v.billed_s == 1800


def _prices(cfg: HyperionConfig, site: str, part: str) -> tuple[Prices, PartitionConfig]:
    sc = cfg.site(site)
    p = sc.partition(part)
    assert p is not None
    return sc.prices, p


def test_spot_discount_and_preemption_rate(cfg: HyperionConfig) -> None:
    req = JobRequest(ntasks=4, time_limit_s=7200)
    u = _measure(cfg, "cpu", "spot", req, 7200, intensity=None)
    assert u.cost == pytest.approx(2 * 4 * 0.04 * (1 - 0.25))  # billed: 25% off
    assert u.energy_kwh == pytest.approx(4 * 20 * 2 / 1000)  # the partition's own power model
    # predicted: restarts from scratch after Poisson preemptions at 0.1/h over 2 h
    factor = math.expm1(0.2) / 0.2
    assert job_cost(req, *_prices(cfg, "cpu", "spot")) == pytest.approx(0.24 * factor)
    assert job_cost(req, *_prices(cfg, "cpu", "batch")) == pytest.approx(2 * 4 * 0.04)


def test_stored_request_ignores_extra_keys() -> None:
    req = stored_request({"ntasks": 3, "gpus": 1, "deferred": True, "future_field": 1})
    assert (req.cpus, req.gpus) == (3, 1)
    assert stored_request(None) == JobRequest()


def test_recorded_once_when_an_attempt_ends_and_shown_in_the_job(tmp_path: Path) -> None:
    with federation(tmp_path) as fed:
        fed.ledger.intensity = lambda site, start, end: (250.0, site == "cpu")
        body = {"argv": ["--time=60", "-n", "2"], "script": SCRIPT, "cwd": "/tmp", "site": "cpu"}
        _, payload = fed.submit(ALICE, body)
        job_id = payload["job"]["id"]
        cpu: MemorySite = fed.conns["cpu"]  # type: ignore[assignment]
        (slurm_id,) = cpu.queue
        st = cpu.queue[slurm_id]
        cpu.queue[slurm_id] = st.__class__(
            slurm_id, JobState.COMPLETED, "COMPLETED", "alice", "x", "batch", st.comment,
            st.submit_time, 5000.0, 5000.0 + 1800, 0,
        )  # fmt: skip
        fed.poll()  # sees it end: records it
        with session(fed.engine, write=False) as s:
            (row,) = _rows(s)
        assert row.elapsed_s == 1800 and row.owner == "alice" and row.site == "cpu"
        assert row.energy_kwh == pytest.approx(0.042) and row.cost == pytest.approx(0.04)
        assert row.co2_g == pytest.approx(0.042 * 250) and row.carbon_stale is True
        assert fed.ledger.record_finished() == 0  # once only
        fed.reconcile()
        job = fed.job_view(job_id)
        assert job["usage"]["energy_kwh"] == pytest.approx(0.042)
        assert job["usage"]["cost"] == pytest.approx(0.04) and job["usage"]["currency"] == "EUR"
        (attempt,) = job["attempts"]
        assert attempt["usage"]["carbon_g_per_kwh"] == 250.0
        (listed,) = fed.list_jobs(ALICE, {})
        assert listed["usage"] == job["usage"]


def _rows(s: Session) -> list[ledger.LedgerEntry]:
    return list(s.exec(select(ledger.LedgerEntry)))


def test_only_attempts_that_ran_are_recorded(tmp_path: Path) -> None:
    with federation(tmp_path) as fed:
        ran = finished_attempt(fed.engine, state=AttemptState.CANCELLED)
        with session(fed.engine) as s:  # cancelled before it started: nothing to bill
            job = repo.create_job(s, owner="bob", owner_uid=1, spec={}, request={"ntasks": 1})
            a = repo.add_attempt(s, job, "cpu", "batch", "t", {})
            repo.set_attempt_state(s, a, AttemptState.CANCELLED)
        finished_attempt(fed.engine, site="gone", partition="x")  # site since removed
        assert fed.ledger.record_finished() == 2
        with session(fed.engine, write=False) as s:
            rows = {r.job_id: r for r in _rows(s)}
        assert ran in rows and rows[ran].cost == pytest.approx(0.04)
        gone = next(r for r in rows.values() if r.site == "gone")
        assert gone.cost is None and gone.energy_kwh is None and "no longer configured" in gone.note


def test_a_failing_carbon_source_leaves_co2_empty_with_a_note(tmp_path: Path) -> None:
    with federation(tmp_path) as fed:

        def broken(site: str, start: float, end: float) -> Intensity:
            raise RuntimeError("provider down")

        fed.ledger.intensity = broken
        finished_attempt(fed.engine)
        assert fed.ledger.record_finished() == 1
        with session(fed.engine, write=False) as s:
            (row,) = _rows(s)
        assert row.co2_g is None and row.cost is not None and "provider down" in row.note


def test_migration_adds_the_ledger_to_an_existing_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    eng = make_engine(url)
    # a database of a release without the ledger (later columns added, so the ORM can write)
    no_ledger = [m for m in MIGRATIONS if m.version != 2]
    assert migrate(eng, no_ledger) == [m.version for m in no_ledger]
    finished_attempt(eng)
    eng.dispose()
    eng = open_database(url)
    try:
        assert current_version(eng) == MIGRATIONS[-1].version >= 2
        assert "ledger" in sa.inspect(eng).get_table_names()
        with session(eng, write=False) as s:
            assert len(repo.list_jobs(s)) == 1 and _rows(s) == []
    finally:
        eng.dispose()
