"""``GET /report``: totals of the ledger per user, account or site (``hctl report``).

A user sees the totals of their own attempts only; root and the admin group see everyone's.
"""

from __future__ import annotations

import math
import time
from typing import Any

from hyperion.daemon.identity import Caller
from hyperion.errors import HyperionError
from hyperion.state import ledger
from hyperion.state.db import session
from hyperion.state.ledger import GROUP_BY, GroupBy


def _epoch(query: dict[str, str], name: str) -> float | None:
    text = query.get(name)
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise HyperionError(
            f"{name}={text}: not a time",
            hint=f"give {name} as epoch seconds, e.g. {time.time():.0f}",
        )
    return value


def report(engine: Any, who: Caller, query: dict[str, str]) -> dict[str, Any]:
    """REPORT of docs/ledger.md for the query ``by``, ``since``, ``until`` (epoch seconds)."""
    by = query.get("by", "user")
    if by not in GROUP_BY:
        raise HyperionError(f"by={by}: cannot group by that", hint=f"one of {', '.join(GROUP_BY)}")
    group: GroupBy = by
    since, until = _epoch(query, "since"), _epoch(query, "until")
    if since is not None and until is not None and until <= since:
        raise HyperionError(f"until={until:.0f} is not after since={since:.0f}")
    owner = None if who.admin else who.user
    with session(engine, write=False) as s:
        groups = ledger.totals(s, group, since=since, until=until, owner=owner)
        # a job whose attempts ran in several groups counts once in the total
        total = next(iter(ledger.totals(s, None, since=since, until=until, owner=owner)), None)
    return {
        "by": by,
        "since": since,
        "until": until,
        "scope": "all users" if owner is None else f"user {owner}",
        "groups": [g.as_dict() for g in groups],
        "total": (total or ledger.GroupTotals(key="total")).as_dict(),
    }
