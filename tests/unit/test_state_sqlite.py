"""SQLite specifics of hyperion.state.db: WAL, pragmas, BEGIN IMMEDIATE, errors for people."""

from __future__ import annotations

import string
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event
from sqlalchemy.engine import Engine

from hyperion.errors import ConfigError
from hyperion.state import repo
from hyperion.state.db import DEFAULT_URL, display_url, make_engine, open_database, session
from hyperion.state.migrations import migrate


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = open_database(f"sqlite:///{tmp_path}/a/b/hyperion.db")
    yield eng
    eng.dispose()


def test_default_url_is_the_system_sqlite_file() -> None:
    assert DEFAULT_URL == "sqlite:////var/lib/hyperion/hyperion.db"


def test_parent_directory_is_created(tmp_path: Path) -> None:
    open_database(f"sqlite:///{tmp_path}/new/dir/hyperion.db").dispose()
    assert (tmp_path / "new" / "dir" / "hyperion.db").is_file()


def test_wal_and_pragmas_on_every_connection(engine: Engine, tmp_path: Path) -> None:
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
    with session(engine) as s:
        repo.create_job(s, owner="a", owner_uid=1, spec={})
    assert (tmp_path / "a" / "b" / "hyperion.db-wal").exists()


def statements(engine: Engine) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cur: Any, stmt: str, *_rest: Any) -> None:
        seen.append(stmt)

    event.listen(engine, "before_cursor_execute", record)
    return seen


def test_write_sessions_take_the_write_lock_at_begin(engine: Engine) -> None:
    seen = statements(engine)
    with session(engine) as s:
        repo.site_statuses(s)
    with session(engine, write=False) as s:
        repo.site_statuses(s)
    assert [x for x in seen if x.startswith("BEGIN")] == ["BEGIN IMMEDIATE", "BEGIN"]


def test_readers_do_not_wait_for_a_writer(engine: Engine) -> None:
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with session(engine) as s:
            repo.set_site_status(s, "alpha", up=False)
            holding.set()
            release.wait(10)

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert holding.wait(10)
        with session(engine, write=False) as s:  # WAL: reads the last committed state at once
            assert repo.site_statuses(s) == []
    finally:
        release.set()
        t.join(10)
    with session(engine, write=False) as s:
        assert [r.up for r in repo.site_statuses(s)] == [False]


def test_migrate_needs_a_hyperion_engine(tmp_path: Path) -> None:
    plain = sa.create_engine(f"sqlite:///{tmp_path}/plain.db")
    with pytest.raises(ValueError, match="make_engine"):
        migrate(plain)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://root:s3cret@db/hyperion", "supports SQLite and PostgreSQL"),
        ("sqlite+pysqlcipher:///x.db", "supports SQLite and PostgreSQL"),
    ],
)
def test_bad_urls_are_config_errors(url: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as err:
        make_engine(url)
    assert "s3cret" not in str(err.value)
    assert err.value.hint and "sqlite:////" in err.value.hint


def test_unwritable_path_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a directory")
    url = f"sqlite:///{tmp_path}/afile/sub/hyperion.db"
    with pytest.raises(ConfigError, match="cannot create the directory") as err:
        open_database(url)
    assert url in str(err.value)


def test_a_file_that_is_no_database_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "hyperion.db"
    path.write_bytes(b"this is not SQLite\n" * 100)
    with pytest.raises(ConfigError, match="cannot use the database") as err:
        open_database(f"sqlite:///{path}")
    assert str(path) in str(err.value) and err.value.hint


def test_passwords_are_masked() -> None:
    assert display_url("postgresql+psycopg://u:pw@h/db") == "postgresql+psycopg://u:***@h/db"
    assert "pw" not in display_url("postgresql://u:pw@h:5/db?x=1")
    assert display_url("sqlite:////var/lib/x.db") == "sqlite:////var/lib/x.db"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def test_json_columns_round_trip_any_json(tmp_path: Path) -> None:
    eng = open_database(f"sqlite:///{tmp_path}/json.db")

    @settings(max_examples=60, deadline=None)
    @given(
        spec=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
        scores=st.dictionaries(st.text(string.ascii_letters, max_size=6), st.floats(-1e9, 1e9)),
    )
    def check(spec: dict[str, Any], scores: dict[str, float]) -> None:
        with session(eng) as s:
            job = repo.create_job(s, owner="a", owner_uid=1, spec=spec, request={"s": spec})
            repo.add_attempt(s, job, "alpha", None, None, scores)
        with session(eng, write=False) as s:
            got = repo.get_job(s, job.id)
            assert got is not None and got.spec == spec and got.request == {"s": spec}
            cur = repo.current_attempt(s, got)
            assert cur is not None and cur.scores == scores

    try:
        check()
    finally:
        eng.dispose()


def start_all(engines: list[Engine]) -> list[BaseException]:
    """Run migrate() on every engine at the same moment; the errors raised."""
    barrier = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def start(eng: Engine) -> None:
        try:
            barrier.wait()
            migrate(eng)
        except BaseException as e:  # pragma: no cover - reported by the caller
            errors.append(e)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return errors


def test_daemons_opening_a_new_file_at_once_all_succeed(tmp_path: Path) -> None:
    """Switching a fresh file to WAL does not wait for locks in SQLite: make_engine retries."""
    for i in range(30):
        engines = [make_engine(f"sqlite:///{tmp_path}/fresh{i}.db") for _ in range(3)]
        try:
            assert start_all(engines) == []
        finally:
            for e in engines:
                e.dispose()
