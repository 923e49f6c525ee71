"""What a job would cost at a site: the price model of the site config applied to a request.

One formula for the daemon and the simulator: core-hours x core price + GPU-hours x GPU price,
plus node-hours x node price on cloud partitions (whole nodes are billed while powered up).
"""

from __future__ import annotations

from hyperion.config.schema import PartitionConfig, Prices
from hyperion.types import JobRequest

#: hours assumed for a job that gives no time limit and runs where none is configured
DEFAULT_HOURS = 1.0


def job_hours(job: JobRequest, part: PartitionConfig) -> float:
    """The hours a job may run: its time limit, else the partition's, else one hour."""
    seconds = job.time_limit_s or part.max_time_s
    return seconds / 3600 if seconds else DEFAULT_HOURS


def job_cost(job: JobRequest, prices: Prices, part: PartitionConfig) -> float:
    """The price of running ``job`` for its whole time limit on ``part`` (in prices.currency)."""
    hours = job_hours(job, part)
    cost = hours * (job.cpus * prices.core_hour + job.gpus * prices.gpu_hour)
    if part.cloud:
        nodes = max(job.nodes, -(-job.cpus // part.cores_per_node))
        cost += hours * nodes * prices.node_hour
    return cost
