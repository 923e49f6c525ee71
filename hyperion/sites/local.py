"""The ``local`` transport: Slurm's CLI on this machine, as subprocess argv lists."""

from __future__ import annotations

import getpass
import subprocess

from hyperion.config.schema import LocalAccess
from hyperion.errors import SiteUnreachable, SlurmCommandError
from hyperion.sites.base import SubmitOutcomeUnknown
from hyperion.sites.cli import CliConnector, CommandResult


class LocalConnector(CliConnector):
    """Runs sbatch/squeue/... locally (``shell=False`` always)."""

    def __init__(self, site: str, access: LocalAccess) -> None:
        super().__init__(site, access)
        self._user = getpass.getuser()

    def _login_user(self) -> str:
        return self._user

    def _exec(
        self, argv: list[str], *, stdin: str | None, timeout: float, submitting: bool
    ) -> CommandResult:
        try:
            proc = subprocess.run(
                argv,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd="/",
                check=False,
            )
        except subprocess.TimeoutExpired:
            if submitting:
                raise SubmitOutcomeUnknown(
                    self.site, f"sbatch timed out after {timeout:.0f}s; the job may exist"
                ) from None
            raise SiteUnreachable(
                self.site, f"Slurm command timed out after {timeout:.0f}s"
            ) from None
        except FileNotFoundError as exc:
            raise SlurmCommandError(
                self.site,
                f"command not found: {exc.filename}",
                hint="install Slurm's client tools or set access.bin_dir",
            ) from None
        return CommandResult(proc.returncode, proc.stdout, proc.stderr)
