"""The objective a learned policy minimises: a weighted sum of per-job terms.

Per job: ``bsld`` (bounded slowdown minus 1, so a job that did not wait costs 0), ``wait``
(hours), ``cost`` (the site's currency) and ``carbon`` (kg CO2eq of the job's own power draw
over its runs). Idle power and cloud node-hours are not per-job and are left out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from hyperion.errors import HyperionError
from hyperion.sim.job import SimJob
from hyperion.sim.metrics import bounded_slowdown
from hyperion.sim.site import SimSite

TERMS = ("bsld", "wait", "cost", "carbon")


@dataclass(frozen=True, slots=True)
class Objective:
    """Weights of the per-job terms (each >= 0, not all 0)."""

    bsld: float = 1.0
    wait: float = 0.0
    cost: float = 0.0
    carbon: float = 0.0

    def __post_init__(self) -> None:
        w = (self.bsld, self.wait, self.cost, self.carbon)
        if min(w) < 0 or sum(w) <= 0:
            raise HyperionError(f"objective weights must be >= 0 and not all 0, got {self}")

    @classmethod
    def parse(cls, text: str) -> Objective:
        """``"bsld"``, ``"wait"`` or ``"bsld=1,cost=0.5,carbon=0.01"`` (unnamed terms: 0)."""
        weights: dict[str, float] = {}
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            key, sep, value = part.partition("=")
            if key not in TERMS:
                raise HyperionError(
                    f"objective {text!r}: unknown term {key!r}", hint=f"terms: {', '.join(TERMS)}"
                )
            try:
                weights[key] = float(value) if sep else 1.0
            except ValueError:
                raise HyperionError(f"objective {text!r}: {value!r} is not a number") from None
        if not weights:
            raise HyperionError("empty objective", hint="e.g. --objective bsld=1,carbon=0.01")
        return cls(**{t: weights.get(t, 0.0) for t in TERMS})

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def __str__(self) -> str:
        return ",".join(f"{k}={v:g}" for k, v in self.to_dict().items() if v)

    def waiting(self, job: SimJob, waited: float) -> float:
        """The job's objective so far while it has waited ``waited`` s (a lower bound of
        :meth:`final`: waiting only adds)."""
        return self.bsld * (bounded_slowdown(waited, job.run) - 1.0) + self.wait * waited / 3600.0

    def final(self, job: SimJob, site: SimSite) -> float:
        """The job's whole objective once it has ended on ``site``."""
        value = self.waiting(job, job.wait)
        if self.cost:
            value += self.cost * site.job_cost(
                job, job.occupied, job.pool, nodes=not job.pool.is_cloud
            )
        if self.carbon and site.carbon is not None:
            g = site.carbon.integral(job.start, job.end)
            for a, b in job.segs or ():
                g += site.carbon.integral(a, b)
            value += self.carbon * site.job_power_w(job.cores, job.gpus) / 1000.0 * g / 1000.0
        return value
