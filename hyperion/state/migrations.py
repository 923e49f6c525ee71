"""Versioned schema migrations, each applied once, in order, in its own transaction.

A migration is frozen DDL: it never reads :mod:`hyperion.state.models`, so changing a model
means appending a migration here. Applied versions are recorded in ``schema_version``. Two
daemons starting at once take turns: on PostgreSQL each step holds a transaction-scoped advisory
lock, on SQLite it runs in ``BEGIN IMMEDIATE`` (the write lock), and each re-reads
``schema_version`` after the lock is held.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hyperion.errors import ConfigError
from hyperion.state.db import display_url, sqlite_begins_immediate

log = logging.getLogger(__name__)

#: the PostgreSQL advisory lock key that serialises migrations ("HYPERION" in ASCII)
ADVISORY_LOCK_KEY = 0x4859504552494F4E

_meta = sa.MetaData()
schema_version = sa.Table(
    "schema_version",
    _meta,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.String, nullable=False),
    sa.Column("applied_at", sa.Float, nullable=False),
)


class Migration(NamedTuple):
    """One schema change: its version, a line for people, and the DDL to run."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _v1_initial(conn: Connection) -> None:
    md = sa.MetaData()
    sa.Table(
        "job",
        md,
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("owner", sa.String, nullable=False),
        sa.Column("owner_uid", sa.Integer, nullable=False),
        sa.Column("account", sa.String),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("request", sa.JSON),
        sa.Column("policy", sa.String),
        sa.Column("pinned_site", sa.String),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("reason", sa.String),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Index("ix_job_owner", "owner"),
        sa.Index("ix_job_state", "state"),
    )
    sa.Table(
        "attempt",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("key", sa.String, nullable=False),
        sa.Column("site", sa.String, nullable=False),
        sa.Column("partition", sa.String),
        sa.Column("slurm_job_id", sa.String),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("slurm_state", sa.String),
        sa.Column("placed_reason", sa.String),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("end_reason", sa.String),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("submitted_at", sa.Float),
        sa.Column("started_at", sa.Float),
        sa.Column("ended_at", sa.Float),
        sa.UniqueConstraint("key", name="uq_attempt_key"),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"], name="fk_attempt_job_id_job"),
        sa.Index("ix_attempt_job_id", "job_id"),
        sa.Index("ix_attempt_state", "state"),
        sa.Index("ix_attempt_site_slurm_job_id", "site", "slurm_job_id"),
    )
    sa.Table(
        "site_status",
        md,
        sa.Column("site", sa.String, primary_key=True),
        sa.Column("up", sa.Boolean, nullable=False),
        sa.Column("drained", sa.Boolean, nullable=False),
        sa.Column("last_ok", sa.Float),
        sa.Column("last_error", sa.String),
        sa.Column("down_since", sa.Float),
    )
    md.create_all(conn, checkfirst=False)


def _v2_ledger(conn: Connection) -> None:
    md = sa.MetaData()
    sa.Table("attempt", md, sa.Column("id", sa.Integer, primary_key=True))  # for the FK only
    ledger = sa.Table(
        "ledger",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("attempt_id", sa.Integer, nullable=False),
        sa.Column("attempt_key", sa.String, nullable=False),
        sa.Column("job_id", sa.String, nullable=False),
        sa.Column("owner", sa.String, nullable=False),
        sa.Column("account", sa.String),
        sa.Column("site", sa.String, nullable=False),
        sa.Column("partition", sa.String),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float, nullable=False),
        sa.Column("elapsed_s", sa.Float, nullable=False),
        sa.Column("billed_s", sa.Float, nullable=False),
        sa.Column("cpus", sa.Integer, nullable=False),
        sa.Column("gpus", sa.Integer, nullable=False),
        sa.Column("nodes", sa.Integer, nullable=False),
        sa.Column("core_hours", sa.Float, nullable=False),
        sa.Column("energy_kwh", sa.Float),
        sa.Column("energy_source", sa.String),
        sa.Column("cost", sa.Float),
        sa.Column("currency", sa.String),
        sa.Column("co2_g", sa.Float),
        sa.Column("carbon_g_per_kwh", sa.Float),
        sa.Column("carbon_stale", sa.Boolean),
        sa.Column("note", sa.String),
        sa.Column("recorded_at", sa.Float, nullable=False),
        sa.UniqueConstraint("attempt_id", name="uq_ledger_attempt_id"),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["attempt.id"], name="fk_ledger_attempt_id_attempt"
        ),
        sa.Index("ix_ledger_ended_at", "ended_at"),
        sa.Index("ix_ledger_owner_ended_at", "owner", "ended_at"),
        sa.Index("ix_ledger_account_ended_at", "account", "ended_at"),
    )
    ledger.create(conn, checkfirst=False)


def _v3_not_before(conn: Connection) -> None:
    conn.execute(sa.text("ALTER TABLE job ADD COLUMN not_before FLOAT"))


#: every migration, oldest first; append, never edit one that has shipped
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "tables job, attempt and site_status", _v1_initial),
    Migration(2, "table ledger: energy, cost and CO2 of each attempt that ran", _v2_ledger),
    Migration(3, "job.not_before: jobs held in Hyperion's queue for low carbon", _v3_not_before),
)


def _check_order(migrations: Sequence[Migration]) -> None:
    versions = [m.version for m in migrations]
    if not versions or versions[0] < 1 or versions != sorted(set(versions)):
        raise ValueError(f"migration versions must be increasing from 1 or more: {versions}")


def _applied(conn: Connection) -> list[int]:
    return list(conn.scalars(sa.select(schema_version.c.version).order_by("version")))


def current_version(engine: Engine) -> int:
    """The highest schema version applied to the database; 0 for an empty database."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("schema_version"):
            return 0
        return int(conn.scalar(sa.select(sa.func.max(schema_version.c.version))) or 0)


def migrate(engine: Engine, migrations: Sequence[Migration] | None = None) -> list[int]:
    """Apply the migrations the database lacks, in order; returns the versions applied now.

    Raises :class:`ConfigError` when the database has a version this code does not know
    (it was migrated by a newer hyperiond).
    """
    steps = MIGRATIONS if migrations is None else migrations
    _check_order(steps)
    if engine.dialect.name == "sqlite" and not sqlite_begins_immediate(engine):
        raise ValueError("migrate() needs an engine from hyperion.state.db.make_engine")
    done: list[int] = []
    while True:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))
            schema_version.create(conn, checkfirst=True)
            applied = _applied(conn)
            known = {m.version for m in steps}
            unknown = [v for v in applied if v not in known]
            if unknown:
                raise ConfigError(
                    f"the database {display_url(engine.url)} has schema version {max(applied)}, "
                    f"but this hyperiond knows versions up to {steps[-1].version}: "
                    "this hyperiond is older than the database",
                    hint="upgrade Hyperion to the version that migrated this database, "
                    "or point --db / $HYPERION_DB at another database",
                )
            todo = [m for m in steps if m.version not in applied]
            if not todo:
                return done
            step = todo[0]
            log.info("applying database migration %d: %s", step.version, step.description)
            step.apply(conn)
            conn.execute(
                schema_version.insert().values(
                    version=step.version, description=step.description, applied_at=time.time()
                )
            )
        done.append(step.version)
