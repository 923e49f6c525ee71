"""``hyperion train``: PPO (Ray RLlib, new API stack) on :class:`~hyperion.rl.env.PlacementEnv`.

Steps: record demonstrations of a heuristic (``imitate``: earliest-start by default), measure
the feature statistics on them and fit the model to them (:mod:`.warmstart`;
``imitation_epochs`` 0 skips the fit), train for ``iterations`` PPO iterations from there with
rich progress, export the placement model (the learner's weights, without the value head; with
``select_seeds`` the checkpoint that did best against earliest-start on those validation seeds),
evaluate it against the baselines on held-out seeds, and write the
``model.hyp`` artifact (:mod:`.artifact`) with the curve, the table and the command.
Local Ray by default (``env_runners`` sampling processes); ``address`` joins a Ray cluster.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import torch

from hyperion.placement.heuristics import get_policy
from hyperion.rl.artifact import save
from hyperion.rl.env import EnvConfig, PlacementEnv
from hyperion.rl.evaluate import evaluate
from hyperion.rl.features import JOB_FEATURES, OPTIONS, SITE_FEATURES, job_features, job_range
from hyperion.rl.model import PlacementModel
from hyperion.rl.objective import Objective
from hyperion.rl.policy import LearnedPolicy
from hyperion.rl.rllib_module import CRITIC, NET, PlacementRLModule, placement_state
from hyperion.rl.warmstart import demonstrations, imitate, merge, normalisation
from hyperion.sim.engine import job_request

#: heuristics every trained model is compared with
BASELINES = ("earliest-start", "least-loaded", "home", "carbon-aware")
#: training scenarios whose jobs make a model's recorded job range
RANGE_SCENARIOS = 10


def workload_range(config: EnvConfig, seed: int) -> dict[str, list[float]]:
    """The job range (:func:`~hyperion.rl.features.job_range`) of the training workloads: every
    job of :data:`RANGE_SCENARIOS` scenarios drawn as episodes draw them (site mix and workload
    by seed, ``--also`` pairs included); one scenario when every episode replays the same."""
    rows = [
        job_features(job_request(j), j.submit)
        for k in range(RANGE_SCENARIOS if config.drawn else 1)
        for j in config.scenario(seed + k).jobs
    ]
    return job_range(rows)


@dataclass
class TrainSettings:
    """How to train (PPO hyper-parameters kept to the few that matter here)."""

    iterations: int = 20
    env_runners: int = 1
    address: str | None = None
    seed: int = 0
    hidden: int = 64
    lr: float = 3e-4
    batch: int = 2000
    minibatch: int = 250
    epochs: int = 5
    gamma: float = 0.99
    entropy: float = 0.01
    eval_seeds: list[int] = field(default_factory=lambda: [1000])
    imitation_steps: int = 5000
    imitation_epochs: int = 20
    #: the heuristic the warm start imitates
    imitate: str = "earliest-start"
    #: DAgger rounds after the imitation (0: none)
    dagger_rounds: int = 0
    #: validation seeds for checkpoint selection (empty: keep the last iteration's weights)
    select_seeds: list[int] = field(default_factory=list)
    #: evaluate a checkpoint every this many iterations (and the warm start and the last one)
    select_every: int = 10


#: called after each iteration with (iteration, mean episode return, env steps so far)
Progress = Callable[[int, float, int], None]


def _ppo(config: EnvConfig, s: TrainSettings, norm: tuple[list[float], ...]) -> Any:
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    logging.getLogger("ray.rllib").setLevel(logging.ERROR)  # e.g. "PPO on the new API stack!"

    return (
        PPOConfig()  # type: ignore[no-untyped-call]
        .environment(PlacementEnv, env_config=config.to_dict())
        .env_runners(num_env_runners=s.env_runners, num_envs_per_env_runner=1)
        .training(
            lr=s.lr,
            train_batch_size_per_learner=s.batch,
            minibatch_size=min(s.minibatch, s.batch),
            num_epochs=s.epochs,
            gamma=s.gamma,
            lambda_=0.95,
            entropy_coeff=s.entropy,
            vf_clip_param=math.inf,
        )
        .rl_module(
            rl_module_spec=RLModuleSpec(
                module_class=PlacementRLModule,
                model_config={"hidden": s.hidden, "norm": [list(v) for v in norm]},
            )
        )
        .debugging(seed=s.seed, log_level="ERROR")
    )


def _start_from(algo: Any, model: PlacementModel) -> None:
    """Put ``model``'s weights into the learner's policy and critic encoders and the samplers'
    copies."""
    weights = algo.learner_group.get_weights()
    for state in weights.values():
        for prefix in (NET, CRITIC):
            state.update({prefix + k: v.numpy() for k, v in model.state_dict().items()})
    algo.learner_group.set_weights(weights)
    algo.env_runner_group.sync_weights(from_worker_or_learner_group=algo.learner_group)


def _iteration_numbers(result: dict[str, Any]) -> tuple[float, int]:
    from ray.rllib.utils.metrics import (
        ENV_RUNNER_RESULTS,
        EPISODE_RETURN_MEAN,
        NUM_ENV_STEPS_SAMPLED_LIFETIME,
    )

    runners = result.get(ENV_RUNNER_RESULTS, {})
    ret = float(runners.get(EPISODE_RETURN_MEAN, math.nan))
    steps = int(
        result.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, runners.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0))
    )
    return ret, steps


def _ratio(
    config: EnvConfig, model: PlacementModel, base: dict[int, float], seeds: list[int]
) -> float:
    """Geometric mean over ``seeds`` of the model's objective over earliest-start's."""
    policy = LearnedPolicy.from_model(model, Objective.parse(config.objective))
    ratio = _policy_ratio(config, policy, base, seeds)
    assert ratio is not None
    return ratio


def _policy_ratio(
    config: EnvConfig, policy: Any, base: dict[int, float], seeds: list[int]
) -> float | None:
    """Geometric mean over ``seeds`` of ``policy``'s objective over earliest-start's (None
    without seeds)."""
    if not seeds:
        return None
    logs = []
    for seed in seeds:
        (row,) = evaluate(config, [policy], seed)
        logs.append(math.log(max(row["objective"], 1e-9) / max(base[seed], 1e-9)))
    return math.exp(sum(logs) / len(logs))


def train(
    config: EnvConfig,
    settings: TrainSettings,
    out: str,
    *,
    command: str,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train, evaluate and write the artifact at ``out``; returns its metadata."""
    import ray

    t0 = time.monotonic()
    demos = demonstrations(
        config, settings.seed, max(settings.imitation_steps, 1), settings.imitate
    )
    norm = normalisation(demos)
    model = PlacementModel(len(JOB_FEATURES), len(SITE_FEATURES), settings.hidden, OPTIONS)
    model.set_normalisation(*norm)
    agreement = (
        imitate(model, demos, settings.imitation_epochs, settings.seed)
        if settings.imitation_epochs
        else None
    )
    for r in range(settings.dagger_rounds if agreement is not None else 0):
        # DAgger: the expert labels the states the imitation itself reaches; refit on all
        more = demonstrations(
            config, settings.seed + 1 + r, settings.imitation_steps, settings.imitate, model
        )
        demos = merge(demos, more)
        agreement = imitate(model, demos, settings.imitation_epochs, settings.seed)
    started = not ray.is_initialized()
    if started:
        # Ray's core logs harmless "E" lines about actor restarts on every start; keep real errors
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
        ray.init(
            address=settings.address,
            num_cpus=None if settings.address else settings.env_runners + 1,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
    try:
        algo = _ppo(config, settings, norm).build_algo()
        if agreement is not None:
            _start_from(algo, model)
        seeds = settings.select_seeds
        es = get_policy("earliest-start")
        base = {s: evaluate(config, [es], s)[0]["objective"] for s in seeds}
        expert_ratio = _policy_ratio(config, get_policy(settings.imitate), base, seeds)
        selection: list[dict[str, float]] = []
        best: tuple[float, int, dict[str, torch.Tensor]] | None = None
        if seeds and agreement is not None:  # the warm start is a candidate too
            ratio = _ratio(config, model, base, seeds)
            selection.append({"iteration": 0, "ratio": ratio})
            best = (ratio, 0, copy.deepcopy(model.state_dict()))
        curve = []
        for it in range(1, settings.iterations + 1):
            ret, steps = _iteration_numbers(algo.train())
            curve.append({"iteration": it, "episode_return_mean": ret, "env_steps": steps})
            if seeds and (it % max(settings.select_every, 1) == 0 or it == settings.iterations):
                (state,) = algo.learner_group.get_weights().values()
                model.load_state_dict(placement_state(state))
                ratio = _ratio(config, model, base, seeds)
                selection.append({"iteration": it, "ratio": ratio})
                if best is None or ratio < best[0]:
                    best = (ratio, it, copy.deepcopy(model.state_dict()))
            if progress is not None:
                progress(it, ret, steps)
        weights = algo.learner_group.get_weights()
        algo.stop()
    finally:
        if started:
            ray.shutdown()
    if best is not None:
        model.load_state_dict(best[2])
    else:
        (module_state,) = weights.values()
        model.load_state_dict(placement_state(module_state))
    meta: dict[str, Any] = {
        "objective": Objective.parse(config.objective).to_dict(),
        "training": {
            "env": config.to_dict(),
            "settings": asdict(settings),
            "imitation_agreement": agreement,
            "imitated": settings.imitate,
            "imitation_delays": int((demos.action % OPTIONS).sum()),
            "selection": selection,
            "selected_iteration": None if best is None else best[1],
            # the imitated heuristic on the same validation seeds: did training beat it?
            "expert_ratio": expert_ratio,
            "beats_expert": (
                None if best is None or expert_ratio is None else best[0] < expert_ratio
            ),
            "seconds": round(time.monotonic() - t0, 1),
        },
        # the jobs it trained on: the policy steps aside on workloads mostly outside them
        "job_range": workload_range(config, settings.seed),
        "curve": curve,
        "eval": [],
        "command": command,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    save(out, model, meta)
    # the model itself, never its fallback: the table says what training made
    policies = [LearnedPolicy(out, fallback=None), *(get_policy(b) for b in BASELINES)]
    meta["eval"] = [row for seed in settings.eval_seeds for row in evaluate(config, policies, seed)]
    save(out, model, meta)
    return meta
