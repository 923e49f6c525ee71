"""Engine and session setup: SQLite (WAL) by default, PostgreSQL by URL.

On SQLite every transaction Hyperion opens starts with ``BEGIN IMMEDIATE`` (it takes the write
lock at once and waits up to the busy timeout for it), so a read-then-write transaction never
fails half-way with "database is locked"; ``session(engine, write=False)`` uses a plain
``BEGIN`` for read-only work, which WAL lets run beside a writer.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, create_engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlmodel import Session

from hyperion.errors import ConfigError

DEFAULT_URL = "sqlite:////var/lib/hyperion/hyperion.db"
#: seconds SQLite waits for another writer's lock, and PostgreSQL for a connection
BUSY_TIMEOUT_S = 10
_BEGIN_OPTION = "hyperion_sqlite_begin"
_URL_HINT = (
    "give --db / $HYPERION_DB as sqlite:////absolute/path/hyperion.db or "
    "postgresql+psycopg://user:password@host:5432/dbname"
)


def display_url(url: str | URL) -> str:
    """The URL with its password masked, for messages and logs."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (None: :data:`DEFAULT_URL`); no connection is made yet.

    SQLite: creates the parent directory; WAL, foreign keys on, 10 s busy timeout, usable from
    any thread. PostgreSQL (``postgresql://`` is read as ``postgresql+psycopg://``): pre-ping.
    """
    text = url or DEFAULT_URL
    try:
        u = make_url(text)
    except ArgumentError:
        raise ConfigError(f"{display_url(text)!r} is not a database URL", hint=_URL_HINT) from None
    backend = u.get_backend_name()
    if backend == "sqlite" and u.get_driver_name() == "pysqlite":
        return _sqlite_engine(u)
    if backend in ("postgresql", "postgres") and u.drivername in (
        "postgresql",
        "postgres",
        "postgresql+psycopg",
    ):
        return create_engine(
            u.set(drivername="postgresql+psycopg"),
            pool_pre_ping=True,
            connect_args={"connect_timeout": BUSY_TIMEOUT_S, "application_name": "hyperiond"},
        )
    raise ConfigError(
        f"database URL {display_url(u)}: Hyperion supports SQLite and PostgreSQL (with psycopg), "
        f"not {u.drivername!r}",
        hint=_URL_HINT,
    )


def _sqlite_engine(u: URL) -> Engine:
    path = u.database or ""
    if path and path != ":memory:" and not path.startswith("file:"):
        try:
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(
                f"cannot create the directory of the database {display_url(u)}: {e.strerror}",
                hint=f"create {str(Path(path).parent)!r} writable by hyperiond, or give another "
                "--db / $HYPERION_DB",
            ) from None
    engine = create_engine(u, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Hyperion emits BEGIN itself (see _sqlite_begin), so sqlite3 must not.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        cur.execute("PRAGMA foreign_keys=ON")
        _use_wal(cur)
    finally:
        cur.close()


def _use_wal(cur: Any) -> None:
    # Switching a new database to WAL needs it to itself, and SQLite does not wait for that
    # (no busy handler): two daemons opening a fresh file at once retry until one has done it.
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            mode = str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            if mode not in ("wal", "memory"):
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN_OPTION, "IMMEDIATE")
    conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")


def sqlite_begins_immediate(engine: Engine) -> bool:
    """True when ``engine`` is a SQLite engine from :func:`make_engine`."""
    return event.contains(engine, "begin", _sqlite_begin)


def unavailable(url: str | URL, exc: BaseException) -> ConfigError:
    """A :class:`ConfigError` for a database that cannot be opened, naming the URL."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    shown = display_url(url)
    if shown.startswith("sqlite"):
        hint = "check that its directory exists and hyperiond can write it, on a local disk"
    else:
        hint = "check that PostgreSQL runs and that host, port, user, password and dbname are right"
    return ConfigError(
        f"cannot use the database {shown}: {detail[0] if detail else type(exc).__name__}",
        hint=hint + "; or give another --db / $HYPERION_DB",
    )


def open_database(url: str | None = None) -> Engine:
    """An engine for ``url`` with the schema migrated to the newest version.

    Raises :class:`ConfigError` for a bad URL, a database that cannot be reached or written, or
    a database that a newer Hyperion has migrated.
    """
    from hyperion.state.migrations import migrate

    engine = make_engine(url)
    try:
        migrate(engine)
        if engine.dialect.name == "sqlite" and (engine.url.database or ":memory:") != ":memory:":
            with engine.connect() as conn:
                mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            if str(mode).lower() != "wal":
                raise ConfigError(
                    f"the database {display_url(engine.url)} cannot use SQLite's WAL mode "
                    f"(journal mode is {mode!r})",
                    hint="put the file on a local disk (not NFS), or use PostgreSQL",
                )
    except (DBAPIError, OSError) as e:
        engine.dispose()
        raise unavailable(engine.url, e) from None
    except ConfigError:
        engine.dispose()
        raise
    return engine


@contextmanager
def session(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back when it raises.

    Objects stay readable after the block (no expiry on commit). ``write=False`` marks
    read-only work: on SQLite it does not take the write lock.
    """
    bind = engine if write else engine.execution_options(**{_BEGIN_OPTION: "DEFERRED"})
    with Session(bind, expire_on_commit=False) as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
