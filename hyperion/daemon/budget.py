"""Per-account budgets (``[budgets]`` of the config), checked when a job is submitted.

A job whose account has a budget may go only to sites where its predicted cost (the time
limit at the site's prices, :func:`hyperion.placement.cost.job_cost`) plus what the account
spent in the current period (the ledger) stays within the budget. Sites over it are left out
when others fit, and the placement reason says so; when none fits the job is refused with
:class:`BudgetExceeded`. Periods are calendar periods in UTC; an attempt counts in the period
in which it ended. Amounts in other currencies are converted with ``budgets.exchange_rates``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hyperion.config.schema import Budgets, HyperionConfig, Period
from hyperion.errors import HyperionError
from hyperion.placement.cost import job_cost
from hyperion.placement.feasible import Feasible
from hyperion.state import ledger
from hyperion.state.db import session
from hyperion.types import JobRequest

if TYPE_CHECKING:
    from hyperion.daemon.federation import Placement


class BudgetExceeded(HyperionError):
    """The job would take its account over budget at every site that could run it."""


def period_start(period: Period, now: float) -> float:
    """The start (epoch s) of the calendar period in UTC that contains ``now``; weeks start
    on Monday, quarters in January, April, July and October."""
    t = datetime.fromtimestamp(now, tz=UTC)
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        start = day
    elif period == "week":
        start = datetime.fromordinal(day.toordinal() - day.weekday()).replace(tzinfo=UTC)
    elif period == "month":
        start = day.replace(day=1)
    elif period == "quarter":
        start = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    elif period == "year":
        start = day.replace(month=1, day=1)
    else:
        raise ValueError(f"unknown budget period {period!r}")
    return start.timestamp()


def in_budget_currency(budgets: Budgets, amounts: dict[str, float]) -> float:
    """The sum of per-currency ``amounts`` in the budgets' currency (unknown rates: 1:1, which
    the config check makes impossible for configured sites)."""
    return sum(v * (budgets.rate(cur) or 1.0) for cur, v in amounts.items())


@dataclass(frozen=True)
class BudgetStatus:
    """One account's budget in the current period."""

    account: str
    amount: float
    currency: str
    period: Period
    since: float
    spent: float

    @property
    def left(self) -> float:
        return self.amount - self.spent

    def describe(self) -> str:
        day = datetime.fromtimestamp(self.since, tz=UTC).strftime("%Y-%m-%d")
        return (
            f"account {self.account!r} has a budget of {self.amount:.2f} {self.currency} per "
            f"{self.period} and has spent {self.spent:.2f} {self.currency} since {day}"
        )


def budget_status(
    config: HyperionConfig, engine: Any, account: str | None, now: float | None = None
) -> BudgetStatus | None:
    """The account's budget and spend this period; None when it has no budget."""
    b = config.budgets
    cap = b.accounts.get(account) if account else None
    if cap is None or account is None:
        return None
    t = time.time() if now is None else now
    period = cap.period or b.period
    since = period_start(period, t)
    with session(engine, write=False) as s:
        by_currency = ledger.spent(s, account, since, float("inf"))
    return BudgetStatus(
        account, cap.amount, b.currency, period, since, in_budget_currency(b, by_currency)
    )


def filter_candidates(
    config: HyperionConfig,
    engine: Any,
    request: JobRequest,
    known: tuple[list[Feasible], dict[str, str]],
    now: float | None = None,
) -> tuple[tuple[list[Feasible], dict[str, str]], str | None]:
    """The feasible sites less those where the job would go over its account's budget, with
    those sites' reasons added, and a note for the placement reason (None: nothing left out).

    Raises :class:`BudgetExceeded` when every feasible site would go over it.
    """
    feasible, rejected = known
    status = budget_status(config, engine, request.account, now)
    if status is None or not feasible:
        return known, None
    keep: list[Feasible] = []
    over: dict[str, float] = {}
    for f in feasible:
        site = config.site(f.site)
        part = site.partition(f.partition)
        assert part is not None
        cost = job_cost(request, site.prices, part) * (
            config.budgets.rate(site.prices.currency) or 1.0
        )
        if status.spent + cost <= status.amount:
            keep.append(f)
        else:
            over[f.site] = cost
    if not over:
        return known, None
    cur = status.currency
    if not keep:
        cheapest, cost = min(over.items(), key=lambda kv: kv[1])
        where = (
            "at the only site that can run it" if len(over) == 1 else "even at the cheapest site"
        )
        raise BudgetExceeded(
            f"over budget: {status.describe()}; this job would cost {cost:.2f} {cur} {where} "
            f"({cheapest}), {status.spent + cost - status.amount:.2f} {cur} more than is left",
            hint="ask for less time (--time) or fewer resources, or ask for a larger budget",
        )
    reasons = dict(rejected)
    for name, cost in over.items():
        reasons[name] = (
            f"over budget: would cost {cost:.2f} {cur}; account {status.account!r} has "
            f"{max(status.left, 0.0):.2f} {cur} left this {status.period}"
        )
    note = f"left out over account {status.account!r}'s budget: {', '.join(sorted(over))}"
    return (keep, reasons), note


def with_note(placement: Placement, note: str | None) -> Placement:
    """The placement with ``note`` appended to its decision's reason."""
    if note is None:
        return placement
    d = placement.decision
    placement.decision = dataclasses.replace(d, reason=f"{d.reason}; {note}")
    return placement
