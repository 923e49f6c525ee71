"""The simulator's job record: what a workload says about one job, plus what the run decides.

A plain ``__slots__`` class rather than a dataclass: the engine touches these attributes in its
hot loop, and slot access on a plain class is the cheapest Python offers.
"""

from __future__ import annotations

from typing import Any


class SimJob:
    """One job of a workload.

    Workload fields: ``job_id`` (from the trace), ``submit`` (seconds from the workload start),
    ``run`` (actual run time, s), ``req`` (requested time, s; the scheduler plans with it),
    ``cores``, ``gpus``, ``mem_mb`` (None: unknown), ``user``, ``home`` (the site its user would
    submit to without Hyperion; None: no preference).
    Run fields, set by the engine: ``site``, ``partition``, ``start``, ``end``.
    """

    __slots__ = (
        "idx",
        "job_id",
        "submit",
        "run",
        "req",
        "cores",
        "gpus",
        "mem_mb",
        "user",
        "home",
        "site",
        "partition",
        "start",
        "end",
        "pool",
    )

    def __init__(
        self,
        job_id: int,
        submit: float,
        run: float,
        req: float,
        cores: int,
        gpus: int = 0,
        *,
        mem_mb: int | None = None,
        user: int = -1,
        home: str | None = None,
    ) -> None:
        self.idx = 0
        self.job_id = job_id
        self.submit = submit
        self.run = run
        self.req = req
        self.cores = cores
        self.gpus = gpus
        self.mem_mb = mem_mb
        self.user = user
        self.home = home
        self.site: str | None = None
        self.partition: str | None = None
        self.start = -1.0
        self.end = -1.0
        self.pool: Any = None  # the Pool it was placed in (Any: no import cycle)

    def copy(self) -> SimJob:
        """A fresh (unscheduled) copy with the same workload fields."""
        j = SimJob(
            self.job_id,
            self.submit,
            self.run,
            self.req,
            self.cores,
            self.gpus,
            mem_mb=self.mem_mb,
            user=self.user,
            home=self.home,
        )
        j.idx = self.idx
        return j

    @property
    def wait(self) -> float:
        """Seconds between submission and start (-1 if it never started)."""
        return self.start - self.submit if self.start >= 0 else -1.0

    def __repr__(self) -> str:
        return (
            f"SimJob(id={self.job_id}, submit={self.submit}, run={self.run}, req={self.req}, "
            f"cores={self.cores}, gpus={self.gpus}, home={self.home!r}, start={self.start})"
        )
