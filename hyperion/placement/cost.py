"""What a job costs at a site: the price model of the site config applied to a request.

One formula (:func:`run_cost`) for the prediction used by placement and budgets (the time
limit) and for the ledger (the billed elapsed time): core-hours x core price + GPU-hours x GPU
price, plus node-hours x node price on cloud partitions (whole nodes, billed while powered up,
the boot included when ``boot_billed``). On preemptible partitions ``spot_discount`` comes off
the price; the prediction there also counts the work preemptions are expected to waste.
"""

from __future__ import annotations

import math

from hyperion.config.schema import PartitionConfig, Prices
from hyperion.types import JobRequest

#: hours assumed for a job that gives no time limit and runs where none is configured
DEFAULT_HOURS = 1.0
#: preemptions x hours above this make a job's expected cost infinite for practical purposes
_MAX_EXPONENT = 50.0


def job_hours(job: JobRequest, part: PartitionConfig) -> float:
    """The hours a job may run: its time limit, else the partition's, else one hour."""
    seconds = job.time_limit_s or part.max_time_s
    return seconds / 3600 if seconds else DEFAULT_HOURS


def job_nodes(job: JobRequest, part: PartitionConfig) -> int:
    """The whole nodes a job occupies on ``part`` (by its nodes, cores and GPUs)."""
    by_cores = -(-job.cpus // part.cores_per_node)
    by_gpus = -(-job.gpus // part.gpus_per_node) if part.gpus_per_node else 0
    return max(job.nodes, by_cores, by_gpus, 1)


def run_cost(
    prices: Prices, part: PartitionConfig, *, cpus: int, gpus: int, nodes: int, seconds: float
) -> float:
    """The price of holding ``cpus``/``gpus`` (and, on cloud, ``nodes``) for ``seconds``."""
    hours = seconds / 3600
    cost = hours * (cpus * prices.core_hour + gpus * prices.gpu_hour)
    if part.cloud:
        boot = (part.boot_time or 0) if prices.boot_billed else 0
        cost += (seconds + boot) / 3600 * nodes * prices.node_hour
    if part.preemptible:
        cost *= 1.0 - prices.spot_discount
    return cost


def preemption_factor(prices: Prices, part: PartitionConfig, hours: float) -> float:
    """Expected billed time over run time for a job of ``hours`` that restarts from scratch
    after each preemption (Poisson, ``spot_preemption_rate`` per hour): (e^rT - 1) / rT."""
    rate = prices.spot_preemption_rate if part.preemptible else 0.0
    x = rate * hours
    if x <= 0:
        return 1.0
    return math.inf if x > _MAX_EXPONENT else math.expm1(x) / x


def job_cost(job: JobRequest, prices: Prices, part: PartitionConfig) -> float:
    """The predicted price of ``job`` on ``part`` for its whole time limit (in prices.currency),
    preemptions included."""
    hours = job_hours(job, part)
    nodes = job_nodes(job, part) if part.cloud else job.nodes
    base = run_cost(prices, part, cpus=job.cpus, gpus=job.gpus, nodes=nodes, seconds=hours * 3600)
    return base * preemption_factor(prices, part, hours) if base else 0.0
