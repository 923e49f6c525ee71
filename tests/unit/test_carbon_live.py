"""Live carbon-aware placement in the daemon: outlook, candidates, holds for low carbon.

The in-memory sites of tests/unit/memory_site.py play Slurm. Forecasts are put into the daemon's
outlook cache directly (points one second apart), so a hold lasts about two seconds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pytest

from hyperion.carbon.http import FetchError
from hyperion.carbon.providers import RemoteProvider
from hyperion.carbon.series import HOUR, IntensityPoint
from hyperion.config import load_config
from hyperion.daemon.carbon import CarbonOutlooks, SiteOutlook
from hyperion.daemon.federation import Federation
from hyperion.errors import HyperionError, JobSpecError
from hyperion.placement.policy import Candidate, Decision, Policy
from hyperion.state import repo
from hyperion.state.db import session
from hyperion.types import JobRequest
from tests.unit.memory_site import ALICE, CONFIG, SCRIPT, MemorySite

LOW_AT = 2.0  # about this many seconds from now: the greener window of the forecast below


def body(*argv: str, **extra: Any) -> dict[str, Any]:
    return {
        "argv": ["--ntasks=1", "--time=0:01", *argv],
        "script": SCRIPT,
        "env": {"PATH": "/bin"},
        "cwd": "/tmp",
        "site": "alpha",
        "policy": "carbon-aware",
        **extra,
    }


def dip(fed: Federation, now: float, *, flat: bool = False, stale: bool = False) -> None:
    """alpha: 400 g/kWh now, 100 from LOW_AT s on for 3 s (flat: 100 throughout)."""
    pts = tuple(
        (now - 0.5 + i, 100.0 if flat or LOW_AT <= i - 0.5 < LOW_AT + 3 else 400.0)
        for i in range(48)
    )
    with fed.carbon._lock:
        fed.carbon._cache["alpha"] = SiteOutlook("alpha", "DE", "test", pts, stale, None, now)


def sent(fed: Federation) -> int:
    return len(fed.conns["alpha"].submits)  # type: ignore[attr-defined]


# -- outlook --------------------------------------------------------------------------------


class Flaky(RemoteProvider):
    """A remote provider whose source can go down; counts its fetches."""

    name = "flaky"

    def __init__(self) -> None:
        super().__init__(ttl_s=0.0)
        self.down = False
        self.fetches = 0
        self.value = 300.0

    def check_zone(self, zone: str) -> None:
        return None

    def fetch_history(self, zone: str, start: float, end: float) -> list[IntensityPoint]:
        self.fetches += 1
        if self.down:
            raise FetchError("connection refused")
        first = start - start % HOUR
        return [
            IntensityPoint(first + h * HOUR, self.value)
            for h in range(int((end - first) // HOUR) + 1)
        ]

    def fetch_forecast(self, zone: str, now: float) -> list[IntensityPoint]:
        if self.down:
            raise FetchError("connection refused")
        return []


def test_outlook_is_cached_refreshed_and_marked_stale() -> None:
    config = load_config(CONFIG, env={"HYPERION_TESTBED_DIR": "/tmp"})
    flaky = Flaky()
    out = CarbonOutlooks(config, lambda *a: None, providers={"testbed": flaky})
    assert out.get("alpha") is None  # nothing before the first refresh
    out.refresh()
    first = out.get("alpha")
    assert first is not None and not first.stale and first.at(time.time()) == 300.0
    calls = flaky.fetches
    assert out.get("alpha") is first and flaky.fetches == calls  # reads never call the provider
    flaky.value = 250.0
    out.refresh()
    again = out.get("alpha")
    assert again is not None and again.at(time.time()) == 250.0 and flaky.fetches > calls
    flaky.down = True
    out.refresh()
    stale = out.get("alpha")
    assert stale is not None and stale.stale and stale.at(time.time()) == 250.0
    assert stale.error and "refused" in stale.error


def test_testbed_replay_runs_360_times_faster(fed: Federation) -> None:
    fed.refresh_snapshots()
    seen = fed.carbon.get("alpha")
    assert seen is not None and seen.zone == "DE" and not seen.stale
    gaps = {round(b[0] - a[0], 6) for a, b in zip(seen.points, seen.points[1:], strict=False)}
    assert gaps == {10.0}  # one series hour = 10 s of wall time
    assert {v for _, v in seen.points} == {450.0, 100.0}
    sites = {s["name"]: s for s in fed.sites()}
    assert sites["alpha"]["carbon"]["g_per_kwh"] in (450.0, 100.0)
    assert sites["alpha"]["carbon"]["stale"] is False


def test_ledger_intensity_is_the_mean_over_the_run(fed: Federation) -> None:
    src = fed.carbon.sources["alpha"]
    ts = src.provider.time_scale
    day = ts.to_wall(1704067200.0 + 10 * 86400)  # a replayed 00:00 UTC: 5 h at 450, 3 h at 100
    got = fed.ledger.intensity("alpha", day, day + 80.0)  # 8 series hours
    assert got is not None
    assert got[0] == pytest.approx((5 * 450 + 3 * 100) / 8) and got[1] is False
    assert fed.ledger.intensity("alpha", day + 55, day + 75)[0] == pytest.approx(100.0)  # type: ignore[index]


# -- candidates -----------------------------------------------------------------------------


class Spy(Policy):
    name = "spy"
    needs_forecast = True

    def __init__(self, not_before: float | None = None) -> None:
        self.seen: Sequence[Candidate] = ()
        self.not_before = not_before

    def decide(self, job: JobRequest, candidates: Sequence[Candidate], now: float) -> Decision:
        self.seen = candidates
        c = candidates[0]
        return Decision(c.site, c.partition, "spy", {c.site: 0.0}, self.not_before)


def test_place_fills_carbon_and_energy_from_the_cache(fed: Federation) -> None:
    now = time.time()
    dip(fed, now, stale=True)
    spy = Spy()
    fed._policies["spy"] = (spy, "spy")
    _, out = fed.submit(ALICE, body(policy="spy", test_only=True))
    (c,) = spy.seen
    assert c.carbon_g_per_kwh == 400.0 and c.carbon_forecast is not None
    assert c.carbon_forecast[0][1] == 400.0 and len(c.carbon_forecast) == 48
    # alpha: 1 core x 10 W + half a 2-core node's 50 W idle, PUE 1.2, for the 1 s limit
    assert c.est_energy_kwh == pytest.approx((10 + 25) * 1.2 * 1 / 3.6e6)
    (row,) = [r for r in out["decision"]["candidates"] if r["site"] == "alpha"]
    assert row["carbon_now"] == 400.0 and row["carbon_stale"] is True


def test_a_policy_never_delays_a_job_without_flexibility(fed: Federation) -> None:
    fed._policies["spy"] = (Spy(not_before=time.time() + 3600), "spy")
    status, out = fed.submit(ALICE, body(policy="spy"))
    assert status == 201 and out["job"]["site"] == "alpha" and out["job"]["not_before"] is None
    assert sent(fed) == 1


# -- flexibility ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "argv", "named"),
    [
        ({"carbon_flex": "-1h"}, (), "--carbon-flex"),
        ({"carbon_flex": "soon"}, (), "--carbon-flex"),
        ({}, ("--deadline=2001-01-01T00:00",), "--deadline"),
        ({}, ("--deadline=yesterday-ish",), "--deadline"),
    ],
)
def test_bad_flexibility_is_refused_naming_the_option(
    fed: Federation, extra: dict[str, Any], argv: tuple[str, ...], named: str
) -> None:
    with pytest.raises(JobSpecError) as err:
        fed.submit(ALICE, body(*argv, **extra))
    assert named in err.value.message and sent(fed) == 0


def test_hsub_checks_carbon_flex_before_calling_the_daemon() -> None:
    from hyperion.cli.hsub import parse_args

    assert parse_args(["--carbon-flex=90m", "--wrap=true"]).carbon_flex == "90m"
    assert "--carbon-flex" not in " ".join(parse_args(["--carbon-flex", "6h", "x.sh"]).argv)
    with pytest.raises(HyperionError, match="--carbon-flex"):
        parse_args(["--carbon-flex=-5m", "--wrap=true"])


def test_deadline_keeps_its_instant_when_slurm_gets_it_later(fed: Federation) -> None:
    dip(fed, time.time(), flat=True)
    _, out = fed.submit(ALICE, body("--deadline=now+1hour"))
    (sub,) = fed.conns["alpha"].submits  # type: ignore[attr-defined]
    left = int(sub.option("deadline").removeprefix("now+").removesuffix("seconds"))  # type: ignore[union-attr]
    assert 3590 <= left <= 3600


# -- holds ----------------------------------------------------------------------------------


def held(fed: Federation) -> dict[str, Any]:
    dip(fed, time.time())
    status, out = fed.submit(ALICE, body(carbon_flex="1m"))
    job = out["job"]
    assert status == 201 and job["state"] == "QUEUED" and sent(fed) == 0
    assert job["reason"].startswith("held for low carbon until ")
    assert "site alpha, forecast 100 g/kWh vs 400 now" in job["reason"]
    return job


def test_test_only_shows_the_hold_and_the_intensity_at_the_start(fed: Federation) -> None:
    now = time.time()
    dip(fed, now)
    _, out = fed.submit(ALICE, body(carbon_flex="1m", test_only=True))
    d = out["decision"]
    assert d["not_before"] == pytest.approx(now + LOW_AT + 0.5, abs=0.01)  # the dip's first point
    assert d["hold"].startswith("held for low carbon")
    (row,) = [r for r in d["candidates"] if r["site"] == "alpha"]
    assert (row["carbon_now"], row["carbon_at_start"]) == (400.0, 100.0)
    assert sent(fed) == 0


def test_held_job_is_released_at_not_before_not_earlier(fed: Federation) -> None:
    job = held(fed)
    assert job["not_before"] > time.time()
    assert fed.dispatch() == 0 and sent(fed) == 0  # too early
    time.sleep(max(0.0, job["not_before"] - time.time()) + 0.05)
    assert fed.dispatch() == 1
    (sub,) = fed.conns["alpha"].submits  # type: ignore[attr-defined]
    assert time.time() >= job["not_before"]
    view = fed.job_view(job["id"])
    assert view["state"] == "SUBMITTED" and view["site"] == "alpha"
    assert "queue" in view["attempts"][0]["placed_reason"]


def test_release_replans_with_fresh_forecasts(fed: Federation) -> None:
    job = held(fed)
    with session(fed.engine) as s:  # the hold's time has come...
        row = repo.get_job(s, job["id"])
        assert row is not None
        row.not_before = time.time() - 1
    dip(fed, time.time(), flat=False)  # ...but the forecast now has the dip 2 s ahead again
    assert fed.dispatch() == 0 and sent(fed) == 0
    again = fed.job_view(job["id"])
    assert again["state"] == "QUEUED" and again["not_before"] > time.time()
    dip(fed, time.time(), flat=True)  # green now: it goes at release
    with session(fed.engine) as s:
        row = repo.get_job(s, job["id"])
        assert row is not None
        row.not_before = time.time() - 1
    assert fed.dispatch() == 1 and sent(fed) == 1


def test_hold_never_outlasts_the_flexibility(fed: Federation) -> None:
    job = held(fed)
    with session(fed.engine) as s:  # submitted long ago: its minute of flexibility is gone
        row = repo.get_job(s, job["id"])
        assert row is not None
        row.created_at, row.not_before = time.time() - 120, time.time() - 1
    dip(fed, time.time())
    assert fed.dispatch() == 1 and sent(fed) == 1


def test_cancel_of_a_carbon_held_job(fed: Federation) -> None:
    job = held(fed)
    out = fed.cancel(ALICE, job["id"])
    assert out["state"] == "CANCELLED" and not out["attempts"]
    time.sleep(max(0.0, job["not_before"] - time.time()) + 0.05)
    assert fed.dispatch() == 0 and sent(fed) == 0


def test_carbon_held_job_survives_a_restart(fed: Federation) -> None:
    job = held(fed)
    fed.close()
    conns = {name: MemorySite(name) for name in fed.config.sites}
    again = Federation(fed.config, fed.engine, lambda *a, **k: None, connectors=conns)  # type: ignore[arg-type]
    try:
        assert again.dispatch() == 0  # still held
        assert 0 < again.dispatch_wait() <= LOW_AT + 0.6
        time.sleep(max(0.0, job["not_before"] - time.time()) + 0.05)
        dip(again, time.time(), flat=True)
        assert again.dispatch() == 1 and len(conns["alpha"].submits) == 1
    finally:
        again.close()


def test_a_decision_on_stale_carbon_data_says_so(fed: Federation) -> None:
    now = time.time()
    dip(fed, now, stale=True)
    _, out = fed.submit(ALICE, body(policy="greenest", test_only=True))
    assert "carbon data stale for alpha" in out["decision"]["reason"]
    _, out = fed.submit(ALICE, body(policy="earliest-start", test_only=True))
    assert "stale" not in out["decision"]["reason"]  # it does not weigh carbon
    dip(fed, now, stale=False)
    _, out = fed.submit(ALICE, body(policy="greenest", test_only=True))
    assert "stale" not in out["decision"]["reason"]
