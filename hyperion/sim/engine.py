"""The discrete-event multi-site engine.

Events are job arrivals (the workload, sorted by submit time), held submissions (a policy's
``not_before``) and job ends (one heap shared by every partition). At equal times, ends come
first, then held submissions, then arrivals; partitions touched by ends run one scheduling pass
each, in the order their first ending job had. Each arriving job asks the :class:`Policy` for a
site among the sites that could ever run it; a job no site can run is dropped and counted.

The engine is deterministic: it draws no random numbers itself, and a seeded policy
(``random``) gets its seed from the caller. Candidates carry a carbon forecast
(:mod:`hyperion.sim.forecast`) only for policies that say :attr:`Policy.needs_forecast`.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Generator, Sequence
from math import inf

from hyperion.errors import HyperionError
from hyperion.placement.policy import Candidate, Policy
from hyperion.sim.cloud import CloudPool
from hyperion.sim.forecast import DEFAULT_FORECAST, CarbonForecasts
from hyperion.sim.job import SimJob
from hyperion.sim.metrics import Metrics, SiteMetrics, job_metrics
from hyperion.sim.pool import Pool
from hyperion.sim.site import SimSite
from hyperion.types import JobRequest

#: what :meth:`Engine.replay` yields (a decision to make), takes back, and returns
Replay = Generator[
    tuple[SimJob, list[tuple[SimSite, Pool]], float], tuple[Pool, float], list[SimJob]
]


class Engine:
    """Replays a workload on sites under a policy; :meth:`run` returns the metrics."""

    def __init__(
        self,
        sites: Sequence[SimSite],
        policy: Policy,
        *,
        forecast: str | CarbonForecasts = DEFAULT_FORECAST,
    ) -> None:
        if not sites:
            raise HyperionError("the simulation needs at least one site")
        names = [s.name for s in sites]
        if len(set(names)) != len(names):
            raise HyperionError(f"site names must be unique, got {', '.join(names)}")
        self.sites = list(sites)
        self.by_name = {s.name: s for s in self.sites}
        self.policy = policy
        self.dropped: list[SimJob] = []
        self.moved = 0
        self.held = 0
        self.forecasts = (
            forecast if isinstance(forecast, CarbonForecasts) else CarbonForecasts(forecast)
        )

    # -- placement -------------------------------------------------------------------------

    def _candidates(self, job: SimJob, now: float) -> list[tuple[SimSite, Pool]]:
        out = []
        for s in self.sites:
            p = s.pool_for(job)
            if p is not None:
                out.append((s, p))
        return out

    def candidates(
        self, job: SimJob, options: list[tuple[SimSite, Pool]], now: float, *, estimate: bool
    ) -> list[Candidate]:
        """The :class:`Candidate` of each option, as policies see them (``estimate``: fill
        :attr:`Candidate.est_start`, the costly part)."""
        cands = []
        forecast = getattr(self.policy, "needs_forecast", False)
        for s, p in options:
            power_w = s.job_power_w(job.cores, job.gpus)
            cands.append(
                Candidate(
                    site=s.name,
                    state=s.state(now),
                    partition=p.partition_of(job) if p.shared else p.name,
                    est_start=p.estimate_start(job, now) if estimate else None,
                    cost=s.job_cost(job, job.req, p),
                    currency=s.prices.currency,
                    carbon_g_per_kwh=s.carbon_at(now),
                    est_energy_kwh=power_w * job.req / 3.6e6,
                    home=job.home == s.name,
                    carbon_forecast=self.forecasts.points(s.carbon, now)
                    if forecast and s.carbon is not None
                    else None,
                )
            )
        return cands

    def _decide(
        self, job: SimJob, options: list[tuple[SimSite, Pool]], now: float
    ) -> tuple[Pool, float]:
        """Ask the policy; returns the chosen pool and the time to submit there."""
        cands = self.candidates(job, options, now, estimate=self.policy.needs_start_estimate)
        d = self.policy.decide(job_request(job), cands, now)
        return self.placement(d.site, d.not_before, options, now)

    def placement(
        self, site: str, not_before: float | None, options: list[tuple[SimSite, Pool]], now: float
    ) -> tuple[Pool, float]:
        """The pool of the chosen ``site`` among ``options`` and the time to submit there."""
        for s, p in options:
            if s.name == site:
                at = not_before if not_before is not None and not_before > now else now
                return p, at
        raise HyperionError(
            f"policy {self.policy.name!r} chose site {site!r}, which is not a candidate "
            f"(candidates: {', '.join(s.name for s, _ in options)})"
        )

    # -- the loop --------------------------------------------------------------------------

    def run(self, jobs: Sequence[SimJob]) -> Metrics:
        """Simulate ``jobs`` (they are modified in place: site, start, end) and measure."""
        t_wall = time.perf_counter()
        steps = self.replay(jobs)
        try:
            ask = next(steps)
            while True:
                ask = steps.send(self._decide(*ask))
        except StopIteration as done:
            order: list[SimJob] = done.value
        return self.measure(order, time.perf_counter() - t_wall)

    def replay(self, jobs: Sequence[SimJob]) -> Replay:
        """The event loop as a generator: it yields ``(job, options, now)`` whenever a job has
        several candidate sites (or one, for a flexible job under a policy that reads forecasts),
        takes back ``(pool, submit_at)`` (see :meth:`placement`) and returns the jobs in
        submission order. :meth:`run` answers with the policy; a learning
        environment (:mod:`hyperion.rl.env`) answers with its agent's actions."""
        heap: list[tuple[float, int, SimJob]] = []
        for s in self.sites:
            s.reset()
            for p in s.pools:
                p.heap = heap
        order = sorted(jobs, key=lambda j: j.submit)
        for i, j in enumerate(order):
            j.idx = i
            j.start = j.end = -1.0
            j.site = j.partition = None
            if j.preempted:
                j.clear_run()
        self.dropped = []
        self.moved = 0
        self.held = 0
        self.forecasts.reset()
        held: list[tuple[float, int, SimJob, Pool]] = []
        single = len(self.sites) == 1
        # flexible jobs ask a forecast-reading policy even when they have one candidate
        shifts = getattr(self.policy, "needs_forecast", False)
        pushpop = heapq.heappop
        n = len(order)
        ai = 0
        while ai < n or heap or held:
            t_arr = order[ai].submit if ai < n else inf
            t_end = heap[0][0] if heap else inf
            t_held = held[0][0] if held else inf
            if t_end <= t_arr and t_end <= t_held:
                touched: list[Pool] = []
                while heap and heap[0][0] == t_end:
                    job = pushpop(heap)[2]
                    p = job.pool
                    p.finish(job)
                    if p not in touched:
                        touched.append(p)
                for p in touched:
                    p.schedule(t_end)
                continue
            if t_held <= t_arr:
                _, _, job, pool = heapq.heappop(held)
                pool.submit(job, t_held)
                continue
            job = order[ai]
            ai += 1
            now = job.submit
            if self.policy.watches_workload:  # the workload, as the daemon records it
                self.policy.record(job_request(job), now)
            if single and not (shifts and (job.flex or job.deadline is not None)):
                site = self.sites[0]
                pool_or_none = site.pool_for(job)
                if pool_or_none is None:
                    self.dropped.append(job)
                    continue
                pool, at = pool_or_none, now
            else:
                options = self._candidates(job, now)
                if not options:
                    self.dropped.append(job)
                    continue
                if len(options) == 1 and not (shifts and (job.flex or job.deadline is not None)):
                    pool, at = options[0][1], now
                else:
                    pool, at = yield job, options, now
            job.site = pool.site
            job.partition = pool.name
            if job.home is not None and job.home != pool.site:
                self.moved += 1
            if at > now:
                self.held += 1
                heapq.heappush(held, (at, job.idx, job, pool))
                job.pool = pool
            else:
                pool.submit(job, now)
        return order

    # -- metrics ---------------------------------------------------------------------------

    def measure(self, jobs: Sequence[SimJob], seconds: float = 0.0) -> Metrics:
        """Metrics of a finished run over ``jobs``."""
        ran = [j for j in jobs if j.start >= 0]
        mean_w, p95_w, max_w, bsld = job_metrics(ran)
        flexible = [j for j in ran if j.flex > 0 or j.deadline is not None]
        rigid_bsld = job_metrics([j for j in ran if not (j.flex > 0 or j.deadline is not None)])[3]
        t0 = min((j.submit for j in jobs), default=0.0)
        t1 = max((j.end for j in ran), default=t0)
        span = max(t1 - t0, 1e-9)
        per_site = {s.name: site_totals(s, t0, t1) for s in self.sites}
        for j in ran:
            s = self.by_name[j.site]  # type: ignore[index]
            sm = per_site[s.name]
            sm.jobs += 1
            kw = s.job_power_w(j.cores, j.gpus) / 1000.0
            held = j.occupied  # run time plus work lost to requeues
            sm.energy_kwh += kw * held / 3600.0
            if s.carbon is not None:
                g = s.carbon.integral(j.start, j.end)
                for a, b in j.segs or ():
                    g += s.carbon.integral(a, b)
                sm.carbon_kg += kw * g / 1000.0
            sm.cost += s.job_cost(j, held, j.pool, nodes=not j.pool.is_cloud)
        busy_all = sum(p.busy_core_s for s in self.sites for p in s.pools)
        cores_all = sum(s.cores for s in self.sites)
        for s in self.sites:
            per_site[s.name].utilisation /= s.cores * span
            if s.gpus:
                per_site[s.name].gpu_utilisation /= s.gpus * span
        sms = list(per_site.values())
        return Metrics(
            policy=self.policy.name,
            jobs=len(ran),
            dropped=len(self.dropped),
            mean_wait=mean_w,
            p95_wait=p95_w,
            max_wait=max_w,
            mean_bsld=bsld,
            makespan=t1 - t0,
            utilisation=busy_all / (cores_all * span),
            energy_kwh=sum(sm.energy_kwh for sm in sms),
            cost=sum(sm.cost for sm in sms),
            carbon_kg=sum(sm.carbon_kg for sm in sms),
            moved=self.moved,
            sites=per_site,
            seconds=seconds,
            preemptions=sum(sm.preemptions for sm in sms),
            lost_core_s=sum(sm.lost_core_s for sm in sms),
            cloud_node_h=sum(sm.cloud_node_h for sm in sms),
            held=self.held,
            flexible=len(flexible),
            late=sum(1 for j in flexible if is_late(j)),
            mean_bsld_rigid=rigid_bsld,
        )


def is_late(job: SimJob) -> bool:
    """A flexible job that ended after its deadline, or started after submit + flex."""
    if job.deadline is not None and job.end > job.deadline:
        return True
    return job.flex > 0 and job.start - job.saved > job.submit + job.flex


def site_totals(s: SimSite, t0: float, t1: float) -> SiteMetrics:
    """A site's metrics before its jobs are added: idle power (every node of a plain partition
    over the makespan, the powered-up node-seconds of a cloud partition), cloud node-hour cost,
    preemptions; ``utilisation`` holds busy core-seconds (the caller divides)."""
    sm = SiteMetrics(currency=s.prices.currency)
    e = s.energy
    idle_kw = e.idle_w_per_node * e.pue / 1000.0
    plain_nodes = 0
    for p in s.pools:
        sm.utilisation += p.busy_core_s
        sm.gpu_utilisation += p.busy_gpu_s
        sm.preemptions += p.preemptions
        sm.lost_core_s += p.lost_core_s
        if not isinstance(p, CloudPool):
            plain_nodes += p.nodes
            continue
        intervals = p.powered_intervals(t1)
        node_h = sum(b - a for a, b in intervals) / 3600.0
        sm.cloud_node_h += node_h
        sm.cost += node_h * s.prices.node_hour
        sm.energy_kwh += idle_kw * node_h
        if s.carbon is not None and idle_kw:
            sm.carbon_kg += idle_kw * sum(s.carbon.integral(a, b) for a, b in intervals) / 1000.0
    sm.energy_kwh += idle_kw * plain_nodes * (t1 - t0) / 3600.0
    if s.carbon is not None and idle_kw and plain_nodes:
        sm.carbon_kg += idle_kw * plain_nodes * s.carbon.integral(t0, t1) / 1000.0
    return sm


def job_request(job: SimJob) -> JobRequest:
    """The :class:`JobRequest` policies see for a simulated job."""
    return JobRequest(
        nodes=job.nodes or 1,
        ntasks=job.cores,
        cpus_per_task=1,
        mem_mb=job.mem_per_node,
        gpus=job.gpus,
        time_limit_s=int(math.ceil(job.req)),
        partition=job.req_partition,
        user=str(job.user),
        carbon_flex_s=job.flex or None,
        deadline=job.deadline,
    )
