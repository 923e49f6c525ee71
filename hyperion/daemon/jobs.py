"""A job as hyperiond receives it (``POST /jobs``), and its translation for one site.

The client sends the user's sbatch options exactly as typed; the daemon resolves them once with
:func:`hyperion.jobspec.resolve` (command line > ``SBATCH_*`` > ``#SBATCH``), places the job,
then builds a :class:`~hyperion.sites.Submission` per site with the partition, GPU type, account
and QoS names of that site and the attempt's key in the Slurm job's comment.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import time
from dataclasses import dataclass
from typing import Any

from hyperion.config.schema import SiteConfig
from hyperion.daemon.identity import Caller
from hyperion.errors import JobSpecError
from hyperion.jobspec import (
    JobSpec,
    parse_cli_args,
    resolve,
    to_request,
    to_sbatch_argv,
    translate,
)
from hyperion.jobspec.spec import OptionValue
from hyperion.jobspec.when import parse_flex, parse_slurm_time
from hyperion.sites.base import DEFAULT_JOB_ENV, Submission
from hyperion.state.ids import comment_with_key
from hyperion.types import JobRequest

#: variables sbatch reads as input; resolved by the daemon, so they must not reach the site
_INPUT_VARS = re.compile(r"^(SBATCH_|SLURM_)")
_SH_SHEBANG = re.compile(r"^#!\s*\S*/(?:env\s+)?(?:ba|da|z|k)?sh\b")
_TOP_LEVEL_KEYS = {
    "argv",
    "script",
    "script_path",
    "script_args",
    "env",
    "cwd",
    "test_only",
    "site",
    "policy",
    "carbon_flex",
}


@dataclass(frozen=True)
class JobInput:
    """A submission after validation and resolution."""

    user: str
    uid: int
    argv: tuple[str, ...]
    script: str
    script_path: str | None
    script_args: tuple[str, ...]
    env: dict[str, str]
    cwd: str
    site: str | None
    policy: str | None
    test_only: bool
    spec: JobSpec
    request: JobRequest
    carbon_flex: str | None = None

    @property
    def flexible(self) -> bool:
        """The job declared time flexibility (``--carbon-flex``, ``--deadline``)."""
        return bool(self.request.carbon_flex_s) or self.request.deadline is not None

    def to_row(self) -> dict[str, Any]:
        """The fields of the ``job`` table for this submission."""
        return {
            "name": self.request.name or "",
            "owner": self.user,
            "owner_uid": self.uid,
            "account": self.request.account,
            "policy": self.policy,
            "pinned_site": self.site,
            "spec": {
                "argv": list(self.argv),
                "script": self.script,
                "script_path": self.script_path,
                "script_args": list(self.script_args),
                "env": self.env,
                "cwd": self.cwd,
                "carbon_flex": self.carbon_flex,
            },
            "request": {**dataclasses.asdict(self.request), "deferred": self.deferred},
        }

    @property
    def deferred(self) -> bool:
        """Slurm will not start it as soon as it can (held, a dependency, a begin time):
        Hyperion neither holds it nor counts it in a site's backlog."""
        return any(self.spec.has(name) for name in ("hold", "dependency", "begin"))

    @classmethod
    def from_row(cls, row: Any) -> JobInput:
        """Rebuild the input of a stored job (after a restart, for a move)."""
        s = row.spec
        # a --wrap job's stored script was made from --wrap: resolving makes it again
        wrapped = any(p.option.name == "wrap" for p in parse_cli_args(s["argv"]).options)
        body = {
            "argv": s["argv"],
            "script": None if wrapped else s["script"],
            "script_path": s.get("script_path"),
            "script_args": s.get("script_args", []),
            "env": s["env"],
            "cwd": s["cwd"],
            "site": row.pinned_site,
            "policy": row.policy,
            "carbon_flex": s.get("carbon_flex"),
        }
        who = Caller(uid=row.owner_uid, user=row.owner, admin=False)
        return parse_job_input(body, who, stored=getattr(row, "request", None) or {})


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise JobSpecError(f"{what} must be a list of strings")
    return value


def _flexibility(
    body: dict[str, Any], spec: JobSpec, stored: dict[str, Any] | None
) -> tuple[str | None, float | None, float | None]:
    """(``carbon_flex`` as given, its seconds, the deadline as an epoch) of a new job; a
    stored job keeps the deadline it was given at submission (``now+1hour`` then)."""
    flex = body.get("carbon_flex")
    if flex is not None and not isinstance(flex, str):  # a bare number: seconds or minutes?
        raise JobSpecError("carbon_flex must be a duration string such as '6h' or '90m'")
    flex_text = None if flex is None else str(flex)
    flex_s = parse_flex(flex_text) if flex_text is not None else None
    if stored is not None:
        return flex_text, flex_s, stored.get("deadline")
    text = spec.get("deadline")
    if text is None:
        return flex_text, flex_s, None
    now = time.time()
    deadline = parse_slurm_time(text, now, "--deadline")
    if deadline <= now:
        raise JobSpecError(
            f"--deadline={text}: that time has passed",
            hint="give a time in the future, e.g. --deadline=now+6hours",
        )
    return flex_text, flex_s, deadline


def parse_job_input(
    body: dict[str, Any], who: Caller, *, stored: dict[str, Any] | None = None
) -> JobInput:
    """Validate a ``POST /jobs`` body and resolve the job the way sbatch would; ``stored``: the
    request JSON of a job already accepted (its deadline is not parsed again)."""
    unknown = sorted(set(body) - _TOP_LEVEL_KEYS)
    if unknown:
        raise JobSpecError(f"unknown field(s) in the request: {', '.join(unknown)}")
    argv = _strings(body.get("argv", []), "argv")
    script_args = _strings(body.get("script_args", []), "script_args")
    script = body.get("script")
    if script is not None and not isinstance(script, str):
        raise JobSpecError("script must be a string")
    env = body.get("env") or {}
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise JobSpecError("env must be an object of strings")
    cwd = body.get("cwd") or "/"
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        raise JobSpecError(f"cwd must be an absolute path, got {cwd!r}")
    site, policy = body.get("site"), body.get("policy")
    for name, value in (("site", site), ("policy", policy)):
        if value is not None and not isinstance(value, str):
            raise JobSpecError(f"{name} must be a string")
    spec = resolve(argv, env, script)
    if script_args:
        with_script_args(spec.script_text, tuple(script_args))  # refused now, not at a site
        spec = dataclasses.replace(spec, script_args=tuple(script_args))
    flex_text, flex_s, deadline = _flexibility(body, spec, stored)
    request = dataclasses.replace(
        to_request(spec), user=who.user, carbon_flex_s=flex_s or None, deadline=deadline
    )
    return JobInput(
        user=who.user,
        uid=who.uid,
        argv=tuple(argv),
        script=spec.script_text,
        script_path=body.get("script_path"),
        script_args=tuple(script_args),
        env=dict(env),
        cwd=cwd,
        site=site,
        policy=policy,
        test_only=bool(body.get("test_only")),
        spec=spec,
        request=request,
        carbon_flex=flex_text,
    )


def with_script_args(script: str, args: tuple[str, ...]) -> str:
    """The script with ``set -- ARGS`` before its first command (sbatch passes arguments; a
    script sent on stdin or over REST cannot take any). Only for sh-family interpreters."""
    if not args:
        return script
    lines = script.splitlines(keepends=True)
    if not lines or not _SH_SHEBANG.match(lines[0]):
        raise JobSpecError(
            "script arguments need a /bin/sh-family script (its first line is "
            f"{lines[0].strip() if lines else 'empty'!r})",
            hint="put the arguments inside the script, or use a sh/bash script that calls yours",
        )
    at = len(lines)
    for i, line in enumerate(lines[1:], start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            at = i
            break
    set_line = (
        "set -- " + " ".join(shlex.quote(a) for a in args) + "  # hyperion: script arguments\n"
    )
    return "".join(lines[:at] + [set_line] + lines[at:])


def job_environment(env: dict[str, str]) -> dict[str, str]:
    """The job's environment: the user's, less the sbatch input variables already resolved."""
    clean = {k: v for k, v in env.items() if not _INPUT_VARS.match(k)}
    return clean or dict(DEFAULT_JOB_ENV)


def build_submission(
    job: JobInput, site: SiteConfig, partition: str, key: str | None
) -> Submission:
    """The job translated for ``site``/``partition``; ``key`` goes into the Slurm comment."""
    options = dict(job.spec.options)
    options["partition"] = OptionValue("partition", partition, "hyperion", "placement")
    spec = translate(dataclasses.replace(job.spec, options=options), site)
    overrides: dict[str, str | None] = {}
    if key is not None:
        overrides["comment"] = comment_with_key(key, spec.get("comment"))
    if job.request.deadline is not None and spec.get("deadline") is not None:
        # the instant given at hsub time, whenever (and in whichever time zone) sbatch runs
        left = max(1, int(job.request.deadline - time.time()))
        overrides["deadline"] = f"now+{left}seconds"
    pairs: list[tuple[str, str | None]] = []
    for word in to_sbatch_argv(spec, overrides):
        name, eq, value = word[2:].partition("=")
        pairs.append((name, value if eq else None))
    return Submission(
        script=with_script_args(job.script, job.script_args),
        user=job.user,
        options=tuple(pairs),
        cwd=job.spec.get("chdir") or job.cwd,
        environment=job_environment(job.env),
    )
