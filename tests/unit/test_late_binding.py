"""Late binding: jobs wait in Hyperion's queue while no candidate site has room.

The in-memory sites of tests/unit/memory_site.py play Slurm: a job stays where the test puts it.
With ``site_backlog = 0`` a site's room is its largest partition: alpha 8, beta 6, gamma 8 CPUs,
counting Hyperion's jobs waiting or running there.
"""

from __future__ import annotations

from collections import Counter
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


@pytest.fixture
def late(fed: Federation) -> Federation:
    fed.settings = fed.settings.model_copy(
        update={"late_binding": True, "site_backlog": 0.0, "hold_bypass_s": 60.0}
    )
    return fed


def body(ntasks: int = 2, argv_extra: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "argv": [f"--ntasks={ntasks}", "--time=5", *([argv_extra] if argv_extra else [])],
        "script": SCRIPT,
        "env": {"PATH": "/bin"},
        "cwd": "/tmp",
        **extra,
    }


def sites(late: Federation) -> dict[str, MemorySite]:
    return late.conns  # type: ignore[return-value]


def submit(late: Federation, n: int, ntasks: int = 2, **extra: Any) -> list[dict[str, Any]]:
    return [late.submit(ALICE, body(ntasks, **extra))[1]["job"] for _ in range(n)]


def move(late: Federation, site: str, state: JobState, n: int | None = None) -> None:
    """Slurm moves (the first ``n``) live jobs of ``site`` to ``state``; the daemon polls."""
    conn = sites(late)[site]
    live = [j for j, st in conn.queue.items() if not st.state.is_final]
    for jid in live[:n]:
        st = conn.queue[jid]
        end = st.submit_time + 1 if state.is_final else None
        conn.queue[jid] = JobStatus(
            jid, state, state.value, st.user, st.name, st.partition, st.comment,
            st.submit_time, st.submit_time, end, 0 if end else None,
        )  # fmt: skip
    late.poll()


def submitted(late: Federation) -> dict[str, int]:
    return {name: len(conn.submits) for name, conn in sites(late).items()}


def test_jobs_beyond_every_sites_room_wait_in_hyperion(late: Federation) -> None:
    jobs = submit(late, 12)
    # 2-CPU jobs: 4 fit alpha and gamma, 3 beta: 11 go at once
    assert submitted(late) == {"alpha": 4, "beta": 3, "gamma": 4}
    assert [j["state"] for j in jobs[:11]] == ["SUBMITTED"] * 11
    held = jobs[11]
    assert held["state"] == "QUEUED" and held["site"] is None
    assert "held by Hyperion" in held["reason"]
    for name in BUDGET:
        move(late, name, JobState.RUNNING)
    assert late.dispatch() == 0  # running jobs still use the room


def test_held_jobs_go_oldest_first_where_jobs_ended(late: Federation) -> None:
    submit(late, 11)
    first, second = submit(late, 2)
    move(late, "beta", JobState.COMPLETED)  # beta's 3 jobs ended: its room is free again
    assert late.dispatch() == 2
    a, b = late.job_view(first["id"]), late.job_view(second["id"])
    assert (a["site"], b["site"]) == ("beta", "beta")
    assert a["reason"] is None and a["state"] == "SUBMITTED"
    assert "in Hyperion's queue" in a["attempts"][0]["placed_reason"]
    assert a["attempts"][0]["created_at"] <= b["attempts"][0]["created_at"]


def test_a_young_job_waits_behind_older_held_jobs(late: Federation) -> None:
    submit(late, 11)
    old = submit(late, 1, ntasks=4)[0]
    move(late, "beta", JobState.COMPLETED)
    # the young 1-CPU job would fit, but older jobs wait: it queues behind them
    young = submit(late, 1, ntasks=1)[0]
    assert young["state"] == "QUEUED"
    assert late.dispatch() == 2
    assert late.job_view(old["id"])["site"] == "beta"
    assert late.job_view(young["id"])["site"] == "beta"


def test_young_jobs_pass_a_job_without_room_until_it_has_waited_long(late: Federation) -> None:
    submit(late, 11)
    big = submit(late, 1, ntasks=4)[0]
    small = submit(late, 1, ntasks=1)[0]
    move(late, "gamma", JobState.COMPLETED, n=1)  # gamma: 6 of 8 CPUs used
    assert late.dispatch() == 1  # first fit: the small job passes the big one
    assert late.job_view(small["id"])["site"] == "gamma"
    assert late.job_view(big["id"])["state"] == "QUEUED"
    # once the big job has waited hold_bypass_s, younger jobs no longer pass it there
    late.settings = late.settings.model_copy(update={"hold_bypass_s": 0.0})
    small2 = submit(late, 1, ntasks=1)[0]
    move(late, "gamma", JobState.COMPLETED, n=1)  # 5 of 8 used: room for 1 job of 1 CPU
    assert late.dispatch() == 0
    assert late.job_view(small2["id"])["state"] == "QUEUED"
    move(late, "gamma", JobState.COMPLETED, n=1)  # 3 of 8 used: the big job fits
    assert late.dispatch() == 2
    assert late.job_view(big["id"])["site"] == "gamma"
    assert late.job_view(small2["id"])["site"] == "gamma"


def test_cancelling_a_held_job_ends_it_without_slurm(late: Federation) -> None:
    submit(late, 11)
    held = submit(late, 1)[0]
    before = submitted(late)
    view = late.cancel(ALICE, held["id"])
    assert view["state"] == "CANCELLED" and view["ended_at"] is not None
    move(late, "alpha", JobState.COMPLETED)
    assert late.dispatch() == 0
    assert submitted(late) == before
    assert all(not conn.cancels for conn in sites(late).values())


def test_a_pinned_job_goes_to_its_site_at_once(late: Federation) -> None:
    submit(late, 11)
    pinned = submit(late, 1, site="alpha")[0]
    assert pinned["state"] == "SUBMITTED" and pinned["site"] == "alpha"


def test_without_late_binding_every_job_goes_at_once(late: Federation) -> None:
    late.settings = late.settings.model_copy(update={"late_binding": False})
    jobs = submit(late, 15)
    assert all(j["state"] == "SUBMITTED" for j in jobs)
    assert sum(submitted(late).values()) == 15


def test_test_only_says_the_job_would_be_held(late: Federation) -> None:
    submit(late, 11)
    status, out = late.submit(ALICE, body(test_only=True))
    assert status == 200
    assert "held by Hyperion" in out["decision"]["hold"]
    status, out = late.submit(ALICE, body(site="alpha", test_only=True))
    assert out["decision"]["hold"] is None


def test_held_jobs_wait_while_their_sites_are_drained(late: Federation) -> None:
    submit(late, 11)
    held = submit(late, 1)[0]
    for name in BUDGET:
        late.set_drained(name, True)
    for name in BUDGET:
        move(late, name, JobState.COMPLETED)
    assert late.dispatch() == 0
    assert late.job_view(held["id"])["state"] == "QUEUED"
    late.set_drained("gamma", False)
    assert late.dispatch() == 1
    assert late.job_view(held["id"])["site"] == "gamma"


@pytest.mark.parametrize("ntasks", [1, 3])
def test_room_counts_cpus_of_jobs_waiting_or_running(late: Federation, ntasks: int) -> None:
    submit(late, 3, ntasks=ntasks)
    with session(late.engine, write=False) as s:
        assert sum(repo.inflight_cpus_by_site(s).values()) == 3 * ntasks
    for name in BUDGET:
        move(late, name, JobState.RUNNING)
    with session(late.engine, write=False) as s:
        assert sum(repo.inflight_cpus_by_site(s).values()) == 3 * ntasks
    for name in BUDGET:
        move(late, name, JobState.COMPLETED)
    with session(late.engine, write=False) as s:
        assert repo.inflight_cpus_by_site(s) == {}


def test_site_backlog_lets_jobs_wait_at_a_site_beyond_its_size(late: Federation) -> None:
    late.settings = late.settings.model_copy(update={"site_backlog": 0.5})
    jobs = submit(late, 17)  # room 12, 9, 12 CPUs: 6 + 4 + 6 two-CPU jobs
    assert submitted(late) == {"alpha": 6, "beta": 4, "gamma": 6}
    assert jobs[-1]["state"] == "QUEUED"


@pytest.mark.parametrize("option", ["--hold", "--begin=now+1hour", "--dependency=afterok:1"])
def test_deferred_jobs_go_at_once_and_do_not_fill_a_backlog(late: Federation, option: str) -> None:
    deferred = [late.submit(ALICE, body(argv_extra=option))[1]["job"] for _ in range(12)]
    assert all(j["state"] == "SUBMITTED" for j in deferred)  # none held by Hyperion
    with session(late.engine, write=False) as s:
        assert repo.inflight_cpus_by_site(s) == {}
    assert sum(1 for j in submit(late, 11) if j["state"] == "SUBMITTED") == 11


def test_a_job_is_held_when_the_only_site_with_room_fails(
    late: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(late, 4, site="alpha")  # pinned jobs fill alpha and beta
    submit(late, 3, site="beta")

    def unreachable(sub: Any) -> Any:
        raise SiteUnreachable("gamma", "no answer")

    monkeypatch.setattr(sites(late)["gamma"], "estimate_start", unreachable)
    job = submit(late, 1)[0]
    assert job["state"] == "QUEUED"
    assert "could not take it" in job["reason"] and "no answer" in job["reason"]
    assert not sites(late)["gamma"].submits


def test_a_held_job_whose_submission_fails_is_placed_again_elsewhere(
    late: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(late, 11)
    held = submit(late, 1)[0]
    move(late, "beta", JobState.COMPLETED)  # room only on beta, whose sbatch then fails

    def down(sub: Any) -> str:
        raise SiteUnreachable("beta", "connection reset")

    monkeypatch.setattr(sites(late)["beta"], "submit", down)
    assert late.dispatch() == 1
    view = late.job_view(held["id"])
    first, second = view["attempts"]
    assert first["site"] == "beta" and first["state"] == "ABANDONED"
    assert second["site"] != "beta" and view["state"] == "SUBMITTED"


@pytest.mark.parametrize("late_binding", [False, True])
def test_a_submission_works_out_the_candidate_sites_once(
    fed: Federation, monkeypatch: pytest.MonkeyPatch, late_binding: bool
) -> None:
    fed.settings = fed.settings.model_copy(update={"late_binding": late_binding})
    calls: list[str] = []
    real = fed.feasible

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append("feasible")
        return real(*args, **kwargs)

    monkeypatch.setattr(fed, "feasible", counted)
    assert submit(fed, 1)[0]["state"] == "SUBMITTED"
    assert calls == ["feasible"]


def test_polls_follow_held_jobs_closely_then_back_off(late: Federation) -> None:
    late.settings = late.settings.model_copy(
        update={"poll_interval_s": 2.0, "held_poll_interval_s": 0.25}
    )
    submit(late, 12)  # one is held
    late.poll()
    assert late.poll_interval == 0.25
    for name in BUDGET:
        move(late, name, JobState.COMPLETED)
    assert late.dispatch() == 1  # the held job goes: nothing is held any more
    move(late, "alpha", JobState.COMPLETED)
    late.poll()  # no change seen, nothing held: back to the adaptive interval
    assert late.poll_interval >= 2.0


def test_a_completing_job_leaves_room_for_the_next(late: Federation) -> None:
    submit(late, 11)
    held = submit(late, 1)[0]
    move(late, "beta", JobState.COMPLETING)  # ended; Slurm frees the cores in a moment
    assert late.dispatch() == 1
    assert late.job_view(held["id"])["site"] == "beta"


def test_a_job_end_event_asks_for_a_poll_only_for_hyperions_live_jobs(
    late: Federation,
) -> None:
    assert late.job_event("alpha", "17") is False  # nothing of Hyperion's anywhere
    assert not late.poll_now.is_set()
    submit(late, 1)
    (job,) = late.list_jobs(ALICE, {})
    site, ours = job["site"], str(job["slurm_job_id"])
    other = next(s for s in BUDGET if s != site)
    assert late.job_event(other, ours) is False  # nothing live there
    assert late.job_event(site, "999999") is False  # another user's job: changes nothing
    assert not late.poll_now.is_set()
    assert late.job_event(site, ours) is True and late.poll_now.is_set()
    late.poll_now.clear()
    assert late.job_event(site, None) is True  # no job id: any live attempt there counts
    assert late.job_event("no-such-cluster", ours) is True  # unknown site: anywhere
    expected = Counter(["alpha", other, site, site, site, "(other)"])  # the events above
    assert late.events == dict(expected)
    assert next(x for x in late.sites() if x["name"] == site)["job_end_events"] == expected[site]


def test_a_held_job_with_one_site_with_room_goes_without_an_estimate(late: Federation) -> None:
    submit(late, 11)
    held = submit(late, 1)[0]
    asked = {name: conn.estimates for name, conn in sites(late).items()}
    move(late, "beta", JobState.COMPLETED)  # only beta has room: the choice is made
    assert late.dispatch() == 1
    assert late.job_view(held["id"])["site"] == "beta"
    assert {name: conn.estimates for name, conn in sites(late).items()} == asked
