"""The one power model of Hyperion, shared by the daemon's ledger and the simulator.

A job draws ``core_w`` per allocated core and ``gpu_w`` per GPU, plus its share of the idle
draw of the nodes it occupies (``idle_w_per_node`` x node share); ``pue`` multiplies the whole.
The site config holds the figures (``[sites.X.power]``, per partition ``power = {...}``).
"""

from __future__ import annotations

from typing import Protocol


class Power(Protocol):
    """What a power model gives (the site config's PowerModel, the simulator's EnergyModel)."""

    @property
    def core_w(self) -> float: ...
    @property
    def gpu_w(self) -> float: ...
    @property
    def idle_w_per_node(self) -> float: ...
    @property
    def pue(self) -> float: ...


def busy_power_w(model: Power, cores: int, gpus: int) -> float:
    """Watts of ``cores`` allocated cores and ``gpus`` GPUs at the wall (PUE included)."""
    return (cores * model.core_w + gpus * model.gpu_w) * model.pue


def job_energy_kwh(
    model: Power, *, cores: int, gpus: int, node_share: float, seconds: float, boot_s: float = 0.0
) -> float:
    """Energy of a job that held ``cores``/``gpus`` and ``node_share`` nodes for ``seconds``.

    ``boot_s``: the nodes also drew their idle power while they booted (cloud nodes).
    """
    busy_w = busy_power_w(model, cores, gpus)
    idle_w = model.idle_w_per_node * node_share * model.pue
    return (busy_w * seconds + idle_w * (seconds + boot_s)) / 3.6e6
