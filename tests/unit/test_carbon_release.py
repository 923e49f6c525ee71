"""Carbon-held jobs at release: pins, budgets, no busy loop; the ledger when a provider is down
(regressions found in review)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from hyperion.carbon.series import CarbonError
from hyperion.config import load_config
from hyperion.config.schema import AccountBudget, Budgets
from hyperion.daemon.carbon import CarbonOutlooks, SiteOutlook
from hyperion.daemon.federation import Federation
from tests.unit.memory_site import ALICE, CONFIG, SCRIPT
from tests.unit.test_carbon_live import Flaky


def outlook(fed: Federation, site: str, now: float, value: float, dip: bool = False) -> None:
    """``site``: ``value`` g/kWh, or with ``dip`` 100 g/kWh 2-5 s from now (points 1 s apart)."""
    pts = tuple(
        (now - 0.5 + i, 100.0 if dip and 2.0 <= i - 0.5 < 5.0 else value) for i in range(48)
    )
    with fed.carbon._lock:
        fed.carbon._cache[site] = SiteOutlook(site, "DE", "test", pts, False, None, now)


def body(*argv: str, **extra: Any) -> dict[str, Any]:
    return {
        "argv": ["--ntasks=1", "--time=0:01", *argv],
        "script": SCRIPT,
        "env": {"PATH": "/bin"},
        "cwd": "/tmp",
        "policy": "carbon-aware",
        **extra,
    }


def held_until_due(fed: Federation, b: dict[str, Any]) -> dict[str, Any]:
    _, out = fed.submit(ALICE, b)
    job = out["job"]
    assert job["state"] == "QUEUED" and job["not_before"], job
    time.sleep(max(0.0, job["not_before"] - time.time()) + 0.05)
    return job


def test_a_due_job_that_cannot_go_does_not_spin_the_dispatch_loop(fed: Federation) -> None:
    outlook(fed, "alpha", time.time(), 400.0, dip=True)
    held_until_due(fed, body(site="alpha", carbon_flex="1m"))
    fed.set_drained("alpha", True)
    assert fed.dispatch() == 0
    assert fed.dispatch_wait() == pytest.approx(fed.settings.poll_interval_s)


def test_a_pinned_job_keeps_its_site_at_release_with_late_binding(fed: Federation) -> None:
    fed.settings = fed.settings.model_copy(update={"late_binding": True, "site_backlog": 0.0})
    now = time.time()
    for site in fed.config.sites:
        outlook(fed, site, now, 50.0)
    outlook(fed, "alpha", now, 400.0, dip=True)
    job = held_until_due(fed, body(site="alpha", carbon_flex="1m"))
    now = time.time()
    outlook(fed, "alpha", now, 400.0)
    for site in ("beta", "gamma"):
        outlook(fed, site, now, 10.0)  # greener elsewhere now: the pin still holds
    fed.dispatch()
    assert fed.job_view(job["id"])["site"] == "alpha"


def test_the_budget_is_checked_again_at_release(fed: Federation) -> None:
    fed.config = fed.config.model_copy(
        update={"budgets": Budgets(accounts={"proj": AccountBudget(amount=0.00005)})}
    )
    now = time.time()
    for site in fed.config.sites:
        outlook(fed, site, now, 500.0)
    outlook(fed, "alpha", now, 500.0, dip=True)
    _, plan = fed.submit(ALICE, body("--account=proj", carbon_flex="1m", test_only=True))
    over = {c["site"] for c in plan["decision"]["candidates"] if "budget" in (c["why_not"] or "")}
    assert "gamma" in over  # the cloud site is too dear for this account
    job = held_until_due(fed, body("--account=proj", carbon_flex="1m"))
    now = time.time()
    for site in ("alpha", "beta"):
        outlook(fed, site, now, 400.0)
    outlook(fed, "gamma", now, 10.0)  # the greenest at release, still over budget
    fed.dispatch()
    view = fed.job_view(job["id"])
    assert view["site"] in {"alpha", "beta"} and view["state"] == "SUBMITTED"


def test_the_ledger_says_why_co2_is_missing_when_the_provider_is_down() -> None:
    config = load_config(CONFIG, env={"HYPERION_TESTBED_DIR": "/tmp"})
    flaky = Flaky()
    flaky.down = True  # down from the start: nothing known
    out = CarbonOutlooks(config, lambda *a: None, providers={"testbed": flaky})
    with pytest.raises(CarbonError, match="connection refused"):
        out.intensity("alpha", time.time() - 600, time.time())


def test_a_bare_number_as_carbon_flex_is_refused(fed: Federation) -> None:
    from hyperion.errors import JobSpecError

    with pytest.raises(JobSpecError, match="duration string"):
        fed.submit(ALICE, body(carbon_flex=3600))


def test_a_pinned_held_job_waits_for_its_site_after_a_transient_error(fed: Federation) -> None:
    from hyperion.errors import SiteUnreachable

    outlook(fed, "alpha", time.time(), 400.0, dip=True)
    job = held_until_due(fed, body(site="alpha", carbon_flex="1m"))
    outlook(fed, "alpha", time.time(), 100.0)
    conn = fed.conns["alpha"]
    real = conn.submit

    def unreachable(sub: Any) -> str:
        raise SiteUnreachable("alpha", "ssh: connection reset")

    conn.submit = unreachable  # type: ignore[method-assign]
    fed.dispatch()
    view = fed.job_view(job["id"])
    assert view["state"] != "REJECTED" and view["attempts"][-1]["state"] == "INTENT"
    assert view["site"] == "alpha"
    conn.submit = real  # type: ignore[method-assign]
    fed.reconcile()  # recovery sends the INTENT (same key) once alpha answers
    view = fed.job_view(job["id"])
    assert view["state"] == "SUBMITTED" and len(view["attempts"]) == 1
    assert len(conn.submits) == 1  # type: ignore[attr-defined]


def test_a_failed_provider_is_not_asked_again_at_once() -> None:
    from hyperion.carbon.providers import RETRY_AFTER_S

    clock = [10_000.0]
    flaky = Flaky()
    flaky.clock = lambda: clock[0]
    flaky.down = True
    assert flaky.history("DE", 0.0, 7200.0).stale and flaky.fetches == 1
    assert flaky.history("DE", 0.0, 7200.0).stale and flaky.fetches == 1  # not asked again
    flaky.down = False
    clock[0] += RETRY_AFTER_S + 1
    again = flaky.history("DE", 0.0, 7200.0)
    assert not again.stale and again.points and flaky.fetches == 2
