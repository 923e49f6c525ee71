"""A gymnasium environment over the simulator: one step per placement decision.

An episode replays one workload (or a window of ``window`` jobs of it) on the scenario's sites
through :meth:`hyperion.sim.engine.Engine.replay`. Each job with two or more candidate sites is
one step, and so is each flexible job (``flex_share``) even with one candidate (it may be held);
other jobs only one site can run are placed by the engine without asking. Candidates carry the
carbon forecast (``forecast``), as they do for every forecast-reading policy.

**Observation** (a dict, fixed shapes so batches stack): ``job`` (:data:`JOB_FEATURES`),
``sites`` (``max_sites`` rows of :data:`SITE_FEATURES`, one per scenario site in config order,
zeros for padding and for sites that cannot run the job) and ``mask`` (``max_sites`` x
:data:`OPTIONS`: column 0 is 1 where the site can run the job now, column 1 where it also has a
delay target, see :func:`~hyperion.rl.features.observe`; never for a job without flexibility).
Padding to ``max_sites`` is only the environment's batching; the model itself scores each row
with shared weights and works for any number of sites.

**Action**: ``Discrete(max_sites * OPTIONS)``: ``slot * OPTIONS + choice``, choice 0 starts the
job at the site now, choice 1 holds it there until the site's delay target (``not_before``). An
action whose mask is 0 is refused (``ValueError``).

**Reward**: the change of a running sum. Every job that has arrived accrues its objective
(:class:`~hyperion.rl.objective.Objective`): while it waits (held or queued), the value of the
wait so far; once it has ended, its final value (wait, cost, carbon). Each step's reward is
minus the growth of the sum since the previous step (at the last step, through the end of the
simulation), divided by the episode's job count, so an episode's undiscounted return is exactly
minus the mean per-job objective, and a decision that makes jobs queue is penalised as soon as
they queue.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import gymnasium as gym
import numpy as np

from hyperion.errors import HyperionError
from hyperion.placement.heuristics import CarbonAwarePolicy
from hyperion.placement.policy import Candidate
from hyperion.rl.features import JOB_FEATURES, OPTIONS, SITE_FEATURES, job_features, observe
from hyperion.rl.objective import Objective
from hyperion.sim.engine import Engine, Replay, job_request
from hyperion.sim.forecast import DEFAULT_FORECAST
from hyperion.sim.job import SimJob
from hyperion.sim.pool import Pool
from hyperion.sim.scenario import Scenario, build
from hyperion.sim.site import SimSite
from hyperion.types import JobRequest

Obs = dict[str, np.ndarray]


@dataclass
class EnvConfig:
    """What an environment simulates; plain values, so Ray can ship it to its workers.

    ``workloads``, ``sites`` (a site-config TOML), ``sim_config``, ``carbon``, ``homes``,
    ``time_scale``, ``gpu_share``, ``flex_share``, ``flex_s`` and ``forecast`` are as in
    ``hyperion sim`` (:func:`hyperion.sim.scenario.build`, :mod:`hyperion.sim.forecast`).
    Generated workloads (``lublin:...``) are drawn anew each episode; ``window`` > 0 takes a
    random window of that many consecutive jobs. ``also`` lists more ``[SITES, WORKLOAD]``
    pairs: each episode (and each evaluation seed) draws one of them or the main one with
    equal chance, so that one model learns several site mixes and workloads. ``estimates`` is
    as in ``hyperion sim --estimates``.
    """

    workloads: list[str]
    sites: str | None = None
    sim_config: str | None = None
    carbon: list[str] = field(default_factory=list)
    homes: str = "user"
    time_scale: float | None = None
    gpu_share: float = 0.0
    objective: str = "bsld"
    max_sites: int = 16
    window: int = 0
    flex_share: float = 0.0
    flex_s: float = 6 * 3600.0
    forecast: str = DEFAULT_FORECAST
    also: list[list[str]] = field(default_factory=list)
    estimates: str = "trace"

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> EnvConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - names)
        if unknown:
            raise HyperionError(f"environment: unknown setting {', '.join(unknown)}")
        return cls(**config)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def drawn(self) -> bool:
        """Whether episodes differ by seed (generated workloads, ``also``, ``estimates=mixed``);
        otherwise every episode replays one scenario."""
        return (
            bool(self.also)
            or self.estimates == "mixed"
            or any(w.startswith("lublin:") for w in self.workloads)
        )

    def variant(self, seed: int) -> tuple[str | None, list[str], str | None]:
        """The site config, workloads and simulator file of the episode with this seed."""
        pick = random.Random(seed ^ 0x5EED).randrange(1 + len(self.also)) if self.also else 0
        if pick == 0:
            return self.sites, self.workloads, self.sim_config
        sites, workload = self.also[pick - 1]
        return sites, [workload], None

    def scenario(self, seed: int) -> Scenario:
        """The sites and jobs of one episode."""
        sites, workloads, sim_config = self.variant(seed)
        return build(
            workloads,
            sites_config=sites,
            sim_config=sim_config,
            carbon=self.carbon,
            homes=self.homes,
            time_scale=self.time_scale,
            gpu_share=self.gpu_share,
            seed=seed,
            flex_share=self.flex_share,
            flex_s=self.flex_s,
            estimates=self.estimates,
        )


class PlacementEnv(gym.Env[Obs, int]):
    """One decision per arriving job with a choice of site or start (see the module docstring).

    After :meth:`reset` and each :meth:`step`, ``request``, ``candidates`` and ``now`` describe
    the pending decision as a policy would see it (used to record demonstrations)."""

    def __init__(self, config: dict[str, Any] | EnvConfig | None = None) -> None:
        self.config = (
            config if isinstance(config, EnvConfig) else EnvConfig.from_dict(dict(config or {}))
        )
        self.objective = Objective.parse(self.config.objective)
        n, nj, ns = self.config.max_sites, len(JOB_FEATURES), len(SITE_FEATURES)
        self.observation_space = gym.spaces.Dict(
            {
                "job": gym.spaces.Box(-np.inf, np.inf, (nj,), np.float32),
                "sites": gym.spaces.Box(-np.inf, np.inf, (n, ns), np.float32),
                "mask": gym.spaces.Box(0.0, 1.0, (n, OPTIONS), np.float32),
            }
        )
        self.action_space = gym.spaces.Discrete(n * OPTIONS)
        self._cache: Scenario | None = None
        self._fixed = not self.config.drawn  # one scenario for every episode
        self.sites: list[SimSite] = []
        self.jobs: list[SimJob] = []
        self._steps: Replay | None = None
        self._engine: Engine | None = None
        self._ask: tuple[SimJob, list[tuple[SimSite, Pool]], float] | None = None
        self.candidates: list[Candidate] = []
        self.request: JobRequest | None = None
        self.now = 0.0
        self._mask = np.zeros((n, OPTIONS), np.float32)
        self._delays: list[float | None] = [None] * n  # per slot: the delay target
        self._open: list[list[Any]] = []  # [job, objective charged so far]
        self._next = 0  # next job of self.jobs to count as arrived
        self.total = 0.0  # objective charged so far (sum over jobs)

    # -- episodes --------------------------------------------------------------------------

    def _episode(self, seed: int) -> tuple[list[SimSite], list[SimJob]]:
        if self._fixed:
            if self._cache is None:
                self._cache = self.config.scenario(seed)
            sc = self._cache
            jobs = [j.copy() for j in sc.jobs]
        else:
            sc = self.config.scenario(seed)
            jobs = sc.jobs
        if len(sc.sites) > self.config.max_sites:
            raise HyperionError(
                f"{len(sc.sites)} sites but the environment holds at most {self.config.max_sites}",
                hint="raise max_sites",
            )
        jobs.sort(key=lambda j: j.submit)
        w = self.config.window
        if 0 < w < len(jobs):
            start = random.Random(seed).randrange(len(jobs) - w + 1)
            jobs = jobs[start : start + w]
        return sc.sites, jobs

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Obs, dict[str, Any]]:
        super().reset(seed=seed)
        for _ in range(10):
            episode_seed = int(self.np_random.integers(2**31 - 1))
            self.sites, self.jobs = self._episode(episode_seed)
            # never asked (we answer); it makes the engine attach forecasts and ask for flexible
            # jobs with one candidate, as for any forecast-reading policy
            self._engine = Engine(self.sites, CarbonAwarePolicy(), forecast=self.config.forecast)
            self._steps = self._engine.replay(self.jobs)  # same order: job.idx = index
            self._open, self._next, self.total = [], 0, 0.0
            try:
                self._ask = next(self._steps)
            except StopIteration:
                continue  # no job had a choice; draw another episode
            return self._observe(), {"seed": episode_seed}
        raise HyperionError("the environment's workload gives no placement decisions (one site?)")

    def step(self, action: int) -> tuple[Obs, float, bool, bool, dict[str, Any]]:
        if self._ask is None or self._steps is None or self._engine is None:
            raise HyperionError("step() before reset() or after the episode ended")
        a = int(action)
        slot, choice = divmod(a, OPTIONS)
        if not 0 <= slot < len(self._mask) or self._mask[slot, choice] <= 0:
            what = "that site cannot run this job" if choice == 0 else "no delay there"
            raise ValueError(f"action {a}: {what} (mask {self._mask.ravel().tolist()})")
        job, options, now = self._ask
        hold = self._delays[slot] if choice else None
        placed = self._engine.placement(self.sites[slot].name, hold, options, now)
        try:
            self._ask = self._steps.send(placed)
        except StopIteration:
            self._ask = None
        done = self._ask is None
        before = self.total
        self._account(self._ask[2] if self._ask is not None else None)
        reward = -(self.total - before) / len(self.jobs)
        obs = self._observe() if not done else self._blank()
        info = {"objective": self.total / len(self.jobs)} if done else {}
        return obs, reward, done, False, info

    # -- reward ----------------------------------------------------------------------------

    def _account(self, now: float | None) -> None:
        """Charge every arrived job's objective up to ``now`` (None: the run has ended)."""
        jobs, obj = self.jobs, self.objective
        ask = self._ask[0] if self._ask is not None else None
        last = ask.idx if ask is not None else len(jobs) - 1  # the engine has seen these
        while self._next <= last:
            self._open.append([jobs[self._next], 0.0])
            self._next += 1
        still = []
        for entry in self._open:
            j, paid = entry
            if j.site is None:  # the job being decided now, or one no site could run
                if j is ask:
                    still.append(entry)
                continue
            if j.end >= 0 and (now is None or j.end <= now):
                value = obj.final(j, self._engine_site(j))
            else:
                assert now is not None  # at the end every job has ended
                value = obj.waiting(j, j.wait if j.start >= 0 else now - j.submit)
                still.append(entry)
                entry[1] = value
            self.total += value - paid
        self._open = still

    def _engine_site(self, job: SimJob) -> SimSite:
        assert self._engine is not None
        return self._engine.by_name[str(job.site)]

    # -- observations ----------------------------------------------------------------------

    def _observe(self) -> Obs:
        assert self._ask is not None and self._engine is not None
        job, options, now = self._ask
        cands = self._engine.candidates(job, options, now, estimate=True)
        request: JobRequest = job_request(job)
        rows, targets = observe(request, cands, now)
        n, ns = self.config.max_sites, len(SITE_FEATURES)
        sites = np.zeros((n, ns), np.float32)
        self._mask = np.zeros((n, OPTIONS), np.float32)
        self._delays = [None] * n
        slot = {s.name: i for i, s in enumerate(self.sites)}
        for c, row, target in zip(cands, rows, targets, strict=True):
            i = slot[c.site]
            sites[i] = row
            self._mask[i, 0] = 1.0
            if target is not None:
                self._mask[i, 1:] = 1.0
                self._delays[i] = target
        self.candidates, self.request, self.now = cands, request, now
        return {
            "job": np.asarray(job_features(request, now), np.float32),
            "sites": sites,
            "mask": self._mask.copy(),
        }

    def slot_of(self, site: str) -> int:
        """The slot (row) of a site by name."""
        return next(i for i, s in enumerate(self.sites) if s.name == site)

    def _blank(self) -> Obs:
        self._mask = np.zeros((self.config.max_sites, OPTIONS), np.float32)
        n, ns = self.config.max_sites, len(SITE_FEATURES)
        return {
            "job": np.zeros(len(JOB_FEATURES), np.float32),
            "sites": np.zeros((n, ns), np.float32),
            "mask": self._mask.copy(),
        }
