"""sbatch long options -> the ``job`` object of slurmrestd v0.0.38 ``POST /job/submit``.

One explicit table. An option v0.0.38 cannot express is refused with an error naming it,
never dropped silently.

The keys and value forms are those slurmrestd 22.05 actually parses (the ``job_params`` table of
src/plugins/openapi/v0.0.38/jobs.c, fed to ``slurm_process_option_data``), which differs from
the published OpenAPI document: ``requeue`` sets requeue whatever its value, so
``--no-requeue`` is sent as ``no_requeue``; ``exclusive`` takes ``exclusive``/``user``/``mcs``
(not ``true``); the two-integer list form of ``nodes`` does not mark the node count as set, so
``nodes`` is sent as the "MIN[-MAX]" string; ``begin_time`` goes through ``parse_time``, which
reads epoch seconds only as ``uts<N>``; ``excluded_nodes`` and ``required_nodes`` are disabled
keys (``exclude_nodes`` and ``nodelist`` are not).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from hyperion.errors import JobSpecError
from hyperion.sites.base import Submission
from hyperion.sites.slurm_json import slurm_duration


def _int(option: str) -> Callable[[str | None], int]:
    def conv(value: str | None) -> int:
        try:
            return int(str(value))
        except ValueError:
            raise JobSpecError(f"--{option}={value}: expected an integer") from None

    return conv


def _minutes(value: str | None) -> int:
    seconds = slurm_duration(str(value))
    if not seconds:  # None (UNLIMITED) or 0, which Slurm also reads as no limit
        raise JobSpecError(f"--time={value}: slurmrestd v0.0.38 needs a finite time limit")
    return max(1, -(-seconds // 60))


def _mem(value: str | None) -> int:
    text = str(value).strip().upper().removesuffix("B")
    if text.endswith("K"):  # round up as Slurm does: 0 would mean "all the node's memory"
        return -(-int(text[:-1]) // 1024)
    factor = {"M": 1, "G": 1024, "T": 1024 * 1024}
    if text and text[-1] in factor:
        return int(text[:-1]) * factor[text[-1]]
    return int(text)


def _epoch(value: str | None) -> str:
    text = str(value)
    if text.isdigit():
        return f"uts{int(text)}"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise JobSpecError(
            f"--begin={text}: over slurmrestd only an ISO time (2026-01-31T12:00:00) or epoch "
            "seconds are accepted"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return f"uts{int(when.timestamp())}"


def _flag(value: str | None) -> bool:
    return True


def _nodes(value: str | None) -> str:
    text = str(value).strip()
    if not re.fullmatch(r"\d+(-\d+)?", text):
        raise JobSpecError(f"--nodes={value}: expected N or MIN-MAX")
    return text


def _str(value: str | None) -> str:
    return "" if value is None else str(value)


#: sbatch long option -> (v0.0.38 field, converter)
REST_FIELDS: dict[str, tuple[str, Callable[[str | None], Any]]] = {
    "job-name": ("name", _str),
    "partition": ("partition", _str),
    "account": ("account", _str),
    "qos": ("qos", _str),
    "nodes": ("nodes", _nodes),
    "ntasks": ("tasks", _int("ntasks")),
    "ntasks-per-node": ("tasks_per_node", _int("ntasks-per-node")),
    "cpus-per-task": ("cpus_per_task", _int("cpus-per-task")),
    "mem": ("memory_per_node", _mem),
    "mem-per-cpu": ("memory_per_cpu", _mem),
    "gres": ("gres", _str),
    "gpus": ("gpus", _str),
    "gpus-per-node": ("gpus_per_node", _str),
    "time": ("time_limit", _minutes),
    "time-min": ("time_minimum", _minutes),
    "output": ("standard_output", _str),
    "error": ("standard_error", _str),
    "input": ("standard_input", _str),
    "array": ("array", _str),
    "dependency": ("dependency", _str),
    "begin": ("begin_time", _epoch),
    "constraint": ("constraints", _str),
    "mail-type": ("mail_type", _str),
    "mail-user": ("mail_user", _str),
    "comment": ("comment", _str),
    "wckey": ("wckey", _str),
    "hold": ("hold", _flag),
    "nice": ("nice", _int("nice")),
    "reservation": ("reservation", _str),
    "licenses": ("licenses", _str),
    "signal": ("signal", _str),
    "exclude": ("exclude_nodes", _str),
    "nodelist": ("nodelist", _str),
    "chdir": ("current_working_directory", _str),
}


def rest_job(sub: Submission) -> dict[str, Any]:
    """The v0.0.38 ``job`` object for ``sub``; :class:`JobSpecError` for what it cannot carry."""
    job: dict[str, Any] = {
        "current_working_directory": sub.cwd,
        "environment": dict(sub.environment),
    }
    for name, value in sub.options:
        if name in ("requeue", "no-requeue"):
            # the last of the two wins, as with sbatch
            job.pop("requeue", None)
            job.pop("no_requeue", None)
            job[name.replace("-", "_")] = True
        elif name == "exclusive":
            job["exclusive"] = value if value else "exclusive"
        elif name in REST_FIELDS:
            key, conv = REST_FIELDS[name]
            try:
                job[key] = conv(value)
            except ValueError:
                raise JobSpecError(f"--{name}={value}: not a valid value") from None
        else:
            raise JobSpecError(
                f"option --{name} cannot be sent through slurmrestd v0.0.38",
                hint="pin the job to a site reached over SSH or the local CLI, or drop the option",
            )
    for text_field in ("name", "comment", "standard_output", "standard_error"):
        if "\n" in str(job.get(text_field, "")):
            raise JobSpecError(f"{text_field} must not contain a newline")
    return job
