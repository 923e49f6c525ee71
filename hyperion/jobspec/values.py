"""Parsers for sbatch option values, following Slurm 22.05's own parsers.

Each parser raises :class:`ValueError` whose message states the accepted format; callers turn
it into a :class:`~hyperion.errors.JobSpecError` naming the option and where it came from.
Durations are seconds, memory is MiB.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

# ---- durations (time_str2secs in src/common/parse_time.c) -------------------------------------

TIME_FORMATS = (
    "minutes, minutes:seconds, hours:minutes:seconds, days-hours, days-hours:minutes, "
    "days-hours:minutes:seconds, or UNLIMITED"
)
_DAYS_RE = re.compile(r"^(\d+)-(\d+)(?::(\d+)(?::(\d+))?)?$", re.ASCII)
_CLOCK_RE = re.compile(r"^(\d+)(?::(\d+)(?::(\d+))?)?$", re.ASCII)
_UNLIMITED = {"-1", "INFINITE", "UNLIMITED"}


def parse_time(text: str) -> int | None:
    """Seconds of a Slurm time string; None for UNLIMITED, INFINITE or -1.

    Like Slurm, fields are not range-checked ("90" minutes or "1:99:00" are accepted).
    """
    if text.upper() in _UNLIMITED:
        return None
    if m := _DAYS_RE.match(text):
        d, h, mi, s = (int(g) if g is not None else 0 for g in m.groups())
        return ((d * 24 + h) * 60 + mi) * 60 + s
    if m := _CLOCK_RE.match(text):
        parts = [int(g) for g in m.groups() if g is not None]
        if len(parts) == 1:
            return parts[0] * 60
        if len(parts) == 2:
            return parts[0] * 60 + parts[1]
        return (parts[0] * 60 + parts[1]) * 60 + parts[2]
    raise ValueError(f"expected a time as {TIME_FORMATS}")


def parse_time_limit(text: str) -> int | None:
    """A --time value in seconds; None means no limit (UNLIMITED, or 0 as sbatch documents)."""
    seconds = parse_time(text)
    return None if seconds == 0 else seconds


def format_time(seconds: int) -> str:
    """A Slurm time string for ``seconds`` ("D-HH:MM:SS" or "HH:MM:SS")."""
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    days, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    clock = f"{h:02d}:{m:02d}:{s:02d}"
    return f"{days}-{clock}" if days else clock


def seconds_to_minutes(seconds: int) -> int:
    """Minutes as slurmctld stores a limit: rounded up (time_str2mins)."""
    return math.ceil(seconds / 60)


# ---- memory (str_to_mbytes in src/common/proc_args.c) ------------------------------------------

MEMORY_FORMAT = "a whole number of MiB, optionally with a K, M, G or T suffix (e.g. 4000, 16G)"
_MEM_RE = re.compile(r"^(\d+)(?:([KkMmGgTt])[Bb]?)?$", re.ASCII)
_MEM_FACTOR = {"M": 1, "G": 1024, "T": 1024 * 1024}


def parse_memory(text: str) -> int:
    """MiB of a memory size; K rounds up like Slurm (1K -> 1 MiB)."""
    m = _MEM_RE.match(text)
    if not m:
        raise ValueError(f"expected {MEMORY_FORMAT}")
    n, unit = int(m.group(1)), (m.group(2) or "M").upper()
    if unit == "K":
        return (n + 1023) // 1024
    return n * _MEM_FACTOR[unit]


# ---- node counts (verify_node_count) -----------------------------------------------------------

NODES_FORMAT = "a node count N or a range MIN-MAX (k/m suffixes allowed), e.g. 2 or 2-4"
_NODES_RE = re.compile(r"^(\d+)([kKmM]?)(?:-(\d+)([kKmM]?))?$", re.ASCII)
_NODE_FACTOR = {"": 1, "K": 1024, "M": 1024 * 1024}


def parse_nodes(text: str) -> tuple[int, int | None]:
    """(min, max) nodes; max is None when no range was given."""
    m = _NODES_RE.match(text)
    if not m:
        raise ValueError(f"expected {NODES_FORMAT}")
    lo = int(m.group(1)) * _NODE_FACTOR[m.group(2).upper()]
    if m.group(3) is None:
        return lo, None
    hi = int(m.group(3)) * _NODE_FACTOR[m.group(4).upper()]
    if hi < lo:
        raise ValueError(f"the maximum node count {hi} is less than the minimum {lo}")
    return lo, hi


# ---- GRES and GPU specifications ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GresItem:
    """One generic resource request: ``name[:type][:count]``."""

    name: str
    type: str | None
    count: int

    def render(self, *, with_name: bool = True) -> str:
        """Back to Slurm syntax (``gpu:a100:2``; ``a100:2`` without the name)."""
        parts = [self.name] if with_name else []
        if self.type is not None:
            parts.append(self.type)
        parts.append(str(self.count))
        return ":".join(parts)


GRES_FORMAT = "a comma list of name[:type][:count], e.g. gpu:2, gpu:a100:2 or gpu (= 1)"
GPUS_FORMAT = "a comma list of [type:]count, e.g. 2 or a100:2"
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-/]+$", re.ASCII)
_TYPE_RE = re.compile(r"^[^:,\s]+$", re.ASCII)
_COUNT_RE = re.compile(r"^(\d+)([kKmMgGtT]?)$", re.ASCII)
_COUNT_FACTOR = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def _count(text: str) -> int | None:
    m = _COUNT_RE.match(text)
    return int(m.group(1)) * _COUNT_FACTOR[m.group(2).upper()] if m else None


def parse_gres(text: str) -> tuple[GresItem, ...]:
    """Items of a --gres value; ``none`` gives no items."""
    if text.lower() == "none":
        return ()
    items = []
    for entry in text.split(","):
        body = entry[5:] if entry[:5].lower() in {"gres:", "gres/"} else entry
        parts = body.split(":")
        name, rest = parts[0], parts[1:]
        gtype: str | None = None
        count: int | None = 1
        if len(rest) == 1:
            count = _count(rest[0])
            if count is None:
                gtype, count = rest[0], 1
        elif len(rest) == 2:
            gtype, count = rest[0], _count(rest[1])
        elif len(rest) > 2:
            count = None
        if (
            not _NAME_RE.match(name)
            or count is None
            or (gtype is not None and not _TYPE_RE.match(gtype))
        ):
            raise ValueError(f"expected {GRES_FORMAT}")
        items.append(GresItem(name, gtype, count))
    return tuple(items)


def parse_gpus(text: str) -> tuple[GresItem, ...]:
    """Items of a --gpus / --gpus-per-* value (``[type:]count``), named ``gpu``."""
    items = []
    for entry in text.split(","):
        gtype, _, num = entry.rpartition(":")
        count = _count(num)
        if count is None or (gtype and not _TYPE_RE.match(gtype)):
            raise ValueError(f"expected {GPUS_FORMAT}")
        items.append(GresItem("gpu", gtype or None, count))
    return tuple(items)


def format_gres(items: tuple[GresItem, ...]) -> str:
    return ",".join(i.render() for i in items) if items else "none"


def format_gpus(items: tuple[GresItem, ...]) -> str:
    return ",".join(i.render(with_name=False) for i in items)


# ---- small enumerations and other formats -------------------------------------------------------

MAIL_TYPES = frozenset(
    "NONE BEGIN END FAIL REQUEUE ALL INVALID_DEPEND STAGE_OUT TIME_LIMIT TIME_LIMIT_90 "
    "TIME_LIMIT_80 TIME_LIMIT_50 ARRAY_TASKS".split()
)
_ARRAY_ITEM = r"\d+(?:-\d+(?::\d+)?)?"
_ARRAY_RE = re.compile(rf"^{_ARRAY_ITEM}(?:,{_ARRAY_ITEM})*(?:%\d+)?$", re.ASCII)
_SIGNAL_RE = re.compile(
    r"^(?:(?:R|B|RB|BR):)?(?:SIG)?[A-Z0-9]+(?:@\d+)?$", re.IGNORECASE | re.ASCII
)
_SWITCHES_RE = re.compile(r"^(\d+)(?:@(.+))?$", re.ASCII)
_UINT_RE = re.compile(r"^\d+$", re.ASCII)
_INT_RE = re.compile(r"^[+-]?\d+$", re.ASCII)
_NICE_LIMIT = 2**31 - 3  # NICE_OFFSET - 3 (slurm.h: NICE_OFFSET = 0x80000000)
_NO_VAL = 0xFFFFFFFE
_GET_USER_ENV_RE = re.compile(r"^\d*[SsLl]?$", re.ASCII)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]", re.ASCII)


def parse_uint(text: str) -> int:
    if not _UINT_RE.match(text):
        raise ValueError("expected a whole number (0 or more)")
    return int(text)


def parse_count(text: str) -> int:
    if not _UINT_RE.match(text) or int(text) < 1:
        raise ValueError("expected a whole number of at least 1")
    return int(text)


def _choice(allowed: tuple[str, ...]) -> Callable[[str], None]:
    def check(text: str) -> None:
        if text.lower() not in allowed:
            raise ValueError("expected one of " + ", ".join(allowed))

    return check


def _array(text: str) -> None:
    if not _ARRAY_RE.match(text):
        raise ValueError("expected array indexes like 0-15, 0,6,16-32, 0-15:4 or 0-15%4")


def _mail_type(text: str) -> None:
    bad = [t for t in text.split(",") if t.upper() not in MAIL_TYPES]
    if bad:
        raise ValueError("expected a comma list of " + ", ".join(sorted(MAIL_TYPES)))


def _signal(text: str) -> None:
    if not _SIGNAL_RE.match(text):
        raise ValueError("expected [{R|B}:]<signal>[@<seconds>], e.g. B:USR1@300")


def _switches(text: str) -> None:
    m = _SWITCHES_RE.match(text)
    if not m:
        raise ValueError("expected <count>[@<max-time>], e.g. 1@2:00:00")
    if m.group(2) is not None:
        parse_time(m.group(2))


def _nice(text: str) -> None:
    if not _INT_RE.match(text) or abs(int(text)) > _NICE_LIMIT:
        raise ValueError(f"expected a whole number between -{_NICE_LIMIT} and {_NICE_LIMIT}")


def _priority(text: str) -> None:
    if text.upper() != "TOP" and (not _UINT_RE.match(text) or int(text) >= _NO_VAL):
        raise ValueError("expected TOP or a whole number of 0 or more")


def _get_user_env(text: str) -> None:
    if not _GET_USER_ENV_RE.match(text) or not text:
        raise ValueError("expected [<timeout>][S|L], e.g. 10, 10L or S")


def _open_mode(text: str) -> None:
    if text[:1].lower() not in {"a", "t"}:
        raise ValueError("expected append or truncate")


def _zero_one(text: str) -> None:
    if text not in {"0", "1"}:
        raise ValueError("expected 0 or 1")


def _any(text: str) -> None:
    return None


# type name (as in sbatch_options.toml) -> check raising ValueError; None = takes no value.
VALIDATORS: dict[str, Callable[[str], object] | None] = {
    "flag": None,
    "counter": None,
    "string": _any,
    "path": _any,
    "command": _any,
    "uint": parse_uint,
    "count": parse_count,
    "time": parse_time,
    "memory": parse_memory,
    "nodes": parse_nodes,
    "gres": parse_gres,
    "gpus": parse_gpus,
    "array": _array,
    "mail_type": _mail_type,
    "signal": _signal,
    "switches": _switches,
    "nice": _nice,
    "priority": _priority,
    "get_user_env": _get_user_env,
    "open_mode": _open_mode,
    "zero_one": _zero_one,
    "exclusive": _choice(("user", "mcs", "exclusive", "oversubscribe")),
    "no_kill": _choice(("set", "off", "no")),
    "yes_no": _choice(("yes", "no")),
    "gres_flags": _choice(("disable-binding", "enforce-binding")),
}


def check_value(type_name: str, value: str | None) -> None:
    """Raise ValueError when ``value`` is not acceptable for an option of ``type_name``.

    Control characters (newline, carriage return, NUL, ...; tab is allowed) are refused in
    every value except a --wrap command: ``#SBATCH`` lines cannot carry them and they would
    break the line-oriented output of squeue and sacct that Hyperion reads back.
    """
    if value is None:
        return
    if type_name != "command" and _CONTROL_RE.search(value):
        raise ValueError(
            "the value contains a control character (newline, carriage return, NUL, ...), "
            "which sbatch directives and Slurm's line-based output cannot carry"
        )
    check = VALIDATORS[type_name]
    if check is not None:
        check(value)
