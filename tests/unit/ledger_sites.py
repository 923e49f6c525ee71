"""A small federation with hand-checkable prices and power models, for the ledger, budget and
report tests (in-memory sites, no Slurm)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hyperion.config import HyperionConfig, load_config
from hyperion.daemon.federation import Federation
from hyperion.state import repo
from hyperion.state.db import open_database, session
from hyperion.state.models import AttemptState
from tests.unit.memory_site import MemorySite

SITES = """
[hyperion]
default_policy = "cheapest"

[sites.cpu]
prices = { currency = "EUR", core_hour = 0.04, spot_discount = 0.25, spot_preemption_rate = 0.1 }
power = { core_w = 10.0, idle_w_per_node = 50.0, pue = 1.2 }
access = { kind = "local" }
[[sites.cpu.partitions]]
name = "batch"
nodes = 4
cores_per_node = 2
mem_per_node = 4000
max_time = "1-00:00:00"
default = true
[[sites.cpu.partitions]]
name = "spot"
nodes = 4
cores_per_node = 2
mem_per_node = 4000
preemptible = true
power = { core_w = 20.0 }

[sites.gpu]
prices = { currency = "EUR", core_hour = 0.01, gpu_hour = 2.0 }
power = { core_w = 5.0, gpu_w = 400.0, idle_w_per_node = 200.0 }
access = { kind = "local" }
[[sites.gpu.partitions]]
name = "gpu"
nodes = 2
cores_per_node = 8
mem_per_node = 4000
gpus_per_node = 4

[sites.cloud]
prices = { currency = "USD", node_hour = 0.5 }
power = { core_w = 10.0, idle_w_per_node = 40.0 }
access = { kind = "local" }
[[sites.cloud.partitions]]
name = "burst"
nodes = 4
cores_per_node = 4
mem_per_node = 4000
cloud = true
boot_time = 120
"""

BUDGETS = """
[budgets]
currency = "EUR"
exchange_rates = { USD = 0.9 }
[budgets.accounts]
physics = { amount = 10.0 }
tiny = { amount = 0.01, period = "day" }
"""


def write_config(tmp_path: Path, extra: str = BUDGETS) -> Path:
    path = tmp_path / "sites.toml"
    path.write_text(SITES + extra)
    return path


def config(tmp_path: Path, extra: str = BUDGETS) -> HyperionConfig:
    return load_config(write_config(tmp_path, extra))


@contextmanager
def federation(tmp_path: Path, extra: str = BUDGETS) -> Iterator[Federation]:
    cfg = config(tmp_path, extra)
    engine = open_database(f"sqlite:///{tmp_path / 'h.db'}")
    sites = {name: MemorySite(name) for name in cfg.sites}
    fed = Federation(cfg, engine, lambda *a, **k: None, connectors=sites)  # type: ignore[arg-type]
    try:
        yield fed
    finally:
        fed.close()
        engine.dispose()


def finished_attempt(
    engine: Any,
    *,
    owner: str = "alice",
    account: str | None = None,
    site: str = "cpu",
    partition: str | None = "batch",
    request: dict[str, Any] | None = None,
    started: float = 1000.0,
    ended: float = 4600.0,
    state: str = AttemptState.COMPLETED,
) -> str:
    """A job with one attempt that ran from ``started`` to ``ended``; its job id."""
    req = {"ntasks": 1, "account": account, **(request or {})}
    with session(engine) as s:
        job = repo.create_job(
            s, owner=owner, owner_uid=1000, spec={}, request=req, account=account, now=started
        )
        a = repo.add_attempt(s, job, site, partition, "test", {}, now=started)
        repo.set_attempt_state(s, a, AttemptState.SUBMITTED, slurm_job_id="1", now=started)
        repo.set_attempt_state(s, a, state, started_at=started, ended_at=ended, now=ended)
        return job.id
