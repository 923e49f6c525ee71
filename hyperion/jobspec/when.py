"""Times and durations of Hyperion's time-shifting options (light: hsub imports it).

* :func:`parse_flex`: ``--carbon-flex`` durations: ``6h``, ``90m``, ``30s``, ``1d12h`` (units
  s, m, h, d, w, combinable) or a Slurm time (``90`` minutes, ``1:30:00``, ``1-00:00:00``).
* :func:`parse_slurm_time`: sbatch's ``--begin``/``--deadline`` forms (local time of the
  daemon): ``HH:MM[:SS]`` (today, or tomorrow when past), ``YYYY-MM-DD[THH:MM[:SS]]``,
  ``MMDD[YY]``, ``MM/DD[/YY]``, ``now[+COUNT[seconds|minutes|hours|days|weeks]]``,
  ``today``, ``tomorrow``, ``midnight``, ``noon``, ``fika`` (15:00), ``teatime`` (16:00).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from hyperion.errors import JobSpecError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_FLEX_RE = re.compile(r"^(?:(\d+(?:\.\d+)?)([smhdw]))+$", re.ASCII)
_FLEX_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])", re.ASCII)
_SLURM_DURATION = re.compile(r"^(?:\d+-)?\d+(?::\d+){0,2}$", re.ASCII)
_NOW_RE = re.compile(r"^now(?:\+(\d+)(seconds?|minutes?|hours?|days?|weeks?|[smhdw])?)?$")
_NOW_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_NAMED = {"midnight": (0, 0), "noon": (12, 0), "fika": (15, 0), "teatime": (16, 0)}
_FLEX_HINT = "write a duration such as 6h, 90m, 30s, 1d12h or a Slurm time (1:30:00)"


def parse_flex(text: str, option: str = "--carbon-flex") -> float:
    """Seconds of a ``--carbon-flex`` duration; :class:`JobSpecError` naming ``option``."""
    s = text.strip().lower()
    if s.startswith("-"):
        raise JobSpecError(f"{option}={text}: a flexibility cannot be negative", hint=_FLEX_HINT)
    if _FLEX_RE.match(s):
        return float(sum(float(n) * _UNITS[u] for n, u in _FLEX_PART.findall(s)))
    if _SLURM_DURATION.match(s):
        from hyperion.jobspec.values import parse_time

        return float(parse_time(s) or 0)
    raise JobSpecError(f"{option}={text}: not a duration", hint=_FLEX_HINT)


def _at(day: date, hour: int, minute: int, second: int = 0) -> float:
    return datetime(day.year, day.month, day.day, hour, minute, second).timestamp()


def _clock(s: str) -> tuple[int, int, int] | None:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", s)
    if not m:
        return None
    h, mi, sec = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if h > 23 or mi > 59 or sec > 59:
        raise ValueError(s)
    return h, mi, sec


def _date(s: str, today: date) -> date | None:
    if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", s):
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if m := re.fullmatch(r"(\d{2})(\d{2})(\d{2})?", s):
        year = 2000 + int(m.group(3)) if m.group(3) else today.year
        return date(year, int(m.group(1)), int(m.group(2)))
    if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})(?:/(\d{2}))?", s):
        year = 2000 + int(m.group(3)) if m.group(3) else today.year
        return date(year, int(m.group(1)), int(m.group(2)))
    return None


def _parse(s: str, now: float) -> float:
    if m := _NOW_RE.fullmatch(s):
        unit = (m.group(2) or "s")[0]
        return now + int(m.group(1) or 0) * _NOW_UNITS[unit]
    today = datetime.fromtimestamp(now).date()
    if s in ("today", "tomorrow"):
        return _at(today + timedelta(days=s == "tomorrow"), 0, 0)
    if s in _NAMED:
        t = _at(today, *_NAMED[s])
        return t if t > now else _at(today + timedelta(days=1), *_NAMED[s])
    if (hms := _clock(s)) is not None:
        t = _at(today, *hms)
        return t if t > now else _at(today + timedelta(days=1), *hms)
    day_text, _, clock_text = s.partition("t")
    day = _date(day_text, today)
    if day is None:
        raise ValueError(s)
    hms = _clock(clock_text) if clock_text else (0, 0, 0)
    if hms is None:
        raise ValueError(s)
    return _at(day, *hms)


def parse_slurm_time(text: str, now: float, option: str = "--deadline") -> float:
    """Epoch seconds of an sbatch time (``--begin``/``--deadline`` forms, daemon-local)."""
    try:
        return _parse(text.strip().lower(), now)
    except (ValueError, OverflowError):
        raise JobSpecError(
            f"{option}={text}: not a time",
            hint="use HH:MM[:SS], YYYY-MM-DD[THH:MM[:SS]], MMDD[YY] or now+COUNT[units] "
            "(e.g. now+6hours), as sbatch does",
        ) from None
