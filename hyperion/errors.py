"""Errors meant for people: each says what happened, which input, and what to do next.

Every error a user can cause derives from :class:`HyperionError`; the CLIs print its message
and exit with its ``exit_code`` instead of showing a traceback.
"""

from __future__ import annotations


class HyperionError(Exception):
    """Base class of all errors Hyperion reports to a person."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(HyperionError):
    """A site configuration file is missing, unreadable or invalid."""

    exit_code = 2


class JobSpecError(HyperionError):
    """A job's options or script are invalid (unknown option, bad value, ...)."""

    exit_code = 1


class SiteError(HyperionError):
    """Base class of failures talking to one site."""

    def __init__(self, site: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"site {site!r}: {message}", hint=hint)
        self.site = site


class SiteUnreachable(SiteError):
    """The site (its host, sshd, slurmrestd or slurmctld) did not answer in time."""


class AuthenticationRefused(SiteError):
    """The site refused our credentials (SSH key, JWT, MUNGE)."""


class HostKeyMismatch(SiteError):
    """The SSH host key is unknown or differs from the one recorded in known_hosts."""


class JobRejected(SiteError):
    """Slurm refused the job; ``slurm_message`` is Slurm's own words."""

    def __init__(self, site: str, slurm_message: str) -> None:
        super().__init__(site, f"Slurm rejected the job: {slurm_message}")
        self.slurm_message = slurm_message


class SlurmCommandError(SiteError):
    """A Slurm command failed for a reason not covered by the other errors."""
