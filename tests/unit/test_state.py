"""hyperion.state behaviours on SQLite: migrations, repo queries, concurrency, JSON columns.

The same test functions run against a real PostgreSQL server in
tests/integration/test_state_postgres.py, which imports them and supplies its own ``db_url``
fixture (a fresh, empty database per test).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from hyperion.errors import ConfigError
from hyperion.sites.base import JobStatus
from hyperion.state import repo
from hyperion.state.db import make_engine, open_database, session
from hyperion.state.ids import is_attempt_key, is_job_id
from hyperion.state.migrations import MIGRATIONS, Migration, current_version, migrate
from hyperion.state.models import Attempt, AttemptState, HyperionJobState, Job
from hyperion.types import JobState

JOB_KEYS = {
    "id", "name", "user", "state", "site", "partition", "slurm_job_id", "submitted_at",
    "started_at", "ended_at", "reason", "not_before", "attempts",
}  # fmt: skip
ATTEMPT_KEYS = {
    "seq", "key", "site", "partition", "slurm_job_id", "state", "slurm_state", "placed_reason",
    "scores", "end_reason", "created_at", "submitted_at", "started_at", "ended_at",
}  # fmt: skip
SPEC: dict[str, Any] = {
    "argv": ["--ntasks=4", "--comment=café ☕ \"quoted\" 'x'", "--time=1:00:00"],
    "env": {"PATH": "/usr/bin", "EMPTY": "", "NEWLINE": "a\nb"},
    "script": "#!/bin/bash\n#SBATCH -N 2\nsrun hostname\n",
    "script_args": [],
    "cwd": "/home/alice/run 1",
    "nested": {"list": [1, 2.5, None, True, False, {"deep": ["x"]}], "big": 2**62},
}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The URL of a fresh, empty database (SQLite here)."""
    return f"sqlite:///{tmp_path}/state/hyperion.db"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = open_database(db_url)
    yield eng
    eng.dispose()


def new_job(engine: Engine, owner: str = "alice", **kw: Any) -> Job:
    with session(engine) as s:
        return repo.create_job(s, owner=owner, owner_uid=1000, spec=SPEC, **kw)


def ids(jobs: list[Job]) -> list[str]:
    return [j.id for j in jobs]


def versions(engine: Engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT version, description FROM schema_version"))
        return sorted((int(v), str(d)) for v, d in rows)


# ------------------------------------------------------------------ migrations


def test_migrations_apply_once_and_are_recorded(db_url: str) -> None:
    eng = make_engine(db_url)
    try:
        assert current_version(eng) == 0
        before = time.time()
        assert migrate(eng) == [m.version for m in MIGRATIONS]
        assert current_version(eng) == MIGRATIONS[-1].version
        assert versions(eng) == [(m.version, m.description) for m in MIGRATIONS]
        with eng.connect() as conn:
            applied_at = conn.execute(sa.text("SELECT applied_at FROM schema_version")).scalar()
        assert before - 1 <= float(str(applied_at)) <= time.time() + 1
        assert migrate(eng) == []  # a no-op the second time
        assert versions(eng) == [(m.version, m.description) for m in MIGRATIONS]
    finally:
        eng.dispose()
    open_database(db_url).dispose()  # a restart of the daemon: still one row per version
    eng = make_engine(db_url)
    assert versions(eng) == [(m.version, m.description) for m in MIGRATIONS]
    eng.dispose()


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    """A model change without a migration fails here."""
    insp = sa.inspect(engine)
    assert {"job", "attempt", "site_status", "schema_version"} <= set(insp.get_table_names())
    for table in SQLModel.metadata.sorted_tables:
        cols = {c["name"]: c for c in insp.get_columns(table.name)}
        assert set(cols) == {c.name for c in table.columns}, table.name
        for c in table.columns:
            assert bool(cols[c.name]["nullable"]) == bool(c.nullable), (table.name, c.name)
            got, want = cols[c.name]["type"]._type_affinity, c.type._type_affinity
            assert got is want, (table.name, c.name, got, want)
        pk = insp.get_pk_constraint(table.name)["constrained_columns"]
        assert pk == [c.name for c in table.primary_key.columns]
        want_ix = {ix.name: [c.name for c in ix.columns] for ix in table.indexes}
        got_ix = {ix["name"]: ix["column_names"] for ix in insp.get_indexes(table.name)}
        got_ix = {k: v for k, v in got_ix.items() if k in want_ix or not str(k).startswith("uq_")}
        assert got_ix == want_ix, table.name
        want_fk = {
            (tuple(fk.column_keys), fk.referred_table.name) for fk in table.foreign_key_constraints
        }
        got_fk = {
            (tuple(fk["constrained_columns"]), fk["referred_table"])
            for fk in insp.get_foreign_keys(table.name)
        }
        assert got_fk == want_fk, table.name
    uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("attempt")}
    assert ("key",) in uniques


def test_database_newer_than_the_code_is_refused(engine: Engine, db_url: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO schema_version (version, description, applied_at) "
                "VALUES (99, 'from the future', 0)"
            )
        )
    with pytest.raises(ConfigError, match="older than the database") as err:
        migrate(engine)
    assert "99" in str(err.value)
    with pytest.raises(ConfigError, match="older than the database") as err:
        open_database(db_url)
    shown = str(err.value)
    password = sa.engine.make_url(db_url).password
    if password:
        assert password not in shown and "***" in shown


def test_concurrent_migrators_apply_each_version_once(db_url: str) -> None:
    calls: list[int] = []

    def slow(version: int, apply: Callable[[Connection], None]) -> Callable[[Connection], None]:
        def run(conn: Connection) -> None:
            calls.append(version)
            time.sleep(0.4)  # both daemons are in migrate() at once
            apply(conn)

        return run

    def v2(conn: Connection) -> None:
        conn.execute(sa.text("CREATE TABLE extra_v2 (id INTEGER PRIMARY KEY)"))

    steps = [Migration(1, MIGRATIONS[0].description, slow(1, MIGRATIONS[0].apply))]
    steps.append(Migration(2, "an extra table", slow(2, v2)))
    engines = [make_engine(db_url) for _ in range(2)]
    barrier = threading.Barrier(len(engines))
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def daemon(eng: Engine) -> None:
        try:
            barrier.wait()
            results.append(migrate(eng, steps))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=daemon, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for e in engines:
        e.dispose()
    assert not errors, errors
    assert sorted(calls) == [1, 2]
    assert sorted(v for r in results for v in r) == [1, 2]
    eng = make_engine(db_url)
    assert versions(eng) == [(1, MIGRATIONS[0].description), (2, "an extra table")]
    assert current_version(eng) == 2
    eng.dispose()


# ------------------------------------------------------------------ jobs and attempts


def test_create_and_get_job(engine: Engine) -> None:
    job = new_job(engine, name="train", account="proj1", policy="cheapest", now=1000.0)
    assert is_job_id(job.id)
    assert job.state == HyperionJobState.QUEUED
    with session(engine, write=False) as s:
        got = repo.get_job(s, job.id)
        assert got is not None
        assert (got.name, got.owner, got.owner_uid) == ("train", "alice", 1000)
        assert got.account == "proj1"
        assert (got.policy, got.created_at, got.updated_at) == ("cheapest", 1000.0, 1000.0)
        assert got.cancel_requested is False
        assert repo.get_job(s, "h000000") is None


def test_create_job_retries_a_taken_id(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    first = new_job(engine)
    ids = iter([first.id, first.id, "hzzzzzz"])
    monkeypatch.setattr(repo, "new_job_id", lambda: next(ids))
    assert new_job(engine).id == "hzzzzzz"


def test_create_job_survives_a_racing_writer_with_the_same_id(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B draws the id A has inserted but not committed: B must wait, then take another id."""
    draws = {"A": iter(["hzzzzzz"]), "B": iter(["hzzzzzz", "hyyyyyy"])}
    monkeypatch.setattr(repo, "new_job_id", lambda: next(draws[threading.current_thread().name]))
    inserted = threading.Event()
    made: dict[str, str] = {}

    def a() -> None:
        with session(engine) as s:
            made["A"] = repo.create_job(s, owner="a", owner_uid=1, spec={}).id
            inserted.set()
            time.sleep(0.5)  # commit only after B has tried the same id

    def b() -> None:
        assert inserted.wait(10)
        with session(engine) as s:
            made["B"] = repo.create_job(s, owner="b", owner_uid=2, spec={}).id

    threads = [threading.Thread(target=f, name=f.__name__.upper()) for f in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert made == {"A": "hzzzzzz", "B": "hyyyyyy"}
    with session(engine, write=False) as s:
        assert [j.owner for j in repo.list_jobs(s, all=True)] == ["b", "a"]


def test_unknown_states_are_refused(engine: Engine) -> None:
    with pytest.raises(ValueError), session(engine) as s:
        repo.create_job(s, owner="a", owner_uid=1, spec={}, state="BOGUS")
    with pytest.raises(ValueError), session(engine) as s:
        repo.attempts_in(s, ["RUNNING", "bogus"])


def test_list_jobs_filters(engine: Engine) -> None:
    a1 = new_job(engine, "alice", now=1.0)
    a2 = new_job(engine, "alice", now=2.0)
    b1 = new_job(engine, "bob", now=3.0)
    with session(engine) as s:
        repo.add_attempt(s, a1, "alpha", "cpu", "first", {})
        repo.add_attempt(s, a1, "beta", "gpu", "moved", {})  # a1 is now on beta
        repo.add_attempt(s, b1, "alpha", None, "only", {})
        repo.set_job_state(s, a2, HyperionJobState.REJECTED, reason="no site fits")
        c1 = repo.create_job(s, owner="carl", owner_uid=7, spec={}, now=0.5)
        stay = repo.add_attempt(s, c1, "gamma", None, None, {})
        repo.set_attempt_state(s, stay, "RUNNING")
        gone = repo.add_attempt(s, c1, "alpha", None, "a move, called off", {})
        repo.set_attempt_state(s, gone, "ABANDONED")  # c1 still runs on gamma
    with session(engine, write=False) as s:
        assert ids(repo.list_jobs(s, owner="alice")) == [a2.id, a1.id]  # newest first
        assert ids(repo.list_jobs(s, all=True)) == [b1.id, a2.id, a1.id, c1.id]
        assert ids(repo.list_jobs(s, all=True, limit=2)) == [b1.id, a2.id]
        assert ids(repo.list_jobs(s, all=True, site="gamma")) == [c1.id]
        assert ids(repo.list_jobs(s, all=True, owner="bob")) == [b1.id]
        assert ids(repo.list_jobs(s, all=True, site="alpha")) == [b1.id]
        assert ids(repo.list_jobs(s, all=True, site="beta")) == [a1.id]
        assert ids(repo.list_jobs(s, owner="alice", site="alpha")) == []
        assert ids(repo.list_jobs(s, all=True, state="REJECTED")) == [a2.id]
        assert ids(repo.list_jobs(s, all=True, state=["INTENT", "REJECTED"])) == [
            b1.id,
            a2.id,
            a1.id,
        ]
        assert ids(repo.list_jobs(s, all=True, state="RUNNING")) == [c1.id]
        assert repo.list_jobs(s, owner="carol") == []
        assert ids(repo.list_jobs(s)) == ids(repo.list_jobs(s, all=True))  # owner None: everyone
        assert ids(repo.list_jobs(s, all=True, state="rejected")) == [a2.id]
        with pytest.raises(ValueError, match="unknown job state 'BOGUS'"):
            repo.list_jobs(s, state="BOGUS")


def test_add_attempt_numbers_and_keys(engine: Engine) -> None:
    job = new_job(engine, now=10.0)
    with session(engine) as s:
        assert repo.current_attempt(s, job) is None
        a1 = repo.add_attempt(s, job, "alpha", "cpu", "earliest start", {"alpha": 1.5}, now=11.0)
        a2 = repo.add_attempt(s, job, "beta", None, "moved", {"beta": 0.5}, now=12.0)
    assert (a1.seq, a1.key, a1.state) == (1, f"{job.id}.1", AttemptState.INTENT)
    assert (a2.seq, a2.key, a2.site, a2.partition) == (2, f"{job.id}.2", "beta", None)
    assert is_attempt_key(a2.key)
    with session(engine, write=False) as s:
        cur = repo.current_attempt(s, job.id)
        assert cur is not None and cur.key == a2.key
        got = repo.get_job(s, job.id)
        assert got is not None and got.state == "INTENT" and got.updated_at == 12.0
        assert [a.seq for a in repo.attempts_by_job(s, [job.id, "h000000"])[job.id]] == [1, 2]
        assert repo.attempts_by_job(s, ["h000000"]) == {"h000000": []}
        assert [a.seq for a in repo.attempts_of(s, job.id)] == [1, 2]
        assert repo.get_attempt(s, a1.id or 0) is not None
        assert repo.get_attempt(s, 10**6) is None
        with pytest.raises(TypeError):
            repo.attempts_by_job(s, job.id)


def test_attempt_key_is_unique(engine: Engine) -> None:
    job = new_job(engine)
    with session(engine) as s:
        repo.add_attempt(s, job, "alpha", None, None, {})
    with pytest.raises(IntegrityError), session(engine) as s:
        s.add(Attempt(job_id=job.id, seq=7, key=f"{job.id}.1", site="x", created_at=0.0))


def test_attempt_needs_an_existing_job(engine: Engine) -> None:
    with pytest.raises(IntegrityError), session(engine) as s:
        s.add(Attempt(job_id="hnone00", seq=1, key="hnone00.1", site="x", created_at=0.0))


def test_set_attempt_state_keeps_the_job_in_step(engine: Engine) -> None:
    job = new_job(engine, now=0.0)
    with session(engine) as s:
        a1 = repo.add_attempt(s, job, "alpha", None, None, {}, now=1.0)
        repo.set_attempt_state(s, a1, "SUBMITTED", slurm_job_id="4242", now=2.0)
        repo.set_attempt_state(s, a1, "PENDING", slurm_state="PENDING", now=3.0)
    with session(engine, write=False) as s:
        got = repo.get_job(s, job.id)
        assert got is not None and got.state == "PENDING"
    assert (a1.slurm_job_id, a1.submitted_at) == ("4242", 2.0)
    assert (a1.started_at, a1.ended_at) == (None, None)
    # re-placement: the old attempt is CANCELLING, the new one INTENT; the job follows the new one
    with session(engine) as s:
        a2 = repo.add_attempt(s, job, "beta", None, "moved", {}, now=4.0)
        repo.set_attempt_state(s, a1, "CANCELLING", now=4.0)
        repo.set_attempt_state(s, a1, "CANCELLED", end_reason="moved to beta", now=5.0)
        repo.set_attempt_state(s, a2, "SUBMITTED", slurm_job_id="77", now=5.0)
        repo.set_attempt_state(s, a2, "RUNNING", now=6.0)
        repo.set_attempt_state(s, a2, "COMPLETED", ended_at=8.5, now=9.0)
    assert (a1.state, a1.ended_at, a1.end_reason) == ("CANCELLED", 5.0, "moved to beta")
    assert (a2.started_at, a2.ended_at) == (6.0, 8.5)
    with session(engine, write=False) as s:
        got = repo.get_job(s, job.id)
        assert got is not None and (got.state, got.updated_at) == ("COMPLETED", 9.0)


def slurm(state: str, job_id: str = "500", **kw: Any) -> JobStatus:
    """A status as a connector reports it."""
    fields: dict[str, Any] = {
        "job_id": job_id,
        "state": JobState(state),
        "slurm_state": state,
        "user": "alice",
        "name": "j",
        "partition": "cpu",
        "comment": "",
        "submit_time": None,
        "start_time": None,
        "end_time": None,
        "exit_code": None,
    }
    return JobStatus(**(fields | kw))


def test_pick_current_follows_moves_and_called_off_moves() -> None:
    def a(seq: int, state: str) -> Attempt:
        return Attempt(
            job_id="h000000", seq=seq, key=f"h000000.{seq}", site="s", state=state, created_at=0.0
        )

    def pick(*states: str) -> int | None:
        cur = repo.pick_current([a(i + 1, st) for i, st in enumerate(states)])
        return None if cur is None else cur.seq

    assert pick() is None
    assert pick("PENDING") == 1
    assert pick("CANCELLING", "INTENT") == 2  # a move: the new attempt
    assert pick("RUNNING", "ABANDONED") == 1  # a move called off: the job stayed
    assert pick("RUNNING", "CANCELLING") == 1  # a duplicate being cancelled
    assert pick("CANCELLED", "COMPLETED") == 2
    assert pick("COMPLETED", "ABANDONED") == 1
    assert pick("ABANDONED", "ABANDONED") == 2
    assert pick("CANCELLED", "ABANDONED", "CANCELLING") == 3


def test_refresh_job_state_after_direct_writes(engine: Engine) -> None:
    job = new_job(engine)
    with session(engine) as s:
        a = repo.add_attempt(s, job, "alpha", None, None, {}, now=1.0)
        a.state = AttemptState.SUBMITTED  # as the daemon writes it
        got = repo.refresh_job_state(s, job.id, now=2.0)
        assert got is not None and (got.state, got.updated_at) == ("SUBMITTED", 2.0)
        assert repo.refresh_job_state(s, "h000000") is None
    cancelled = new_job(engine)
    with session(engine) as s:
        a = repo.add_attempt(s, cancelled, "alpha", None, None, {})
        cancelled.cancel_requested = True
        a.state = AttemptState.ABANDONED  # cancelled before it reached Slurm
        assert repo.refresh_job_state(s, cancelled) is cancelled
    assert cancelled.state == "CANCELLED"
    queued = new_job(engine)
    with session(engine) as s:
        assert repo.refresh_job_state(s, queued.id) is not None
    assert queued.state == "QUEUED"  # no attempt: the job keeps its own state


def test_apply_status_follows_slurm(engine: Engine) -> None:
    job = new_job(engine)
    with session(engine) as s:
        a = repo.add_attempt(s, job, "alpha", "cpu", None, {}, now=1.0)
        repo.set_attempt_state(s, a, "SUBMITTED", slurm_job_id="500", now=2.0)
        forecast = slurm("PENDING", start_time=99.0, submit_time=1.5)
        assert repo.apply_status(s, a.id or 0, forecast, now=3.0)
        assert (a.state, a.started_at, a.submitted_at) == ("PENDING", None, 2.0)
        assert not repo.apply_status(s, a, forecast, now=4.0)  # nothing new
        assert not repo.apply_status(s, a, slurm("UNKNOWN", slurm_state="PENDING"), now=4.0)
        assert a.state == "PENDING"
        assert repo.apply_status(s, a, slurm("RUNNING", start_time=5.0), now=6.0)
        assert (a.state, a.started_at) == ("RUNNING", 5.0)
        done = slurm("FAILED", start_time=5.0, end_time=9.0, exit_code=3, slurm_state="FAILED")
        assert repo.apply_status(s, a, done, now=10.0)
        assert (a.state, a.ended_at, a.end_reason) == ("FAILED", 9.0, "exit code 3")
        assert not repo.apply_status(s, a, slurm("RUNNING"), now=11.0)  # final stays final
        assert a.state == "FAILED"
        got = repo.get_job(s, job.id)
        assert got is not None and got.state == "FAILED"
        assert repo.apply_status(s, 10**6, done) is False


def test_apply_status_keeps_a_move_unless_the_job_started(engine: Engine) -> None:
    job = new_job(engine)
    with session(engine) as s:
        old = repo.add_attempt(s, job, "alpha", None, None, {})
        repo.set_attempt_state(s, old, "PENDING", slurm_job_id="1")
        repo.set_attempt_state(s, old, "CANCELLING")
        new = repo.add_attempt(s, job, "beta", None, "moved", {})
        repo.apply_status(s, old, slurm("PENDING", job_id="1"))
        assert old.state == "CANCELLING" and job.state == "INTENT"
        assert repo.apply_status(s, old, slurm("RUNNING", job_id="1", start_time=7.0))
        assert old.state == "RUNNING" and old.started_at == 7.0
        assert {a.key for a in repo.jobs_with_several_live_attempts(s)[job.id]} == {
            old.key,
            new.key,
        }
        repo.set_attempt_state(s, new, "ABANDONED", end_reason="the job started where it was")
        assert repo.jobs_with_several_live_attempts(s) == {}
        got = repo.get_job(s, job.id)
        assert got is not None and got.state == "RUNNING"  # it follows the attempt that runs


def test_pending_attempts_older_than(engine: Engine) -> None:
    made = []
    with session(engine) as s:
        for i, st in enumerate(["SUBMITTED", "PENDING", "PENDING", "RUNNING", "INTENT"]):
            job = repo.create_job(s, owner="u", owner_uid=1, spec={})
            a = repo.add_attempt(s, job, "alpha", None, None, {}, now=float(i))
            if st != "INTENT":
                repo.set_attempt_state(s, a, st, slurm_job_id=str(i), now=10.0 * i)
            made.append(a.key)
    with session(engine, write=False) as s:
        assert [a.key for a in repo.pending_attempts_older_than(s, 15.0)] == made[:2]
        assert [a.key for a in repo.pending_attempts_older_than(s, 100.0)] == made[:3]


def test_live_attempts_and_attempts_in(engine: Engine) -> None:
    states = ["INTENT", "UNKNOWN", "RUNNING", "COMPLETED", "ABANDONED", "CANCELLING", "PREEMPTED"]
    sites = ["alpha", "beta"]
    made: dict[str, Attempt] = {}
    with session(engine) as s:
        for i, st in enumerate(states):
            job = repo.create_job(s, owner="u", owner_uid=1, spec={}, now=float(i))
            a = repo.add_attempt(s, job, sites[i % 2], None, None, {}, now=float(i))
            made[st] = repo.set_attempt_state(s, a, st, now=float(i))
    with session(engine, write=False) as s:
        live = repo.live_attempts_by_site(s)
        got = {site: sorted(a.state for a in rows) for site, rows in live.items()}
        assert got == {
            "alpha": ["INTENT", "PREEMPTED", "RUNNING"],
            "beta": ["CANCELLING", "UNKNOWN"],
        }
        pending = repo.attempts_in(s, [AttemptState.INTENT, AttemptState.UNKNOWN])
        assert [a.key for a in pending] == [made["INTENT"].key, made["UNKNOWN"].key]
        assert [a.key for a in repo.attempts_in(s, ["INTENT", "UNKNOWN"], site="beta")] == [
            made["UNKNOWN"].key
        ]
        assert repo.attempts_in(s, []) == []


def test_site_status_upsert(engine: Engine) -> None:
    with session(engine) as s:
        repo.set_site_status(s, "beta", up=False, last_error="timed out", down_since=5.0)
        repo.set_site_status(s, "alpha", last_ok=10.0)
    with session(engine) as s:
        repo.set_site_status(s, "beta", drained=True)  # the rest is kept
        repo.set_site_status(s, "beta", up=True, last_error=None, down_since=None, last_ok=20.0)
    with session(engine, write=False) as s:
        rows = [
            (r.site, r.up, r.drained, r.last_ok, r.last_error, r.down_since)
            for r in repo.site_statuses(s)
        ]
    assert rows == [
        ("alpha", True, False, 10.0, None, None),
        ("beta", True, True, 20.0, None, None),
    ]


def test_job_and_attempt_dicts(engine: Engine) -> None:
    job = new_job(engine, name="sim", now=100.0)
    with session(engine) as s:
        a1 = repo.add_attempt(s, job, "alpha", "cpu", "cheapest", {"alpha": 0.2, "beta": 0.9})
        repo.set_attempt_state(s, a1, "SUBMITTED", slurm_job_id="12", now=101.0)
        repo.set_attempt_state(s, a1, "RUNNING", now=102.0)
    with session(engine, write=False) as s:
        got = repo.get_job(s, job.id)
        assert got is not None
        d = repo.job_to_dict(got, repo.attempts_of(s, job.id))
    assert set(d) == JOB_KEYS and set(d["attempts"][0]) == ATTEMPT_KEYS
    assert (d["id"], d["name"], d["user"], d["state"]) == (job.id, "sim", "alice", "RUNNING")
    assert (d["site"], d["partition"], d["slurm_job_id"]) == ("alpha", "cpu", "12")
    assert (d["submitted_at"], d["started_at"], d["ended_at"]) == (100.0, 102.0, None)
    assert d["attempts"][0]["scores"] == {"alpha": 0.2, "beta": 0.9}
    assert d["attempts"][0]["placed_reason"] == "cheapest"
    assert json.loads(json.dumps(d)) == d
    rejected = new_job(engine, now=5.0)
    with session(engine) as s:
        repo.set_job_state(s, rejected, "REJECTED", reason="no site has 9 GPUs", now=6.0)
    d = repo.job_to_dict(rejected, [], with_attempts=False)
    assert "attempts" not in d
    assert (d["state"], d["site"], d["ended_at"], d["reason"]) == (
        "REJECTED",
        None,
        6.0,
        "no site has 9 GPUs",
    )


def test_session_rolls_back_on_error(engine: Engine) -> None:
    with pytest.raises(RuntimeError), session(engine) as s:
        job = repo.create_job(s, owner="alice", owner_uid=1, spec={})
        raise RuntimeError("boom")
    with session(engine, write=False) as s:
        assert repo.get_job(s, job.id) is None
        assert repo.list_jobs(s, all=True) == []


def test_json_columns_round_trip(engine: Engine) -> None:
    request = {"nodes": 2, "gpus_per_node": 4, "time_limit_s": 3600.0, "features": ["a100"]}
    scores = {"alpha": 0.125, "beta": -1e300, "gamma": None}
    job = new_job(engine, request=request)
    with session(engine) as s:
        repo.add_attempt(s, job, "alpha", None, None, scores)
    with session(engine, write=False) as s:
        got = repo.get_job(s, job.id)
        assert got is not None
        assert got.spec == SPEC and got.request == request
        cur = repo.current_attempt(s, got)
        assert cur is not None and cur.scores == scores


# ------------------------------------------------------------------ concurrency


def run_threads(n: int, work: Callable[[int], None]) -> None:
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors


def test_concurrent_writers_lose_no_rows(engine: Engine) -> None:
    per_thread = 40

    def work(i: int) -> None:
        for k in range(per_thread):
            with session(engine) as s:
                job = repo.create_job(s, owner=f"user{i}", owner_uid=i, spec={"k": k})
                repo.add_attempt(s, job, "alpha", None, None, {"k": k})

    run_threads(4, work)
    with session(engine, write=False) as s:
        jobs = repo.list_jobs(s, all=True, limit=10_000)
        assert len(jobs) == len({j.id for j in jobs}) == 4 * per_thread
        assert len(repo.attempts_in(s, ["INTENT"])) == 4 * per_thread


def test_concurrent_attempts_of_one_job_get_distinct_seqs(engine: Engine) -> None:
    job = new_job(engine)

    def work(i: int) -> None:
        for _ in range(5):
            with session(engine) as s:
                fresh = repo.get_job(s, job.id)
                assert fresh is not None
                repo.add_attempt(s, fresh, f"site{i}", None, None, {})

    run_threads(4, work)
    with session(engine, write=False) as s:
        seqs = [a.seq for a in repo.attempts_of(s, job.id)]
    assert seqs == list(range(1, 21))
