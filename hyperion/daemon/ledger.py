"""Fill the ledger: energy, cost and CO2 of each attempt that ran, once it has ended.

:func:`measure` is the arithmetic (hand-checked in tests/unit/test_ledger.py); a
:class:`LedgerRecorder` finds final attempts without a ledger row and writes one each. The
federation calls :meth:`LedgerRecorder.record_finished` after polls and reconciles, so an
attempt ended by any path (poll, cancel, recovery, a restart) is recorded exactly once.

Carbon intensity comes from an :data:`IntensitySource`: ``source(site, start, end)`` returns
the site's mean intensity over the run and whether it came from stale data, or None when the
site has no carbon source; then ``co2_g`` stays NULL. The default source knows none.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from hyperion.config.schema import HyperionConfig, PartitionConfig, SiteConfig
from hyperion.placement.cost import job_nodes, run_cost
from hyperion.placement.energy import job_energy_kwh
from hyperion.state import ledger
from hyperion.state.db import session
from hyperion.state.ledger import LedgerEntry
from hyperion.types import JobRequest


class Intensity(NamedTuple):
    """A grid's carbon intensity over an interval, and whether it came from stale data."""

    g_per_kwh: float
    stale: bool


#: ``source(site, start, end)``: the intensity over [start, end] (epoch s), None if unknown
IntensitySource = Callable[[str, float, float], Intensity | tuple[float, bool] | None]


def no_carbon_source(site: str, start: float, end: float) -> None:
    """The default source: no site has carbon data, so no CO2 is recorded."""
    return None


def stored_request(request: Mapping[str, Any] | None) -> JobRequest:
    """The :class:`JobRequest` of a job row's ``request`` JSON (defaults where missing)."""
    names = {f.name for f in dataclasses.fields(JobRequest)}
    return JobRequest(**{k: v for k, v in (request or {}).items() if k in names})


def node_share(req: JobRequest, part: PartitionConfig) -> float:
    """The nodes whose idle power a job is charged: whole nodes on cloud partitions (powered up
    for it), else its share of the nodes by cores or GPUs, whichever is larger."""
    if part.cloud:
        return float(job_nodes(req, part))
    by_gpus = req.gpus / part.gpus_per_node if part.gpus_per_node else 0.0
    return max(req.cpus / part.cores_per_node, by_gpus)


@dataclasses.dataclass(frozen=True)
class Usage:
    """What one run used; None where a figure cannot be known."""

    elapsed_s: float
    billed_s: float
    cpus: int
    gpus: int
    nodes: int
    core_hours: float
    energy_kwh: float | None
    energy_source: str | None
    cost: float | None
    currency: str | None
    co2_g: float | None
    carbon_g_per_kwh: float | None
    carbon_stale: bool | None
    note: str | None = None


def measure(
    req: JobRequest,
    site: SiteConfig | None,
    part: PartitionConfig | None,
    started: float,
    ended: float,
    intensity: Intensity | None,
    *,
    gpu_kwh: float | None = None,
) -> Usage:
    """The usage of ``req`` run from ``started`` to ``ended`` on ``site``/``part``.

    energy = power model x elapsed x allocation (cloud: plus the nodes' idle draw while they
    boot); cost = price model x billed time (elapsed, plus boot on cloud nodes when billed);
    CO2 = energy x ``intensity``. ``gpu_kwh``: the GPUs' energy as measured on the node, which
    then replaces the model's GPU part.
    """
    elapsed = max(0.0, ended - started)
    core_hours = req.cpus * elapsed / 3600
    if site is None or part is None:
        return Usage(
            elapsed, elapsed, req.cpus, req.gpus, req.nodes, core_hours,
            None, None, None, None, None, None, None,
            note="the site or partition is no longer configured: no energy, cost or CO2",
        )  # fmt: skip
    nodes = job_nodes(req, part)
    boot = float(part.boot_time or 0) if part.cloud else 0.0
    billed = elapsed + (boot if site.prices.boot_billed else 0.0)
    power = site.power_of(part)
    if gpu_kwh is None:
        energy, source = (
            job_energy_kwh(
                power,
                cores=req.cpus,
                gpus=req.gpus,
                node_share=node_share(req, part),
                seconds=elapsed,
                boot_s=boot,
            ),
            "model",
        )
    else:
        rest = job_energy_kwh(
            power, cores=req.cpus, gpus=0, node_share=node_share(req, part), seconds=elapsed,
            boot_s=boot,
        )  # fmt: skip
        energy, source = rest + gpu_kwh, "measured"
    cost = run_cost(site.prices, part, cpus=req.cpus, gpus=req.gpus, nodes=nodes, seconds=elapsed)
    return Usage(
        elapsed_s=elapsed,
        billed_s=billed,
        cpus=req.cpus,
        gpus=req.gpus,
        nodes=nodes,
        core_hours=core_hours,
        energy_kwh=energy,
        energy_source=source,
        cost=cost,
        currency=site.prices.currency,
        co2_g=None if intensity is None else energy * intensity.g_per_kwh,
        carbon_g_per_kwh=None if intensity is None else intensity.g_per_kwh,
        carbon_stale=None if intensity is None else intensity.stale,
    )


class LedgerRecorder:
    """Writes one ledger row per final attempt that ran (thread-safe; idempotent)."""

    def __init__(
        self,
        config: HyperionConfig,
        engine: Any,
        log: Callable[..., None],
        intensity: IntensitySource = no_carbon_source,
    ) -> None:
        self.config = config
        self.engine = engine
        self.log = log
        self.intensity = intensity
        self._lock = threading.Lock()

    def lookup(self, site: str, start: float, end: float) -> tuple[Intensity | None, str | None]:
        """The site's intensity over the run, and a note when the source failed."""
        try:
            got = self.intensity(site, start, end)
        except Exception as exc:  # noqa: BLE001 - a carbon provider must not stop the ledger
            self.log(f"carbon intensity of {site}: {exc}")
            return None, f"carbon intensity unavailable: {exc}"
        if got is None:
            return None, None
        return Intensity(float(got[0]), bool(got[1])), None

    def record_finished(self, now: float | None = None) -> int:
        """Record every final attempt that ran and has no ledger row yet; how many."""
        with self._lock:
            with session(self.engine, write=False) as s:
                todo = [
                    (a.id, a.key, a.job_id, a.site, a.partition, a.started_at, a.ended_at,
                     j.owner, j.account, j.request)
                    for a, j in ledger.unrecorded(s)
                ]  # fmt: skip
            if not todo:
                return 0
            entries = [self._entry(*row, now=now) for row in todo]
            written = 0
            with session(self.engine) as s:
                for e in entries:
                    written += ledger.add(s, e)
            return written

    def _entry(
        self,
        attempt_id: int | None,
        key: str,
        job_id: str,
        site_name: str,
        partition: str | None,
        started: float | None,
        ended: float | None,
        owner: str,
        account: str | None,
        request: Mapping[str, Any] | None,
        *,
        now: float | None,
    ) -> LedgerEntry:
        assert attempt_id is not None and started is not None and ended is not None
        req = stored_request(request)
        site = self.config.sites.get(site_name)
        part = None
        if site is not None:
            part = site.partition(partition) if partition else site.default_partition
        intensity, note = self.lookup(site_name, started, ended) if site else (None, None)
        usage = measure(req, site, part, started, ended, intensity)
        fields = dataclasses.asdict(usage)
        fields["note"] = usage.note or note
        return LedgerEntry(
            attempt_id=attempt_id,
            attempt_key=key,
            job_id=job_id,
            owner=owner,
            account=account or req.account,
            site=site_name,
            partition=partition,
            started_at=started,
            ended_at=ended,
            recorded_at=time.time() if now is None else now,
            **fields,
        )
