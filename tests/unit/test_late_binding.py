"""Late binding: jobs wait in Hyperion's queue while every candidate site has a full backlog.

The in-memory sites of test_federation_races play Slurm: a submitted job stays PENDING there
until the test says it runs. Budgets on the testbed config: alpha 8, beta 6, gamma 8 CPUs.
"""

from __future__ import annotations

from typing import Any

import pytest

from hyperion.daemon.federation import Federation
from hyperion.errors import SiteUnreachable
from hyperion.sites.base import JobStatus
from hyperion.state import repo
from hyperion.state.db import session
from hyperion.types import JobState
from tests.unit.memory_site import ALICE, SCRIPT, MemorySite

BUDGET = {"alpha": 8, "beta": 6, "gamma": 8}


def body(ntasks: int = 2, argv_extra: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "argv": [f"--ntasks={ntasks}", "--time=5", *([argv_extra] if argv_extra else [])],
        "script": SCRIPT,
        "env": {"PATH": "/bin"},
        "cwd": "/tmp",
        **extra,
    }


def sites(fed: Federation) -> dict[str, MemorySite]:
    return fed.conns  # type: ignore[return-value]


def submit(fed: Federation, n: int, ntasks: int = 2, **extra: Any) -> list[dict[str, Any]]:
    return [fed.submit(ALICE, body(ntasks, **extra))[1]["job"] for _ in range(n)]


def start_all(fed: Federation, site: str) -> None:
    """Slurm starts every pending job of ``site``; the daemon's poll sees it."""
    conn = sites(fed)[site]
    for jid, st in list(conn.queue.items()):
        if st.state is JobState.PENDING:
            conn.queue[jid] = JobStatus(
                jid, JobState.RUNNING, "RUNNING", st.user, st.name, st.partition,
                st.comment, st.submit_time, st.submit_time, None, None,
            )  # fmt: skip
    fed.poll()


def submitted(fed: Federation) -> dict[str, int]:
    return {name: len(conn.submits) for name, conn in sites(fed).items()}


def test_jobs_beyond_every_sites_backlog_wait_in_hyperion(fed: Federation) -> None:
    jobs = submit(fed, 12)
    # 2-CPU jobs: 4 fit alpha's and gamma's budget, 3 beta's: 11 go at once
    assert submitted(fed) == {"alpha": 4, "beta": 3, "gamma": 4}
    assert [j["state"] for j in jobs[:11]] == ["SUBMITTED"] * 11
    held = jobs[11]
    assert held["state"] == "QUEUED" and held["site"] is None
    assert "held by Hyperion" in held["reason"]
    assert fed.dispatch() == 0  # nothing has started: still no room


def test_held_jobs_go_oldest_first_where_jobs_started(fed: Federation) -> None:
    submit(fed, 11)
    first, second = submit(fed, 2)
    start_all(fed, "beta")  # beta's 3 jobs run: its backlog is empty again
    assert fed.dispatch() == 2
    a, b = fed.job_view(first["id"]), fed.job_view(second["id"])
    assert (a["site"], b["site"]) == ("beta", "beta")
    assert a["reason"] is None and a["state"] == "SUBMITTED"
    assert "in Hyperion's queue" in a["attempts"][0]["placed_reason"]
    assert a["attempts"][0]["created_at"] <= b["attempts"][0]["created_at"]


def test_a_young_job_waits_behind_older_held_jobs(fed: Federation) -> None:
    submit(fed, 11)
    old = submit(fed, 1, ntasks=4)[0]
    start_all(fed, "beta")
    # the young 1-CPU job would fit somewhere, but older jobs wait: it queues behind them
    young = submit(fed, 1, ntasks=1)[0]
    assert young["state"] == "QUEUED"
    assert fed.dispatch() == 2
    assert fed.job_view(old["id"])["site"] == "beta"  # an empty backlog takes any job


def test_a_job_without_room_blocks_its_sites_for_younger_jobs(fed: Federation) -> None:
    submit(fed, 11)
    big = submit(fed, 1, ntasks=4)[0]
    small = submit(fed, 1, ntasks=1)[0]
    # gamma starts 3 of its 4 jobs: 2 CPUs of backlog remain, room for 6 more
    conn = sites(fed)["gamma"]
    for jid in list(conn.queue)[:3]:
        st = conn.queue[jid]
        conn.queue[jid] = JobStatus(
            jid, JobState.RUNNING, "RUNNING", st.user, st.name, st.partition, st.comment,
            st.submit_time, st.submit_time, None, None,
        )  # fmt: skip
    fed.poll()
    assert fed.dispatch() == 2  # the big job fits the room first, then the small one
    assert fed.job_view(big["id"])["site"] == "gamma"
    assert fed.job_view(small["id"])["site"] == "gamma"
    # gamma has room for 1 CPU now: a held 4-CPU job blocks the 1-CPU one behind it
    big2, small2 = submit(fed, 1, ntasks=4)[0], submit(fed, 1, ntasks=1)[0]
    assert fed.dispatch() == 0
    assert fed.job_view(big2["id"])["state"] == fed.job_view(small2["id"])["state"] == "QUEUED"


def test_cancelling_a_held_job_ends_it_without_slurm(fed: Federation) -> None:
    submit(fed, 11)
    held = submit(fed, 1)[0]
    before = submitted(fed)
    view = fed.cancel(ALICE, held["id"])
    assert view["state"] == "CANCELLED" and view["ended_at"] is not None
    start_all(fed, "alpha")
    assert fed.dispatch() == 0
    assert submitted(fed) == before
    assert all(not conn.cancels for conn in sites(fed).values())


def test_a_pinned_job_goes_to_its_site_at_once(fed: Federation) -> None:
    submit(fed, 11)
    pinned = submit(fed, 1, site="alpha")[0]
    assert pinned["state"] == "SUBMITTED" and pinned["site"] == "alpha"


def test_backlog_zero_sends_every_job_at_once(fed: Federation) -> None:
    fed.settings = fed.settings.model_copy(update={"site_backlog": 0.0})
    jobs = submit(fed, 15)
    assert all(j["state"] == "SUBMITTED" for j in jobs)
    assert sum(submitted(fed).values()) == 15


def test_test_only_says_the_job_would_be_held(fed: Federation) -> None:
    submit(fed, 11)
    status, out = fed.submit(ALICE, body(test_only=True))
    assert status == 200
    assert "held by Hyperion" in out["decision"]["hold"]
    status, out = fed.submit(ALICE, body(site="alpha", test_only=True))
    assert out["decision"]["hold"] is None


def test_held_jobs_wait_while_their_sites_are_drained(fed: Federation) -> None:
    submit(fed, 11)
    held = submit(fed, 1)[0]
    for name in BUDGET:
        fed.set_drained(name, True)
    for name in BUDGET:
        start_all(fed, name)
    assert fed.dispatch() == 0
    assert fed.job_view(held["id"])["state"] == "QUEUED"
    fed.set_drained("gamma", False)
    assert fed.dispatch() == 1
    assert fed.job_view(held["id"])["site"] == "gamma"


@pytest.mark.parametrize("ntasks", [1, 3])
def test_backlog_counts_cpus_of_jobs_not_started(fed: Federation, ntasks: int) -> None:
    submit(fed, 3, ntasks=ntasks)
    with session(fed.engine, write=False) as s:
        backlog = repo.backlog_cpus_by_site(s)
    assert sum(backlog.values()) == 3 * ntasks
    for name in BUDGET:
        start_all(fed, name)
    with session(fed.engine, write=False) as s:
        assert repo.backlog_cpus_by_site(s) == {}


@pytest.mark.parametrize("option", ["--hold", "--begin=now+1hour", "--dependency=afterok:1"])
def test_deferred_jobs_go_at_once_and_do_not_fill_a_backlog(fed: Federation, option: str) -> None:
    deferred = [fed.submit(ALICE, body(argv_extra=option))[1]["job"] for _ in range(12)]
    assert all(j["state"] == "SUBMITTED" for j in deferred)  # none held by Hyperion
    with session(fed.engine, write=False) as s:
        assert repo.backlog_cpus_by_site(s) == {}
    assert sum(1 for j in submit(fed, 11) if j["state"] == "SUBMITTED") == 11


def test_a_job_is_held_when_the_only_site_with_room_fails(
    fed: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(fed, 4, site="alpha")  # pinned jobs fill alpha's and beta's backlog
    submit(fed, 3, site="beta")

    def unreachable(sub: Any) -> Any:
        raise SiteUnreachable("gamma", "no answer")

    monkeypatch.setattr(sites(fed)["gamma"], "estimate_start", unreachable)
    job = submit(fed, 1)[0]
    assert job["state"] == "QUEUED"
    assert "could not take it" in job["reason"] and "no answer" in job["reason"]
    assert not sites(fed)["gamma"].submits
