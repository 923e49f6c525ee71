"""Rich rendering shared by ``hsub``, ``hq`` and ``hcancel``; the CLIs import it lazily.

Inputs are the API's dicts as ``docs/federation.md`` describes them (JOB, ATTEMPT, DECISION).
The daemon sends UTC times (ISO 8601 text or epoch seconds); they are shown in local time with
durations relative to ``now`` ("3m12s").
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

FINAL_STATES = frozenset(
    {
        "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL",
        "BOOT_FAIL", "DEADLINE", "REJECTED", "ABANDONED",
    }
)  # fmt: skip
_STATE_STYLE = {
    "RUNNING": "green",
    "COMPLETED": "green",
    "PENDING": "yellow",
    "QUEUED": "yellow",
    "SUBMITTED": "yellow",
    "INTENT": "yellow",
    "UNKNOWN": "magenta",
    "CANCELLING": "magenta",
    "COMPLETING": "green",
    "SUSPENDED": "magenta",
    "PREEMPTED": "magenta",  # what it means depends on the site's PreemptMode
    "REQUEUED": "magenta",
}
_DASH = "-"


def parse_when(value: Any) -> datetime | None:
    """An API time (ISO 8601 text, naive means UTC; or epoch seconds) as an aware datetime."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz=UTC)
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def fmt_duration(seconds: float) -> str:
    """A duration for people: ``42s``, ``3m12s``, ``2h05m``, ``3d04h``."""
    s = int(round(abs(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def fmt_local(when: datetime, now: datetime) -> str:
    """Local clock time; the date too unless it is today."""
    local, today = when.astimezone(), now.astimezone()
    if local.date() == today.date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M:%S")


def fmt_when(value: Any, now: datetime) -> str:
    """Local time with the distance from now: ``14:03:12 (3m12s ago)``, ``... (in 5m00s)``."""
    when = parse_when(value)
    if when is None:
        return _DASH
    delta = (when - now).total_seconds()
    if abs(delta) < 1:
        return f"{fmt_local(when, now)} (now)"
    rel = f"in {fmt_duration(delta)}" if delta > 0 else f"{fmt_duration(delta)} ago"
    return f"{fmt_local(when, now)} ({rel})"


def fmt_number(value: Any) -> str:
    """A score or cost: 3 significant digits, ``inf`` as ∞, missing as ``-``."""
    if value is None or isinstance(value, bool):
        return _DASH
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return str(value)
    if not isinstance(value, int | float):
        return str(value)
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if math.isnan(value):
        return "?"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def fmt_cost(candidate: Mapping[str, Any]) -> str:
    """A candidate's cost with its currency (a number, or ``{"amount", "currency"}``)."""
    cost = candidate.get("cost")
    currency = candidate.get("currency")
    if isinstance(cost, Mapping):
        currency = cost.get("currency", currency)
        cost = cost.get("amount")
    if cost is None:
        return _DASH
    if isinstance(cost, int | float) and math.isfinite(cost):
        text = f"{cost:.2f}" if cost == 0 or abs(cost) >= 0.01 else f"{cost:.2g}"
    else:
        text = str(cost)
    return f"{text} {currency}" if currency else text


def usage_text(usage: Any, *, compact: bool = False) -> str:
    """A job's or attempt's USAGE (docs/ledger.md), one per line, or ``compact`` on one:
    ``12Wh 0.02EUR 4.1gCO2`` (energy in Wh below 1 kWh); parts that are unknown (no carbon
    source) are left out; ``-`` when it has not run."""
    if not isinstance(usage, Mapping):
        return _DASH
    sep = "" if compact else " "
    parts = []
    if usage.get("energy_kwh") is not None:
        kwh = float(usage["energy_kwh"])
        parts.append(
            f"{fmt_number(kwh)}{sep}kWh" if kwh >= 1 else f"{fmt_number(kwh * 1000)}{sep}Wh"
        )
    if usage.get("cost") is not None:
        parts.append(fmt_cost(usage).replace(" ", sep))
    if usage.get("co2_g") is not None:
        co2 = f"{fmt_number(usage['co2_g'])}{sep}gCO2"
        if not compact and usage.get("carbon_g_per_kwh") is not None:
            co2 += f" ({fmt_number(usage['carbon_g_per_kwh'])} g/kWh"
            co2 += ", stale data)" if usage.get("carbon_stale") else ")"
        parts.append(co2)
    return (" " if compact else "\n").join(parts) or _DASH


def state_text(state: Any) -> Text:
    """A state, coloured: green running/done, yellow waiting, red failed."""
    name = str(state or _DASH)
    style = _STATE_STYLE.get(name, "red" if name in FINAL_STATES else "")
    return Text(name, style=style)


def _now(now: datetime | None) -> datetime:
    return now or datetime.fromtimestamp(time.time(), tz=UTC)


def _s(value: Any) -> str:
    return _DASH if value is None or value == "" else str(value)


def wait_or_start(job: Mapping[str, Any], now: datetime) -> str:
    """``waiting 3m12s`` while pending, the start time once started, ``waited`` if it never ran."""
    submitted, started = parse_when(job.get("submitted_at")), parse_when(job.get("started_at"))
    if started is not None:
        return fmt_local(started, now)
    if submitted is None:
        return _DASH
    ended = parse_when(job.get("ended_at"))
    if ended is not None or str(job.get("state")) in FINAL_STATES:
        end = ended or submitted
        return f"waited {fmt_duration((end - submitted).total_seconds())}"
    return f"waiting {fmt_duration((now - submitted).total_seconds())}"


def jobs_table(jobs: Sequence[Mapping[str, Any]], now: datetime | None = None) -> Table:
    """``hq``: one row per job."""
    at = _now(now)
    table = Table(box=None, header_style="bold", pad_edge=False)
    columns = ("ID", "NAME", "USER", "SITE", "SLURM ID", "STATE", "WAIT / START", "USAGE")
    for col in (*columns, "ATTEMPTS"):
        table.add_column(
            col, no_wrap=col != "NAME", justify="right" if col == "ATTEMPTS" else "left"
        )
    for job in jobs:
        attempts = job.get("attempts")
        table.add_row(
            _s(job.get("id")),
            _s(job.get("name")),
            _s(job.get("user")),
            _s(job.get("site")),
            _s(job.get("slurm_job_id")),
            state_text(job.get("state")),
            wait_or_start(job, at),
            usage_text(job.get("usage"), compact=True),
            str(len(attempts)) if isinstance(attempts, list) else _DASH,
        )
    return table


def scores_text(scores: Any, chosen: Any = None) -> Text:
    """``{site: score}`` as ``a 0.12  b 0.5`` (lower is better; the chosen site in bold)."""
    text = Text()
    if not isinstance(scores, Mapping) or not scores:
        return Text(_DASH)
    for i, site in enumerate(sorted(scores, key=lambda s: _sort_key(scores[s]))):
        if i:
            text.append("  ")
        text.append(f"{site} {fmt_number(scores[site])}", style="bold" if site == chosen else "")
    return text


def _sort_key(score: Any) -> float:
    try:
        value = float(score)
    except (TypeError, ValueError):
        return math.inf
    return math.inf if math.isnan(value) else value


def _times(attempt: Mapping[str, Any], now: datetime) -> str:
    lines = []
    for label in ("created", "submitted", "started", "ended"):
        value = attempt.get(f"{label}_at")
        if parse_when(value) is not None:
            lines.append(f"{label} {fmt_when(value, now)}")
    return "\n".join(lines) or _DASH


def job_view(job: Mapping[str, Any], now: datetime | None = None) -> Group:
    """``hq <id>``: the job, then each attempt (where, why placed, scores, how it ended)."""
    at = _now(now)
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("job", f"{_s(job.get('id'))}  {_s(job.get('name'))}")
    head.add_row("user", _s(job.get("user")))
    head.add_row("state", state_text(job.get("state")))
    where = _s(job.get("site"))
    if job.get("partition"):
        where += f" / {job['partition']}"
    head.add_row("site", f"{where}  (Slurm job {_s(job.get('slurm_job_id'))})")
    for label in ("submitted", "started", "ended"):
        head.add_row(label, fmt_when(job.get(f"{label}_at"), at))
    if job.get("reason"):
        head.add_row("reason", str(job["reason"]))
    if isinstance(job.get("usage"), Mapping):
        head.add_row("usage", usage_text(job["usage"], compact=True))
    attempts = job.get("attempts") or []
    table = Table(title="attempts", title_justify="left", header_style="bold", show_lines=True)
    for col in ("#", "SITE", "SLURM ID", "STATE", "PLACED BECAUSE", "SCORES", "ENDED BECAUSE"):
        table.add_column(col, overflow="fold")
    table.add_column("TIMES", no_wrap=True)
    table.add_column("USAGE", no_wrap=True)
    for a in attempts:
        site = _s(a.get("site")) + (f"\n{a['partition']}" if a.get("partition") else "")
        state = state_text(a.get("state"))
        if a.get("slurm_state") and a.get("slurm_state") != a.get("state"):
            state.append(f"\n(Slurm: {a['slurm_state']})", style="dim")
        table.add_row(
            _s(a.get("seq")),
            site,
            _s(a.get("slurm_job_id")),
            state,
            _s(a.get("placed_reason")),
            scores_text(a.get("scores"), a.get("site")),
            _s(a.get("end_reason")),
            _times(a, at),
            usage_text(a.get("usage")),
        )
    if not attempts:
        return Group(head, Text("no attempts yet (not placed)", style="dim"))
    return Group(head, Text(""), table)


def carbon_text(
    value: Any, stale: Any, when: Any = None, now: datetime | None = None
) -> Text:
    """gCO2/kWh of a candidate (``when``: at which start), marked when the data are stale."""
    if value is None:
        return Text("-", style="dim")
    text = f"{float(value):.0f}"
    if when is not None and now is not None:
        text += f" at {fmt_when(when, now)}"
    out = Text(text)
    if stale:
        out.append(" stale", style="yellow")
    return out


def decision_view(decision: Mapping[str, Any], now: datetime | None = None) -> Group:
    """``hsub --test-only``: the choice, its reason, and every candidate site."""
    at = _now(now)
    chosen = decision.get("site")
    head = Text()
    if chosen:
        head.append("would run on site ")
        head.append(str(chosen), style="bold green")
        if decision.get("partition"):
            head.append(f", partition {decision['partition']}")
    else:
        head.append("no site can take this job", style="bold red")
    if decision.get("policy"):
        head.append(f"  (policy {decision['policy']})", style="dim")
    if decision.get("reason"):
        head.append(f"\nreason: {decision['reason']}")
    if decision.get("hold"):
        hold = f"\nnow: it would wait in Hyperion's queue ({decision['hold']})"
        head.append(hold, style="yellow")
    stale = [c.get("site") for c in decision.get("candidates") or [] if c.get("carbon_stale")]
    if stale:
        head.append(f"\nstale carbon data (provider unreachable): {', '.join(map(str, stale))}")
    scores = decision.get("scores")
    scores = scores if isinstance(scores, Mapping) else {}
    candidates = [c for c in decision.get("candidates") or [] if isinstance(c, Mapping)]
    listed = {c.get("site") for c in candidates}
    candidates += [{"site": s} for s in scores if s not in listed]

    def order(c: Mapping[str, Any]) -> tuple[int, int, float]:
        feasible = c.get("feasible", True) is not False
        return (
            c.get("site") != chosen,
            not feasible,
            _sort_key(scores.get(c.get("site"), c.get("score"))),
        )

    table = Table(header_style="bold")
    cols = ("SITE", "PARTITION", "EST. START", "COST", "gCO2/kWh NOW", "AT START")
    for col in (*cols, "FEASIBLE / WHY NOT", "SCORE"):
        table.add_column(col, overflow="fold", justify="right" if col == "SCORE" else "left")
    for c in sorted(candidates, key=order):
        site = c.get("site")
        feasible = c.get("feasible")
        if feasible is False:
            verdict = Text(f"no: {c.get('why_not') or 'not feasible'}", style="red")
        elif feasible is None and c.get("why_not"):
            verdict = Text(str(c["why_not"]), style="red")
        else:
            verdict = Text("yes", style="green")
        table.add_row(
            Text(_s(site), style="bold" if site == chosen else ""),
            _s(c.get("partition")),
            fmt_when(c.get("est_start"), at),
            fmt_cost(c),
            carbon_text(c.get("carbon_now"), c.get("carbon_stale")),
            carbon_text(c.get("carbon_at_start"), c.get("carbon_stale"), c.get("carbon_start"), at),
            verdict,
            fmt_number(scores.get(site, c.get("score"))),
        )
    return Group(head, table)
