"""A :class:`JobSpec` written out for Slurm: sbatch argv, ``#SBATCH`` lines, slurmrestd JSON.

slurmrestd: the keys are those of the v0.0.38 ``job_params`` table in Slurm 22.05
(src/plugins/openapi/v0.0.38/jobs.c), which is what the server parses; where the published
OpenAPI document differs, the parser wins. Checked against slurmrestd 22.05.8 and what
slurmctld then records (``tests/integration/test_rest_fields.py``):

* ``requeue`` and ``no_requeue`` each set their meaning whatever the JSON value (``"requeue":
  false`` still gives Requeue=1), so only the one that was set last is sent, as ``true``;
* ``exclusive`` takes ``exclusive``/``user``/``mcs`` (OverSubscribe=NO, =USER, ...); ``true`` is
  refused ("Invalid exclusive specification");
* ``nodes`` is the "MIN[-MAX]" string (NumNodes=2-3); the two-integer list ``[2, 3]`` is
  accepted and ignored (NumNodes=1);
* ``time_limit`` is minutes, rounded up like sbatch; 0 is no limit (TimeLimit=UNLIMITED, what
  ``sbatch --time=UNLIMITED`` or ``--time=0`` give);
* ``begin_time`` and ``deadline`` are sbatch's time strings, passed unchanged: slurmrestd reads
  them with ``parse_time()`` on the cluster, as sbatch does there. Relative values (``now+1hour``)
  count from the moment slurmrestd receives the job, absolute ones are in its local time zone,
  ``uts<epoch>`` is exact; values sbatch refuses (``now+2h``, a bare epoch, an ISO time with
  ``Z`` or an offset) slurmrestd refuses too ("Unable to parse time");
* ``#SBATCH`` lines in the script are NOT read by slurmrestd: :func:`resolve` must have applied
  them, and every option goes as a field;
* no ``argv`` is ever sent: slurmrestd 22.05.8 crashes (SIGSEGV, sometimes after queueing the
  job, so the client sees no answer) on any non-empty ``argv``; script arguments are refused.

Options Hyperion consumes itself (``spec.hyperion_options``: ``--test-only``, ``--wait``,
``--parsable``, ...) are never sent, by :func:`to_sbatch_argv` or :func:`to_rest_job`; the
caller acts on them (an estimate instead of a submission, waiting for the end).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hyperion.errors import JobSpecError
from hyperion.jobspec.script import format_directive
from hyperion.jobspec.spec import JobSpec
from hyperion.jobspec.table import option_table
from hyperion.jobspec.values import (
    check_value,
    parse_memory,
    parse_time_limit,
    seconds_to_minutes,
)


def _option_words(name: str, value: str | None) -> str:
    return f"--{name}" if value is None else f"--{name}={value}"


def to_sbatch_argv(spec: JobSpec, overrides: Mapping[str, str | None] | None = None) -> list[str]:
    """sbatch's options for ``spec``, one ``--name[=value]`` element each, never shell-quoted.

    Every option of ``spec.options`` is included; Hyperion's own options are not. ``overrides``
    (long name -> value, None for a flag) replace or add options, e.g. ``{"parsable": None}``
    for a connector that reads the job id. The script path and its arguments are not included.
    """
    table = option_table()
    items = spec.values()
    for key, value in (overrides or {}).items():
        opt = table.get(key)
        if opt is None:
            raise JobSpecError(f"unknown sbatch option {key!r} in overrides")
        if opt.treatment == "refuse":
            raise JobSpecError(f"{opt.flag} is not allowed through Hyperion")
        if opt.arg == "none" and value is not None:
            raise JobSpecError(f"override {opt.flag} takes no value, got {value!r}")
        if opt.arg == "required" and value is None:
            raise JobSpecError(f"override {opt.flag} needs a value")
        try:
            check_value(opt.type, value)
        except ValueError as exc:
            raise JobSpecError(f"override {opt.flag}={value!r}: {exc}") from None
        for name in [n for n in items if n != opt.name and table.options[n].slot == opt.slot]:
            del items[name]
        items[opt.name] = value
    return [_option_words(name, value) for name, value in items.items()]


def to_directives(spec: JobSpec) -> list[str]:
    """``#SBATCH`` lines for ``spec.options`` (quoted so sbatch reads the same values back)."""
    return [format_directive(name, value) for name, value in spec.values().items()]


def _minutes(value: str | None) -> int:
    seconds = parse_time_limit(value or "")
    return 0 if seconds is None else seconds_to_minutes(seconds)  # 0 = no limit for Slurm


_REST: dict[str, Callable[[str | None], Any]] = {
    "string": lambda v: v,
    "int": lambda v: int(v or 0),
    "mib": lambda v: parse_memory(v or ""),
    "minutes": _minutes,
    "true": lambda v: True,
    "optional": lambda v: v,
    "exclusive": lambda v: v.lower() if v else "exclusive",
    "open_mode": lambda v: "append" if (v or "a")[0] in "aA" else "truncate",
    "yes_no": lambda v: (v or "").lower() == "yes",
    "nice": lambda v: None if v is None else int(v),
    "priority": lambda v: "TOP" if (v or "").upper() == "TOP" else int(v or 0),
}


def to_rest_job(spec: JobSpec, *, environment: Mapping[str, str]) -> dict[str, Any]:
    """The ``job`` object of ``POST /slurm/v0.0.38/job/submit`` for ``spec``.

    ``environment`` is the job's environment (slurmrestd requires one; ``--export`` cannot be
    used over REST). An option v0.0.38 cannot express raises :class:`JobSpecError`, and so do
    script arguments (slurmrestd 22.05 crashes on ``argv``; see the module docstring).
    ``spec.hyperion_options`` are not sent.
    """
    table = option_table()
    job: dict[str, Any] = {}
    for name, ov in spec.options.items():
        opt = table.options[name]
        if opt.rest is None:
            raise JobSpecError(
                f"{opt.flag} ({ov.origin}) cannot be sent to slurmrestd: the v0.0.38 job API "
                "has no field for it",
                hint="remove the option, or place the job on a site reached by sbatch "
                "(local or ssh access)",
            )
        job[opt.rest] = _REST[opt.rest_type](ov.value)
    if spec.script_args:
        raise JobSpecError(
            f"script arguments {list(spec.script_args)!r} cannot be sent to slurmrestd: "
            "slurmrestd 22.05 crashes on the v0.0.38 argv field",
            hint="pass them through the job's environment, or place the job on a site "
            "reached by sbatch (local or ssh access)",
        )
    if not environment:
        raise JobSpecError("slurmrestd needs the job's environment; none was given")
    for key, val in environment.items():
        if not key or "=" in key or "\0" in key or "\0" in val:
            raise JobSpecError(f"environment variable {key!r} cannot be sent to slurmrestd")
    job["environment"] = dict(environment)
    return job


def to_rest_submission(spec: JobSpec, *, environment: Mapping[str, str]) -> dict[str, Any]:
    """The whole request body: ``{"script": ..., "job": ...}``."""
    return {"script": spec.script_text, "job": to_rest_job(spec, environment=environment)}
