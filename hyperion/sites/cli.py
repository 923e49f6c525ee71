"""Shared logic of the CLI transports (local and SSH): Slurm commands as argv lists.

Subclasses provide :meth:`CliConnector._exec`, which runs one argv (never through a shell on
this side; over SSH each word is quoted) with optional stdin and a timeout.
"""

from __future__ import annotations

import json
import re
import time
from abc import abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hyperion.config.schema import LocalAccess, SshAccess
from hyperion.errors import JobRejected, SiteUnreachable, SlurmCommandError
from hyperion.sites.base import (
    PartitionInfo,
    PreemptionSettings,
    SiteInfo,
    StartEstimate,
    Submission,
    SubmitOutcomeUnknown,
)
from hyperion.sites.common import SlurmJsonConnector
from hyperion.sites.slurm_json import (
    envelope_errors,
    scontrol_partitions,
    test_only_estimate,
)

_UNREACHABLE = re.compile(
    r"Unable to contact slurm controller|Socket timed out|Connection refused|"
    r"Zero Bytes were transmitted|Communication connection failure|slurm_load_\w+ error",
    re.IGNORECASE,
)
_SBATCH_ERROR = re.compile(r"(?:sbatch: )?error: (?:Batch job submission failed: )?(.*)")
#: sbatch failures that prove nothing was queued (the controller was never reached); any
#: other communication failure may come after slurmctld accepted the job
_NOT_SENT = re.compile(
    r"Connection refused|connect failure|Unable to contact slurm controller", re.IGNORECASE
)
#: where the Slurm client tools live unless a site's ``bin_dir`` says otherwise
DEFAULT_BIN_DIR = "/usr/bin"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: variables that change how sbatch itself runs, never passed from a user's environment
_LOADER_VARS = re.compile(r"^(LD_|GCONV_PATH$|LOCPATH$|MALLOC_|NLSPATH$|HOSTALIASES$|RES_OPTIONS$)")


def safe_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``env`` that may be passed to a Slurm command for a job: valid names
    only, no dynamic-loader variables, no NUL bytes."""
    return {
        k: v
        for k, v in env.items()
        if _ENV_NAME.match(k) and not _LOADER_VARS.match(k) and "\0" not in v
    }


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What one command printed and returned."""

    rc: int
    stdout: str
    stderr: str


class CliConnector(SlurmJsonConnector):
    """Slurm through its command-line tools. See :class:`SiteConnector` for the contract."""

    def __init__(self, site: str, access: LocalAccess | SshAccess) -> None:
        super().__init__(site)
        self.slurm_conf = str(access.slurm_conf) if access.slurm_conf else None
        self.bin_dir = str(access.bin_dir) if access.bin_dir else None
        self.submit_as: Literal["runuser", "sudo", "none"] = access.submit_as
        self.timeout_s = access.command_timeout_s

    # -- transport ------------------------------------------------------------------------
    @abstractmethod
    def _exec(
        self, argv: list[str], *, stdin: str | None, timeout: float, submitting: bool
    ) -> CommandResult:
        """Run argv; raise SiteUnreachable on transport failure or timeout (or
        SubmitOutcomeUnknown when ``submitting`` and the command may have run)."""

    @abstractmethod
    def _login_user(self) -> str:
        """The Unix user commands run as before any user switch."""

    def _argv(
        self,
        tool: str,
        args: Iterable[str],
        *,
        user: str | None = None,
        env: Mapping[str, str] | None = None,
        utc: bool = True,
    ) -> list[str]:
        """``[become user] /usr/bin/env -i -- VAR=... /abs/path/tool args...``.

        The job never sees the daemon's environment, and the user's environment never chooses
        the program: the Slurm tool is run by absolute path, variable names are checked, and
        the dynamic loader's variables are dropped (they would let a user's environment replace
        sbatch's output, i.e. the job id the daemon records).
        """
        variables = safe_environment(env or {})
        variables.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
        if self.slurm_conf:
            variables["SLURM_CONF"] = self.slurm_conf
        if utc:
            variables["TZ"] = "UTC"
        assignments = [f"{k}={v}" for k, v in variables.items()]
        argv = ["/usr/bin/env", "-i", "--", *assignments, self._tool_path(tool), *args]
        return self._become(user) + argv

    def _tool_path(self, tool: str) -> str:
        """Absolute path of a Slurm tool: ``bin_dir`` if configured, else the default."""
        return f"{(self.bin_dir or self.default_bin_dir()).rstrip('/')}/{tool}"

    def default_bin_dir(self) -> str:
        """Where Slurm's tools are when ``bin_dir`` is not set (overridden by transports)."""
        return DEFAULT_BIN_DIR

    def _become(self, user: str | None) -> list[str]:
        if user is None or user == self._login_user():
            return []
        if self.submit_as == "runuser":
            return ["runuser", "-u", user, "--"]
        if self.submit_as == "sudo":
            return ["sudo", "-n", "-u", user, "--"]
        raise SlurmCommandError(
            self.site,
            f"cannot act as user {user!r}: access.submit_as is 'none' and commands run as "
            f"{self._login_user()!r}",
            hint="set submit_as = 'sudo' or 'runuser' in the site's [access] table",
        )

    def _run(
        self,
        tool: str,
        *args: str,
        stdin: str | None = None,
        user: str | None = None,
        env: Mapping[str, str] | None = None,
        submitting: bool = False,
        check: bool = True,
    ) -> CommandResult:
        argv = self._argv(tool, args, user=user, env=env, utc=not submitting)
        self.calls += 1
        res = self._exec(argv, stdin=stdin, timeout=self.timeout_s, submitting=submitting)
        if check and res.rc != 0:
            self._raise(tool, res)
        return res

    def _raise(self, tool: str, res: CommandResult) -> None:
        text = (res.stderr or res.stdout).strip()
        if _UNREACHABLE.search(text):
            raise SiteUnreachable(self.site, f"slurmctld did not answer: {text.splitlines()[-1]}")
        if "does not exist" in text and ("runuser" in text or "sudo" in text):
            raise SlurmCommandError(self.site, f"no such user on the site: {text}")
        raise SlurmCommandError(self.site, f"{tool} failed (exit {res.rc}): {text}")

    def _json(self, tool: str, *args: str) -> dict[str, Any]:
        res = self._run(tool, *args, "--json")
        try:
            doc: dict[str, Any] = json.loads(res.stdout)
        except json.JSONDecodeError as exc:
            raise SlurmCommandError(
                self.site, f"{tool} --json printed invalid JSON: {exc}"
            ) from None
        errors = envelope_errors(doc)
        if errors:
            raise SlurmCommandError(self.site, f"{tool}: {'; '.join(errors)}")
        return doc

    # -- contract ---------------------------------------------------------------------------
    def _config(self) -> dict[str, str]:
        res = self._run("scontrol", "show", "config")
        out = {}
        for line in res.stdout.splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip()
        return out

    def ping(self) -> SiteInfo:
        cfg = self._config()
        return SiteInfo(
            cluster=cfg.get("ClusterName", ""), slurm_version=cfg.get("SLURM_VERSION", "")
        )

    def _submit_args(self, sub: Submission) -> list[str]:
        args = [f"--chdir={sub.cwd}"]
        for name, value in sub.options:
            args.append(f"--{name}" if value is None else f"--{name}={value}")
        return args

    def submit(self, sub: Submission) -> str:
        res = self._run(
            "sbatch",
            "--parsable",
            *self._submit_args(sub),
            stdin=sub.script,
            user=sub.user,
            env=sub.environment,
            submitting=True,
            check=False,
        )
        if res.rc != 0:
            text = (res.stderr or res.stdout).strip()
            if _NOT_SENT.search(text) and not re.search(r"timed out|Zero Bytes", text, re.I):
                raise SiteUnreachable(self.site, f"sbatch could not reach slurmctld: {text}")
            if _UNREACHABLE.search(text):
                raise SubmitOutcomeUnknown(
                    self.site, f"sbatch lost contact with slurmctld ({text}); the job may exist"
                )
            m = _SBATCH_ERROR.search(text)
            raise JobRejected(self.site, m.group(1).strip() if m else text)
        job_id = res.stdout.strip().split(";", 1)[0]
        if not job_id.isdigit():
            raise SubmitOutcomeUnknown(self.site, f"sbatch printed no job id: {res.stdout!r}")
        return job_id

    def _queue_doc(self) -> dict[str, Any]:
        return self._json("squeue", "--all")  # hidden partitions too

    def _nodes_doc(self) -> dict[str, Any]:
        return self._json("sinfo")

    def _accounting_doc(self, job_ids: list[str]) -> dict[str, Any]:
        return self._json("sacct", "-X", "--jobs", ",".join(job_ids))

    def _accounting_since(self, since: float) -> dict[str, Any]:
        start = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(since))  # TZ=UTC is set
        return self._json("sacct", "-X", "--allusers", f"--starttime={start}")

    def _fetch_partitions(self) -> list[PartitionInfo]:
        return scontrol_partitions(self._run("scontrol", "show", "partition", "-o").stdout)

    def cancel(self, job_ids: Iterable[str], user: str | None = None) -> None:
        ids = [str(j) for j in job_ids]
        if not ids:
            return
        res = self._run("scancel", *ids, user=user, check=False)
        if (
            res.rc != 0
            and "Invalid job id" not in res.stderr
            and "already completing" not in res.stderr
        ):
            self._raise("scancel", res)

    def estimate_start(self, sub: Submission) -> StartEstimate:
        res = self._run(
            "sbatch",
            "--test-only",
            *self._submit_args(sub),
            stdin=sub.script,
            user=sub.user,
            env={**sub.environment, "TZ": "UTC"},
            check=False,
        )
        est = test_only_estimate(res.stderr)
        if est is None:
            text = (res.stderr or res.stdout).strip()
            if _UNREACHABLE.search(text):
                raise SiteUnreachable(self.site, f"sbatch --test-only: {text}")
            m = _SBATCH_ERROR.search(text)
            raise JobRejected(self.site, m.group(1).strip() if m else text)
        return est

    def preemption(self) -> PreemptionSettings:
        cfg = self._config()
        return PreemptionSettings(
            preempt_type=cfg.get("PreemptType", "preempt/none"),
            preempt_mode=cfg.get("PreemptMode", "OFF").upper(),
            partition_modes={p.name: p.preempt_mode for p in self.partitions()},
        )


__all__ = ["CliConnector", "CommandResult"]
