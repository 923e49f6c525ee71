"""The RLlib RLModule (new API stack) that trains a :class:`~hyperion.rl.model.PlacementModel`.

Policy: the placement model's masked logits over the environment's (site slot, choice) pairs.
Value (PPO's critic, dropped at export): its own encoder of the same shape (so the value loss,
whose targets are heavy-tailed slowdowns, never moves the policy's weights), then an MLP over the
normalised job features and the mean and max of the feasible sites' hidden vectors, so it too
works for any number of sites. ``model_config`` holds
``hidden`` and ``norm`` (job mean, job std, site mean, site std).
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import nn

from hyperion.rl.features import JOB_FEATURES, OPTIONS, SITE_FEATURES
from hyperion.rl.model import PlacementModel

#: prefixes of the placement model's and the critic encoder's weights in this module's state
NET, CRITIC = "net.", "critic."


class PlacementRLModule(TorchRLModule, ValueFunctionAPI):
    """Placement model plus a separate set-pooling critic (see the module docstring)."""

    def setup(self) -> None:
        cfg: dict[str, Any] = self.model_config  # type: ignore[assignment]  # our dict
        hidden = int(cfg["hidden"])
        self.net = PlacementModel(len(JOB_FEATURES), len(SITE_FEATURES), hidden, OPTIONS)
        self.net.set_normalisation(*cfg["norm"])
        self.critic = PlacementModel(len(JOB_FEATURES), len(SITE_FEATURES), hidden, OPTIONS)
        # (the critic's head is unused)
        self.critic.set_normalisation(*cfg["norm"])
        self.value_head = nn.Sequential(
            nn.Linear(len(JOB_FEATURES) + 2 * hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1)
        )

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        obs = batch[Columns.OBS]
        return {Columns.ACTION_DIST_INPUTS: self.net(obs["job"], obs["sites"], obs["mask"])}

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        obs = batch[Columns.OBS]
        h = self.critic.embed(obs["job"], obs["sites"])
        m = obs["mask"][..., :1]  # the sites that can run the job (choice "now")
        mean = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
        top = h.masked_fill(m <= 0, -1.0).max(1).values  # tanh outputs are >= -1
        job = (obs["job"] - self.critic.job_mean) / self.critic.job_std
        value: torch.Tensor = self.value_head(torch.cat([job, mean, top], dim=-1))
        return value.squeeze(-1)


def placement_state(module_state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The placement model's state dict out of this module's (numpy or torch) state."""
    return {k[len(NET) :]: torch.as_tensor(v) for k, v in module_state.items() if k.startswith(NET)}
