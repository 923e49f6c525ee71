"""Reader for the Standard Workload Format (SWF) of the Parallel Workloads Archive.

Copes with real files: ``;`` header comments (``MaxNodes``, ``MaxProcs``, ``UnixStartTime``, ...),
tabs or runs of spaces, extra trailing columns, ``-1`` for unknown values and fractional numbers.

Per job: processors = max(allocated, requested) (fields 5 and 8); requested time (field 9) falls
back to the run time when unknown (counted in :attr:`SwfTrace.req_from_run`); memory per core
(``mem_per_core``, MB rounded up) is the requested memory (field 10, KB per processor), else the
used memory (field 7), else unknown. Jobs with no positive run time, no processor count, an
unknown submit time or more processors than the machine are dropped and counted by reason in
:attr:`SwfTrace.dropped`. A line that is not SWF raises :class:`TraceError` naming the file and
line, unless ``skip_bad=True``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hyperion.errors import HyperionError
from hyperion.sim.job import SimJob

#: number of fields in a standard SWF record
SWF_FIELDS = 18


class TraceError(HyperionError):
    """A workload trace is missing, unreadable or malformed."""

    exit_code = 2


@dataclass
class SwfTrace:
    """A parsed trace: its header, its kept jobs (sorted by submit time) and what was dropped."""

    source: str
    header: dict[str, str]
    jobs: list[SimJob]
    max_procs: int | None
    unix_start: int | None
    records: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    req_from_run: int = 0
    bad_lines: int = 0

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped.values())

    @property
    def machine_size(self) -> int:
        """Processors of the machine: the header's, or the largest job when it has none."""
        if self.max_procs:
            return self.max_procs
        return max((j.cores for j in self.jobs), default=1)

    def summary(self) -> str:
        """One line a person can read: what was kept, dropped and assumed."""
        parts = [f"{self.source}: {len(self.jobs)} of {self.records} jobs kept"]
        if self.dropped:
            why = ", ".join(f"{n} {reason}" for reason, n in sorted(self.dropped.items()))
            parts.append(f"dropped {why}")
        if self.req_from_run:
            parts.append(f"{self.req_from_run} without requested time (run time used)")
        if self.bad_lines:
            parts.append(f"{self.bad_lines} malformed lines skipped")
        return "; ".join(parts)


def _int_header(header: dict[str, str], key: str) -> int | None:
    value = header.get(key)
    if value is None:
        return None
    try:
        return int(float(value.split()[0]))
    except (ValueError, IndexError):
        return None


def _fields(parts: list[str]) -> list[int]:
    """The first 18 fields as ints; fractional values are truncated."""
    try:
        return [int(x) for x in parts[:SWF_FIELDS]]
    except ValueError:
        return [int(float(x)) for x in parts[:SWF_FIELDS]]


def parse_swf(
    lines: Iterable[str],
    *,
    source: str = "<swf>",
    max_procs: int | None = None,
    skip_bad: bool = False,
    home: str | None = None,
) -> SwfTrace:
    """Parse SWF text given as lines; see the module docstring for the rules.

    ``max_procs`` overrides the header's machine size; ``home`` is stored on every job.
    """
    header: dict[str, str] = {}
    rows: list[list[int]] = []
    bad = 0
    for lineno, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            continue
        first = parts[0]
        if first[0] == ";":
            text = line.strip().lstrip(";").strip()
            key, sep, value = text.partition(":")
            if sep and key and " " not in key.strip():
                key = key.strip()
                header[key] = f"{header[key]}\n{value.strip()}" if key in header else value.strip()
            continue
        try:
            if len(parts) < SWF_FIELDS:
                raise ValueError(f"expected {SWF_FIELDS} fields, found {len(parts)}")
            rows.append(_fields(parts))
        except ValueError as exc:
            if skip_bad:
                bad += 1
                continue
            msg = str(exc) if "fields" in str(exc) else f"not a number: {exc}"
            raise TraceError(
                f"{source}, line {lineno}: malformed SWF record ({msg}): {line.strip()[:80]!r}",
                hint="fix the line, or skip malformed lines (--skip-bad / skip_bad=True)",
            ) from None
    size = max_procs or _int_header(header, "MaxProcs") or _int_header(header, "MaxNodes")
    jobs: list[SimJob] = []
    dropped: dict[str, int] = {}
    req_from_run = 0
    for f in rows:
        submit, run = f[1], f[3]
        procs = f[4] if f[4] > f[7] else f[7]
        if submit < 0:
            reason = "unknown submit time"
        elif run <= 0:
            reason = "zero or negative run time"
        elif procs <= 0:
            reason = "unknown processors"
        elif size is not None and procs > size:
            reason = "more processors than the machine"
        else:
            req = f[8]
            if req <= 0:
                req = run
                req_from_run += 1
            kb = f[9] if f[9] > 0 else f[6]  # KB per processor: requested, else used
            mem = -(-kb // 1024) if kb > 0 else None
            jobs.append(
                SimJob(f[0], submit, run, req, procs, 0, mem_per_core=mem, user=f[11], home=home)
            )
            continue
        dropped[reason] = dropped.get(reason, 0) + 1
    jobs.sort(key=lambda j: j.submit)
    return SwfTrace(
        source=source,
        header=header,
        jobs=jobs,
        max_procs=size,
        unix_start=_int_header(header, "UnixStartTime"),
        records=len(rows),
        dropped=dropped,
        req_from_run=req_from_run,
        bad_lines=bad,
    )


def read_swf(
    path: str | Path,
    *,
    max_procs: int | None = None,
    skip_bad: bool = False,
    home: str | None = None,
) -> SwfTrace:
    """Read an SWF file (see :func:`parse_swf`); a missing file is a :class:`TraceError`."""
    p = Path(path)
    try:
        with p.open(encoding="utf-8", errors="replace") as fh:
            return parse_swf(fh, source=str(p), max_procs=max_procs, skip_bad=skip_bad, home=home)
    except FileNotFoundError:
        raise TraceError(
            f"{p}: no such trace file",
            hint="give the path of an SWF file, e.g. --trace ../shared/data/traces/lublin_256.swf",
        ) from None
    except IsADirectoryError:
        raise TraceError(f"{p}: is a directory, not an SWF file") from None
    except OSError as exc:
        raise TraceError(f"{p}: cannot read the trace: {exc.strerror}") from None
