"""hyperion.state against a real PostgreSQL server (tests/postgres.py starts one).

The behaviours of tests/unit/test_state.py run here unchanged: they are imported below and find
this module's ``db_url`` fixture, a fresh database per test on the real server. The tests after
them are PostgreSQL's own: the advisory lock that serialises migrators, and errors for people.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hyperion.errors import ConfigError
from hyperion.state import repo
from hyperion.state.db import make_engine, open_database, session
from hyperion.state.migrations import ADVISORY_LOCK_KEY, MIGRATIONS, Migration, migrate
from tests.postgres import PostgresServer, free_port
from tests.unit import test_state as behaviours
from tests.unit.test_state import (  # noqa: F401  (collected here, against PostgreSQL)
    test_add_attempt_numbers_and_keys,
    test_apply_status_follows_slurm,
    test_apply_status_keeps_a_move_unless_the_job_started,
    test_attempt_key_is_unique,
    test_attempt_needs_an_existing_job,
    test_concurrent_attempts_of_one_job_get_distinct_seqs,
    test_concurrent_migrators_apply_each_version_once,
    test_concurrent_writers_lose_no_rows,
    test_create_and_get_job,
    test_create_job_retries_a_taken_id,
    test_create_job_survives_a_racing_writer_with_the_same_id,
    test_database_newer_than_the_code_is_refused,
    test_job_and_attempt_dicts,
    test_json_columns_round_trip,
    test_list_jobs_filters,
    test_live_attempts_and_attempts_in,
    test_migrated_schema_matches_the_models,
    test_migrations_apply_once_and_are_recorded,
    test_pending_attempts_older_than,
    test_pick_current_follows_moves_and_called_off_moves,
    test_refresh_job_state_after_direct_writes,
    test_session_rolls_back_on_error,
    test_set_attempt_state_keeps_the_job_in_step,
    test_site_status_upsert,
    test_unknown_states_are_refused,
)

pytestmark = pytest.mark.testbed

_names = itertools.count(1)


@pytest.fixture
def db_url(pg: PostgresServer) -> str:
    """A fresh, empty database on the real server, owned by an ordinary role."""
    return pg.create_database(f"state_{next(_names)}")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = open_database(db_url)
    yield eng
    eng.dispose()


def test_every_sqlite_behaviour_runs_here_too() -> None:
    names = {n for n in vars(behaviours) if n.startswith("test_")}
    assert names <= set(globals())


def test_url_is_psycopg_and_pings(db_url: str) -> None:
    plain = db_url.replace("postgresql+psycopg://", "postgresql://")
    eng = open_database(plain)
    try:
        assert eng.url.drivername == "postgresql+psycopg"
        assert eng.pool._pre_ping
        with session(eng) as s:
            assert s.connection().exec_driver_sql("SELECT current_user").scalar() == "hyperion"
    finally:
        eng.dispose()


def test_json_columns_are_json_on_postgres(engine: Engine) -> None:
    with engine.connect() as conn:
        types: dict[str, str] = dict(
            conn.execute(
                sa.text(
                    "SELECT table_name || '.' || column_name, data_type FROM "
                    "information_schema.columns WHERE column_name IN ('spec', 'request', 'scores')"
                )
            ).all()
        )
    assert types == {"job.spec": "json", "job.request": "json", "attempt.scores": "json"}


def test_migrators_wait_on_the_advisory_lock(db_url: str, pg: PostgresServer) -> None:
    """While one daemon migrates, the other blocks on the advisory lock, then applies nothing."""
    started = threading.Event()

    def slow_v1(conn: Connection) -> None:
        started.set()
        time.sleep(1.5)
        MIGRATIONS[0].apply(conn)

    steps = [Migration(1, MIGRATIONS[0].description, slow_v1)]
    engines = [make_engine(db_url) for _ in range(2)]
    results: dict[int, list[int]] = {}

    def daemon(i: int) -> None:
        results[i] = migrate(engines[i], steps)

    first = threading.Thread(target=daemon, args=(0,))
    first.start()
    assert started.wait(10)
    second = threading.Thread(target=daemon, args=(1,))
    second.start()
    key_hi, key_lo = ADVISORY_LOCK_KEY >> 32, ADVISORY_LOCK_KEY & 0xFFFFFFFF
    seen: set[bool] = set()
    with pg.admin() as admin:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and seen != {True, False}:
            rows = admin.execute(
                "SELECT granted FROM pg_locks WHERE locktype = 'advisory' "
                "AND classid = %s AND objid = %s",
                (key_hi, key_lo),
            ).fetchall()
            seen |= {bool(r[0]) for r in rows}
            time.sleep(0.05)
    first.join(30)
    second.join(30)
    for e in engines:
        e.dispose()
    assert seen == {True, False}  # one holder, one waiter
    assert results == {0: [1], 1: []}


def test_wrong_password_is_a_config_error(pg: PostgresServer) -> None:
    url = pg.url(password="not-the-password")
    with pytest.raises(ConfigError, match="cannot use the database") as err:
        open_database(url)
    text = str(err.value)
    assert "not-the-password" not in text and pg.password not in text
    assert f"127.0.0.1:{pg.port}" in text and "***" in text
    assert "password" in text  # PostgreSQL's own reason is shown


def test_unreachable_server_is_a_config_error(pg: PostgresServer) -> None:
    url = pg.url().replace(f":{pg.port}/", f":{free_port()}/")  # nothing listens there
    t = time.monotonic()
    with pytest.raises(ConfigError, match="cannot use the database") as err:
        open_database(url)
    assert time.monotonic() - t < 15
    assert err.value.hint and "PostgreSQL runs" in err.value.hint


def test_missing_database_is_a_config_error(pg: PostgresServer) -> None:
    with pytest.raises(ConfigError, match="no_such_db"):
        open_database(pg.url("no_such_db"))


def test_two_engines_see_each_others_commits(db_url: str) -> None:
    a, b = open_database(db_url), open_database(db_url)
    try:
        with session(a) as s:
            job = repo.create_job(s, owner="alice", owner_uid=1000, spec={"argv": []})
        with session(b, write=False) as s:
            got = repo.get_job(s, job.id)
            assert got is not None and got.owner == "alice"
    finally:
        a.dispose()
        b.dispose()
