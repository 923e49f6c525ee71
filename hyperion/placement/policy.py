"""The one placement interface, used by the daemon and by the simulator alike.

A caller (``hyperiond`` or ``hyperion.sim``) builds one :class:`Candidate` per site whose
partitions could ever fit the job, asks ``policy.decide(job, candidates, now)`` and gets a
:class:`Decision`. Policies are pure: they read the candidates and return a choice with the
per-site scores behind it, so ``hsub --test-only`` and the simulator can both explain it.
Before that, for each real job (not a ``--test-only`` probe, not a re-placement), the caller
calls ``policy.record(job, now)`` once: a policy may watch its workload there (the learned
policy steps aside on one unlike its training) but never in ``decide``.

Estimating the start time is the costliest input (live: ``sbatch --test-only`` per site; in the
simulator: a backfill plan per site), so callers fill :attr:`Candidate.est_start` only when the
policy says :attr:`Policy.needs_start_estimate`, and :attr:`Candidate.carbon_forecast` only when it
says :attr:`Policy.needs_forecast`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from hyperion.types import JobRequest, SiteState


@dataclass(frozen=True, slots=True)
class Candidate:
    """One site a job could go to, with what the policy may weigh.

    ``carbon_forecast`` holds hourly ``(start time, gCO2/kWh)`` points, the first being the hour
    that contains ``now`` (its observed value); None when the caller has no forecast.
    """

    site: str
    state: SiteState
    partition: str
    est_start: float | None = None
    cost: float | None = None
    currency: str = "EUR"
    carbon_g_per_kwh: float | None = None
    est_energy_kwh: float | None = None
    home: bool = False
    carbon_forecast: tuple[tuple[float, float], ...] | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """Where (and optionally when) to run a job, and why.

    ``scores`` maps site name to the policy's score (lower is better) for every candidate;
    ``not_before`` is an epoch time to hold the job until (None: start as soon as possible).
    """

    site: str
    partition: str
    reason: str
    scores: dict[str, float] = field(default_factory=dict)
    not_before: float | None = None


class Policy(ABC):
    """A placement policy: choose one of the candidate sites for a job."""

    #: short name used on the command line (``--policy NAME``)
    name: str = "policy"
    #: set True when :meth:`decide` reads :attr:`Candidate.est_start`
    needs_start_estimate: bool = False
    #: set True when :meth:`decide` reads :attr:`Candidate.carbon_forecast`
    needs_forecast: bool = False
    #: set True when :meth:`decide` weighs carbon (then a decision on stale data says so)
    reads_carbon: bool = False
    #: set True when :meth:`record` does something (the simulator then calls it per job)
    watches_workload: bool = False

    @abstractmethod
    def decide(self, job: JobRequest, candidates: Sequence[Candidate], now: float) -> Decision:
        """Choose a site for ``job`` among ``candidates`` (never empty)."""

    def record(self, job: JobRequest, now: float) -> None:
        """Note a job of the workload: called once per real job when it arrives, before its
        decision (never for ``--test-only`` or re-placements). Most policies ignore it; a
        learned policy watches whether its workload is one it was trained for."""
        return None

    def status(self) -> str | None:
        """A line for admins when the policy works otherwise than configured (``hctl sites``)."""
        return None
