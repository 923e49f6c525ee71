"""A :class:`Submission` -> the ``job`` object of slurmrestd v0.0.38 ``POST /job/submit``.

sbatch reads ``#SBATCH`` lines itself; over REST Hyperion resolves them (with the same rules
as sbatch: :func:`hyperion.jobspec.resolve`) and sends every option as a field. The option ->
field table is data (``hyperion/jobspec/sbatch_options.toml``); an option v0.0.38 cannot carry
is refused with an error naming it, never dropped.
"""

from __future__ import annotations

from typing import Any

from hyperion.jobspec import resolve, to_rest_job
from hyperion.sites.base import Submission


def rest_job(sub: Submission) -> dict[str, Any]:
    """The v0.0.38 ``job`` object for ``sub``; :class:`JobSpecError` for what it cannot carry."""
    argv = [f"--{name}" if value is None else f"--{name}={value}" for name, value in sub.options]
    if sub.option("chdir") is None and all(name != "chdir" for name, _ in sub.options):
        argv.insert(0, f"--chdir={sub.cwd}")
    spec = resolve(argv, {}, sub.script)
    return to_rest_job(spec, environment=sub.environment)
