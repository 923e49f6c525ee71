"""The ledger: energy, cost and carbon of every attempt that ran, and the sums over it.

One row per finished attempt that started (``ledger.attempt_id`` is unique), written once by
:mod:`hyperion.daemon.ledger`. Owner, account and site are copied into the row so that budgets
and reports read one table. An attempt counts in the period in which it ended (``ended_at``).
A figure that could not be known (no carbon source, a site no longer configured) is NULL,
never invented; ``note`` says why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import ForeignKeyConstraint, Index, UniqueConstraint, case, func, literal_column
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from hyperion.state.models import FINAL_ATTEMPT_STATES, Attempt, Job

GroupBy = Literal["user", "account", "site"]
GROUP_BY: tuple[GroupBy, ...] = ("user", "account", "site")
#: the group key of rows without an account
NO_ACCOUNT = "(none)"


class LedgerEntry(SQLModel, table=True):
    """What one attempt used: its allocation and times, energy, cost and CO2."""

    __tablename__ = "ledger"
    __table_args__ = (
        UniqueConstraint("attempt_id", name="uq_ledger_attempt_id"),
        ForeignKeyConstraint(["attempt_id"], ["attempt.id"], name="fk_ledger_attempt_id_attempt"),
        Index("ix_ledger_ended_at", "ended_at"),
        Index("ix_ledger_owner_ended_at", "owner", "ended_at"),
        Index("ix_ledger_account_ended_at", "account", "ended_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    attempt_id: int
    attempt_key: str
    job_id: str
    owner: str
    account: str | None = None
    site: str
    partition: str | None = None
    started_at: float
    ended_at: float
    #: run time (end - start) and the time billed (run time, plus boot on cloud nodes)
    elapsed_s: float
    billed_s: float
    cpus: int
    gpus: int
    nodes: int
    core_hours: float
    energy_kwh: float | None = None
    #: "model" (the site's power model) or "measured" (reported by the node agent)
    energy_source: str | None = None
    cost: float | None = None
    currency: str | None = None
    co2_g: float | None = None
    #: the grid intensity used (gCO2/kWh over the run) and whether it came from stale data
    carbon_g_per_kwh: float | None = None
    carbon_stale: bool | None = None
    note: str | None = None
    recorded_at: float


def unrecorded(session: Session, limit: int = 500) -> list[tuple[Attempt, Job]]:
    """Final attempts that started and ended but have no ledger row yet, oldest end first."""
    recorded = select(LedgerEntry.id).where(LedgerEntry.attempt_id == Attempt.id).exists()
    stmt = (
        select(Attempt, Job)
        .join(Job, col(Job.id) == Attempt.job_id)
        .where(col(Attempt.state).in_([s.value for s in FINAL_ATTEMPT_STATES]))
        .where(col(Attempt.started_at).is_not(None))
        .where(col(Attempt.ended_at).is_not(None))
        .where(~recorded)
        .order_by(col(Attempt.ended_at), col(Attempt.id))
        .limit(limit)
    )
    return [(a, j) for a, j in session.exec(stmt)]


def add(session: Session, entry: LedgerEntry) -> bool:
    """Insert ``entry``; False when the attempt already has a row (another writer won)."""
    try:
        with session.begin_nested():
            session.add(entry)
    except IntegrityError:
        return False
    return True


def spent(session: Session, account: str, since: float, until: float) -> dict[str, float]:
    """What ``account`` spent in attempts that ended in [since, until), per currency."""
    stmt = (
        select(LedgerEntry.currency, func.sum(LedgerEntry.cost))
        .where(LedgerEntry.account == account)
        .where(col(LedgerEntry.ended_at) >= since, col(LedgerEntry.ended_at) < until)
        .where(col(LedgerEntry.cost).is_not(None))
        .group_by(col(LedgerEntry.currency))
    )
    return {str(cur): float(total or 0.0) for cur, total in session.exec(stmt)}


def entries_by_key(session: Session, keys: Iterable[str]) -> dict[str, LedgerEntry]:
    """The ledger rows of these attempt keys (those that have one), in one query."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    stmt = select(LedgerEntry).where(col(LedgerEntry.attempt_key).in_(wanted))
    return {e.attempt_key: e for e in session.exec(stmt)}


def usage_dict(e: LedgerEntry) -> dict[str, Any]:
    """USAGE of docs/ledger.md: what one attempt used."""
    return {
        "elapsed_s": e.elapsed_s,
        "billed_s": e.billed_s,
        "cpus": e.cpus,
        "gpus": e.gpus,
        "nodes": e.nodes,
        "core_hours": e.core_hours,
        "energy_kwh": e.energy_kwh,
        "energy_source": e.energy_source,
        "cost": e.cost,
        "currency": e.currency,
        "co2_g": e.co2_g,
        "carbon_g_per_kwh": e.carbon_g_per_kwh,
        "carbon_stale": e.carbon_stale,
        "note": e.note,
    }


def job_usage(entries: Iterable[LedgerEntry]) -> dict[str, Any] | None:
    """A job's usage over its attempts; None when none ran. A sum with a missing part is
    None (cost: None when the attempts were billed in different currencies)."""
    rows = list(entries)
    if not rows:
        return None

    def total(name: str) -> float | None:
        values = [getattr(e, name) for e in rows]
        return None if any(v is None for v in values) else float(sum(values))

    currencies = {e.currency for e in rows}
    one_currency = len(currencies) == 1 and None not in currencies
    return {
        "core_hours": total("core_hours"),
        "energy_kwh": total("energy_kwh"),
        "cost": total("cost") if one_currency else None,
        "currency": rows[0].currency if one_currency else None,
        "co2_g": total("co2_g"),
    }


def attach_usage(session: Session, jobs: Iterable[dict[str, Any]]) -> None:
    """Add ``usage`` (or None) to JOB dicts and to each of their ATTEMPT dicts (one query)."""
    rows = list(jobs)
    keys = [a["key"] for j in rows for a in j.get("attempts") or []]
    found = entries_by_key(session, keys)
    by_job: dict[str, list[LedgerEntry]] = {}
    for e in found.values():
        by_job.setdefault(e.job_id, []).append(e)
    for j in rows:
        for a in j.get("attempts") or []:
            hit = found.get(a["key"])
            a["usage"] = None if hit is None else usage_dict(hit)
        j["usage"] = job_usage(by_job.get(j["id"], []))


@dataclass
class GroupTotals:
    """The sums of one report group."""

    key: str
    jobs: int = 0
    attempts: int = 0
    core_hours: float = 0.0
    energy_kwh: float = 0.0
    co2_g: float = 0.0
    #: attempts whose CO2 is unknown (no carbon source): ``co2_g`` leaves them out
    co2_missing: int = 0
    cost: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "jobs": self.jobs,
            "attempts": self.attempts,
            "core_hours": self.core_hours,
            "energy_kwh": self.energy_kwh,
            "co2_g": self.co2_g,
            "co2_missing": self.co2_missing,
            "cost": dict(self.cost),
        }


def _group_column(by: GroupBy | None) -> Any:
    if by is None:
        return literal_column("'total'")  # inline: a bound parameter is untyped on PostgreSQL
    if by == "user":
        return col(LedgerEntry.owner)
    if by == "site":
        return col(LedgerEntry.site)
    if by == "account":
        # inline, so that SELECT and GROUP BY are the same expression on PostgreSQL
        return func.coalesce(col(LedgerEntry.account), literal_column(f"'{NO_ACCOUNT}'"))
    raise ValueError(f"by={by!r}: one of {', '.join(GROUP_BY)}")


def totals(
    session: Session,
    by: GroupBy | None,
    *,
    since: float | None = None,
    until: float | None = None,
    owner: str | None = None,
) -> list[GroupTotals]:
    """Sums per ``by`` over the attempts that ended in [since, until) (``owner``'s only when
    given), largest energy first; ``by`` None: one group, ``total``, or none without rows."""
    key = _group_column(by)
    grouped = [] if by is None else [key]
    filters = []
    if since is not None:
        filters.append(col(LedgerEntry.ended_at) >= since)
    if until is not None:
        filters.append(col(LedgerEntry.ended_at) < until)
    if owner is not None:
        filters.append(col(LedgerEntry.owner) == owner)
    missing = func.sum(case((col(LedgerEntry.co2_g).is_(None), 1), else_=0))
    sums = (
        sa.select(
            key,
            func.count(func.distinct(col(LedgerEntry.job_id))),
            func.count(col(LedgerEntry.id)),
            func.sum(col(LedgerEntry.core_hours)),
            func.sum(col(LedgerEntry.energy_kwh)),
            func.sum(col(LedgerEntry.co2_g)),
            missing,
        )
        .where(*filters)
        .group_by(*grouped)
    )
    groups: dict[str, GroupTotals] = {}
    for k, jobs, attempts, core_h, kwh, co2, miss in session.execute(sums):
        if not attempts:
            continue  # by None over no rows: one row of NULLs
        groups[str(k)] = GroupTotals(
            key=str(k),
            jobs=int(jobs),
            attempts=int(attempts),
            core_hours=float(core_h or 0.0),
            energy_kwh=float(kwh or 0.0),
            co2_g=float(co2 or 0.0),
            co2_missing=int(miss or 0),
        )
    costs = (
        select(key, col(LedgerEntry.currency), func.sum(col(LedgerEntry.cost)))
        .where(*filters, col(LedgerEntry.cost).is_not(None))
        .group_by(*grouped, col(LedgerEntry.currency))
    )
    for k, currency, amount in session.exec(costs):
        groups[str(k)].cost[str(currency)] = float(amount or 0.0)
    return sorted(groups.values(), key=lambda g: (-g.energy_kwh, g.key))
