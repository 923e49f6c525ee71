"""A simulated site: partitions (pools), an energy model, prices and a carbon series.

It also builds the :class:`~hyperion.types.SiteState` snapshot policies read, the same type the
daemon builds from Slurm, caching each partition's part until that partition changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hyperion.errors import HyperionError
from hyperion.placement.energy import busy_power_w
from hyperion.sim.carbon import CarbonSeries
from hyperion.sim.cloud import CloudPool
from hyperion.sim.job import SimJob
from hyperion.sim.pool import Pool
from hyperion.sim.preempt import Member, SharedPool
from hyperion.types import PartitionState, SiteState


@dataclass(frozen=True, slots=True)
class EnergyModel:
    """Power draw: ``idle_w_per_node`` for every node all the time, plus per busy core / GPU.

    ``pue`` multiplies everything (cooling and distribution overhead).
    """

    core_w: float = 10.0
    gpu_w: float = 300.0
    idle_w_per_node: float = 0.0
    pue: float = 1.0


@dataclass(frozen=True, slots=True)
class PriceModel:
    """Prices in ``currency``: per core-hour, per GPU-hour, per node-hour of cloud nodes.

    On a :class:`~hyperion.sim.cloud.CloudPool` the node-hours are its powered-up node-hours
    (boot and idle time included); on a plain partition listed in :attr:`SimSite.cloud` they
    are the whole nodes each job occupies, for its run time.
    """

    core_hour: float = 0.0
    gpu_hour: float = 0.0
    node_hour: float = 0.0
    currency: str = "EUR"


@dataclass
class SimSite:
    """One site in the simulator."""

    name: str
    pools: list[Pool]
    energy: EnergyModel = field(default_factory=EnergyModel)
    prices: PriceModel = field(default_factory=PriceModel)
    carbon: CarbonSeries | None = None
    cloud: frozenset[str] = frozenset()
    _cache: dict[str, tuple[int, PartitionState]] = field(default_factory=dict, repr=False)
    _plain: bool = field(default=True, repr=False)

    def __post_init__(self) -> None:
        names: list[str] = []
        for p in self.pools:
            p.site = self.name
            names.extend(sorted(p.names))
        if len(set(names)) != len(names):
            raise HyperionError(f"site {self.name!r}: partition names must be unique")
        self._plain = not any(isinstance(p, CloudPool | SharedPool) for p in self.pools)

    @property
    def cores(self) -> int:
        return sum(p.cores for p in self.pools)

    @property
    def gpus(self) -> int:
        return sum(p.gpus for p in self.pools)

    @property
    def nodes(self) -> int:
        return sum(p.nodes for p in self.pools)

    def reset(self) -> None:
        for p in self.pools:
            p.reset()
        self._cache.clear()

    def pool_for(self, job: SimJob) -> Pool | None:
        """The partition a job goes to: the one it asks for (``req_partition``) if this site has
        it and it can run the job; else GPU jobs to a GPU partition, others preferring CPU-only
        ones, in the site's order (default partition first)."""
        pools = self.pools
        want = job.req_partition
        if want is not None:
            for p in pools:
                if want in p.names and p.can_run(job):
                    return p
        if len(pools) == 1:
            p = pools[0]
            return p if p.can_run(job) else None
        if job.gpus:
            return next((p for p in pools if p.gpus and p.can_run(job)), None)
        return next((p for p in pools if not p.gpus and p.can_run(job)), None) or next(
            (p for p in pools if p.can_run(job)), None
        )

    def carbon_at(self, t: float) -> float | None:
        return self.carbon.at(t) if self.carbon is not None else None

    def job_power_w(self, cores: int, gpus: int) -> float:
        return busy_power_w(self.energy, cores, gpus)

    def job_cost(self, job: SimJob, seconds: float, pool: Pool, *, nodes: bool = True) -> float:
        """Price of running ``job`` for ``seconds`` on ``pool``; ``nodes`` False leaves out the
        node-hours of cloud partitions (charged per powered-up node instead, by the engine)."""
        pr = self.prices
        cost = (job.cores * pr.core_hour + job.gpus * pr.gpu_hour) * seconds / 3600.0
        if nodes and pr.node_hour and (pool.is_cloud or pool.name in self.cloud):
            if isinstance(pool, CloudPool):
                n = pool.nodes_for(job)
            else:
                n = -(-job.cores // pool.cores_per_node)
            cost += n * pr.node_hour * seconds / 3600.0
        return cost

    def partition_state(self, p: Pool, member: Member | None = None) -> PartitionState:
        """A cached :class:`PartitionState` of one pool, or of one ``member`` partition of a
        :class:`SharedPool` (rebuilt when the pool changed)."""
        name = p.name if member is None else member.name
        hit = self._cache.get(name)
        if hit is not None and hit[0] == p.version:
            return hit[1]
        alloc = p.cores - p.free_cores
        idle_nodes = p.idle_nodes()
        if member is not None:
            ps = PartitionState(
                name=member.name,
                total_nodes=p.nodes,
                idle_nodes=idle_nodes,
                alloc_nodes=p.nodes - idle_nodes,
                down_nodes=0,
                total_cpus=p.cores,
                idle_cpus=p.free_cores,
                alloc_cpus=alloc,
                total_gpus=p.gpus,
                idle_gpus=p.free_gpus,
                alloc_gpus=p.gpus - p.free_gpus,
                pending_jobs=member.pending,
                running_jobs=member.running,
                pending_cpus=member.pending_cores,
                pending_gpus=member.pending_gpus,
                max_time_s=member.max_time,
                priority_tier=member.tier,
                preempt_mode="REQUEUE" if member.preemptible else "OFF",
            )
            self._cache[name] = (p.version, ps)
            return ps
        up = p.on if isinstance(p, CloudPool) else 0
        ps = PartitionState(
            name=p.name,
            total_nodes=p.nodes,
            idle_nodes=idle_nodes,
            alloc_nodes=p.nodes - idle_nodes,
            down_nodes=0,
            total_cpus=p.cores,
            idle_cpus=p.free_cores,
            alloc_cpus=alloc,
            total_gpus=p.gpus,
            idle_gpus=p.free_gpus,
            alloc_gpus=p.gpus - p.free_gpus,
            cloud_nodes_powered_down=p.nodes - up if p.is_cloud else 0,
            cloud_nodes_powered_up=up,
            pending_jobs=len(p.queue),
            running_jobs=len(p.running),
            pending_cpus=p.pending_cores,
            pending_gpus=p.pending_gpus,
            max_time_s=p.max_time,
            priority_tier=p.priority_tier,
            preempt_mode="REQUEUE" if p.preemptible else "OFF",
        )
        self._cache[p.name] = (p.version, ps)
        return ps

    def state(self, now: float) -> SiteState:
        """The snapshot policies see (no per-job list: building it would cost O(queue))."""
        if self._plain:
            parts = tuple(self.partition_state(p) for p in self.pools)
        else:
            out: list[PartitionState] = []
            for p in self.pools:
                if isinstance(p, CloudPool):
                    p.tick(now)
                if isinstance(p, SharedPool):
                    out.extend(self.partition_state(p, m) for m in p.members)
                else:
                    out.append(self.partition_state(p))
            parts = tuple(out)
        return SiteState(
            site=self.name,
            time=now,
            partitions=parts,
            carbon_g_per_kwh=self.carbon_at(now),
        )
