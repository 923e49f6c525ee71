"""The discrete-event multi-site engine.

Events are job arrivals (the workload, sorted by submit time), held submissions (a policy's
``not_before``) and job ends (one heap shared by every partition). At equal times, ends come
first, then held submissions, then arrivals; partitions touched by ends run one scheduling pass
each, in the order their first ending job had. Each arriving job asks the :class:`Policy` for a
site among the sites that could ever run it; a job no site can run is dropped and counted.

The engine is deterministic: it draws no random numbers itself, and a seeded policy
(``random``) gets its seed from the caller.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Sequence
from math import inf

from hyperion.errors import HyperionError
from hyperion.placement.policy import Candidate, Policy
from hyperion.sim.job import SimJob
from hyperion.sim.metrics import Metrics, SiteMetrics, job_metrics
from hyperion.sim.pool import Pool
from hyperion.sim.site import SimSite
from hyperion.types import JobRequest


class Engine:
    """Replays a workload on sites under a policy; :meth:`run` returns the metrics."""

    def __init__(self, sites: Sequence[SimSite], policy: Policy) -> None:
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

    # -- placement -------------------------------------------------------------------------

    def _request(self, job: SimJob) -> JobRequest:
        return JobRequest(
            nodes=1,
            ntasks=job.cores,
            cpus_per_task=1,
            mem_mb=job.mem_mb,
            gpus=job.gpus,
            time_limit_s=int(math.ceil(job.req)),
            user=str(job.user),
        )

    def _candidates(self, job: SimJob, now: float) -> list[tuple[SimSite, Pool]]:
        out = []
        for s in self.sites:
            p = s.pool_for(job)
            if p is not None:
                out.append((s, p))
        return out

    def _decide(
        self, job: SimJob, options: list[tuple[SimSite, Pool]], now: float
    ) -> tuple[Pool, float]:
        """Ask the policy; returns the chosen pool and the time to submit there."""
        need_est = self.policy.needs_start_estimate
        cands = []
        for s, p in options:
            power_w = s.job_power_w(job.cores, job.gpus)
            cands.append(
                Candidate(
                    site=s.name,
                    state=s.state(now),
                    partition=p.name,
                    est_start=p.estimate_start(job, now) if need_est else None,
                    cost=s.job_cost(job, job.req, p),
                    currency=s.prices.currency,
                    carbon_g_per_kwh=s.carbon_at(now),
                    est_energy_kwh=power_w * job.req / 3.6e6,
                    home=job.home == s.name,
                )
            )
        d = self.policy.decide(self._request(job), cands, now)
        for s, p in options:
            if s.name == d.site:
                at = d.not_before if d.not_before is not None and d.not_before > now else now
                return p, at
        raise HyperionError(
            f"policy {self.policy.name!r} chose site {d.site!r}, which is not a candidate "
            f"(candidates: {', '.join(s.name for s, _ in options)})"
        )

    # -- the loop --------------------------------------------------------------------------

    def run(self, jobs: Sequence[SimJob]) -> Metrics:
        """Simulate ``jobs`` (they are modified in place: site, start, end) and measure."""
        t_wall = time.perf_counter()
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
        self.dropped = []
        self.moved = 0
        held: list[tuple[float, int, SimJob, Pool]] = []
        single = len(self.sites) == 1
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
            if single:
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
                if len(options) == 1:
                    pool, at = options[0][1], now
                else:
                    pool, at = self._decide(job, options, now)
            job.site = pool.site
            job.partition = pool.name
            if job.home is not None and job.home != pool.site:
                self.moved += 1
            if at > now:
                heapq.heappush(held, (at, job.idx, job, pool))
                job.pool = pool
            else:
                pool.submit(job, now)
        seconds = time.perf_counter() - t_wall
        return self.measure(order, seconds)

    # -- metrics ---------------------------------------------------------------------------

    def measure(self, jobs: Sequence[SimJob], seconds: float = 0.0) -> Metrics:
        """Metrics of a finished run over ``jobs``."""
        ran = [j for j in jobs if j.start >= 0]
        mean_w, p95_w, max_w, bsld = job_metrics(ran)
        t0 = min((j.submit for j in jobs), default=0.0)
        t1 = max((j.end for j in ran), default=t0)
        span = max(t1 - t0, 1e-9)
        per_site: dict[str, SiteMetrics] = {}
        tot_e = tot_cost = tot_c = 0.0
        busy_all = cores_all = 0.0
        for s in self.sites:
            sm = SiteMetrics(currency=s.prices.currency)
            busy = sum(p.busy_core_s for p in s.pools)
            busy_g = sum(p.busy_gpu_s for p in s.pools)
            sm.utilisation = busy / (s.cores * span)
            sm.gpu_utilisation = busy_g / (s.gpus * span) if s.gpus else 0.0
            idle_kw = s.energy.idle_w_per_node * s.nodes * s.energy.pue / 1000.0
            energy = idle_kw * span / 3600.0
            carbon_g = idle_kw * s.carbon.integral(t0, t1) if s.carbon is not None else 0.0
            per_site[s.name] = sm
            busy_all += busy
            cores_all += s.cores
            sm.energy_kwh = energy
            sm.carbon_kg = carbon_g / 1000.0
        for j in ran:
            s = self.by_name[j.site]  # type: ignore[index]
            sm = per_site[s.name]
            sm.jobs += 1
            kw = s.job_power_w(j.cores, j.gpus) / 1000.0
            sm.energy_kwh += kw * j.run / 3600.0
            if s.carbon is not None:
                sm.carbon_kg += kw * s.carbon.integral(j.start, j.end) / 1000.0
            sm.cost += s.job_cost(j, j.run, j.pool)
        for sm in per_site.values():
            tot_e += sm.energy_kwh
            tot_cost += sm.cost
            tot_c += sm.carbon_kg
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
            energy_kwh=tot_e,
            cost=tot_cost,
            carbon_kg=tot_c,
            moved=self.moved,
            sites=per_site,
            seconds=seconds,
        )
