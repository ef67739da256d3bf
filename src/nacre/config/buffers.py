"""Built-in buffers: uniform replay (optionally n-step), prioritized replay, SARSA replay,
hindsight replay, on-policy rollouts and the online buffer of contextual bandits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import gymnasium as gym
import numpy as np

from nacre.config.context import BuildContext, NoParams
from nacre.config.registry import Entry, collect
from nacre.data.bootstrap import BootstrapReplayBuffer
from nacre.data.hindsight import HindsightReplayBuffer, goal_slices
from nacre.data.online import OnlineBuffer
from nacre.data.prioritized import PrioritizedReplayBuffer
from nacre.data.replay import ReplayBuffer, SARSABuffer
from nacre.data.rollout import RolloutBuffer
from nacre.data.validate import check_allocation
from nacre.envs.sources import CUSTOM_PREFIX
from nacre.errors import ConfigError, check_config
from nacre.types import GoalEnv

ENTRIES: list[Entry] = []
component = collect(ENTRIES, "buffer")


@dataclass(frozen=True)
class ReplayConfig:
    """``capacity`` transitions; ``n_step``-step returns discounted with the learner's γ."""

    capacity: int = 100_000
    n_step: int = 1


def _gamma(cfg: ReplayConfig, ctx: BuildContext) -> float | None:
    """The learner's discount, which multi-step returns need."""
    if cfg.n_step > 1 and ctx.gamma is None:
        raise ConfigError(f"buffer.n_step: learner {ctx.config.learner.name!r} does not "
                          "bootstrap (it has no discount): use n_step: 1")
    return ctx.gamma


def _fits_in_memory(cfg: ReplayConfig, ctx: BuildContext) -> None:
    """A capacity whose storage could never be allocated is a config error now, not at the
    first step (each transition holds two observations plus a few numbers)."""
    obs = ctx.observation_space
    obs_bytes = int(np.prod(obs.shape or (1,))) * np.dtype(obs.dtype or np.float32).itemsize
    check_allocation("buffer.capacity", cfg.capacity * (2 * obs_bytes + 32),
                     f"{float(cfg.capacity):.4g} transitions")


def _no_window(ctx: BuildContext, name: str) -> None:
    if ctx.window > 1:
        raise ConfigError(f"buffer {name!r} hands over single observations, and history "
                          f"{ctx.config.history.name!r} reads the last {ctx.window}: use buffer "
                          "replay, prioritized or rollout (their samples carry windows)")


@component("replay", ReplayConfig, "uniform replay on ring storage, optional n-step")
def _replay(cfg: ReplayConfig, ctx: BuildContext) -> ReplayBuffer:
    _fits_in_memory(cfg, ctx)
    return ReplayBuffer(cfg.capacity, cfg.n_step, _gamma(cfg, ctx), seed=ctx.seed + 1,
                        action_space=ctx.action_space, window=ctx.window, marked=ctx.marked,
                       actions=ctx.actions)


@dataclass(frozen=True)
class PrioritizedConfig(ReplayConfig):
    """Replay sampled ∝ ``(|δ| + epsilon)^alpha`` (Schaul et al. 2016, proportional), with
    importance weights whose exponent β grows linearly from ``beta0`` to 1 over the run."""

    alpha: float = 0.6
    beta0: float = 0.4
    epsilon: float = 1e-6

    def __post_init__(self) -> None:
        check_config(self, "buffer", positive=("epsilon",), unit_interval=("beta0",))
        if not self.alpha >= 0:
            raise ConfigError(f"buffer.alpha: must be >= 0, got {self.alpha}")


@component("prioritized", PrioritizedConfig,
           "prioritized replay (proportional, sum-tree), optional n-step")
def _prioritized(cfg: PrioritizedConfig, ctx: BuildContext) -> PrioritizedReplayBuffer:
    _fits_in_memory(cfg, ctx)
    return PrioritizedReplayBuffer(cfg.capacity, cfg.n_step, _gamma(cfg, ctx), seed=ctx.seed + 1,
                                   action_space=ctx.action_space, alpha=cfg.alpha,
                                   beta0=cfg.beta0, epsilon=cfg.epsilon, window=ctx.window,
                                   marked=ctx.marked, actions=ctx.actions)


@dataclass(frozen=True)
class BootstrapConfig(ReplayConfig):
    """Replay whose transitions each carry a bootstrap mask for ``members`` ensemble members
    (the network's), each member learning from a transition with probability ``p``."""

    members: int = 10
    p: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.members, bool) or self.members < 1:
            raise ConfigError(f"buffer.members: must be an integer >= 1, got {self.members!r}")
        if not 0.0 < self.p <= 1.0:
            raise ConfigError(f"buffer.p: must be in (0, 1], got {self.p!r}")


@component("bootstrap", BootstrapConfig,
           "uniform replay with a bootstrap mask per transition (Bootstrapped DQN)")
def _bootstrap(cfg: BootstrapConfig, ctx: BuildContext) -> BootstrapReplayBuffer:
    _fits_in_memory(cfg, ctx)
    return BootstrapReplayBuffer(cfg.capacity, cfg.n_step, _gamma(cfg, ctx), seed=ctx.seed + 1,
                                 action_space=ctx.action_space, window=ctx.window,
                                 marked=ctx.marked, actions=ctx.actions, members=cfg.members,
                                 p=cfg.p)


@component("sarsa", ReplayConfig, "replay that also returns the next action taken")
def _sarsa(cfg: ReplayConfig, ctx: BuildContext) -> SARSABuffer:
    _fits_in_memory(cfg, ctx)
    return SARSABuffer(cfg.capacity, cfg.n_step, _gamma(cfg, ctx), seed=ctx.seed + 1,
                       action_space=ctx.action_space, window=ctx.window, marked=ctx.marked,
                       actions=ctx.actions)


@dataclass(frozen=True)
class HindsightConfig:
    """``capacity`` transitions, relabelled when sampled with goals achieved later in their
    episode (``strategy``: future | final | episode), ``k`` relabelled per original one;
    ``horizon``: the longest episode."""

    capacity: int = 100_000
    strategy: Literal["future", "final", "episode"] = "future"
    k: int = 4
    horizon: int = 200


@component("her", HindsightConfig,
           "hindsight experience replay: goals relabelled when sampled (GoalEnv Dict obs)")
def _her(cfg: HindsightConfig, ctx: BuildContext) -> HindsightReplayBuffer:
    _no_window(ctx, "her")
    achieved, desired = goal_slices(ctx.observation_space)
    env_id = ctx.config.env.id
    if env_id.startswith(CUSTOM_PREFIX):
        raise ConfigError("buffer 'her' takes compute_reward from the env its config names; "
                          f"{env_id} was given as a Python object: register it and name its id")
    probe = gym.make(env_id, **ctx.config.env.kwargs).unwrapped
    probe.close()
    if not isinstance(probe, GoalEnv):
        raise ConfigError(f"buffer 'her' needs an env with compute_reward(achieved_goal, "
                          f"desired_goal, info); {env_id} has none")
    return HindsightReplayBuffer(cfg.capacity, probe.compute_reward, achieved, desired,
                                 cfg.strategy, cfg.k, cfg.horizon, seed=ctx.seed + 1,
                                 action_space=ctx.action_space)


@component("rollout", NoParams,
           "one on-policy rollout of train.train_freq / num_envs steps per env")
def _rollout(cfg: NoParams, ctx: BuildContext) -> RolloutBuffer:
    train = ctx.config.train
    if train.train_freq % ctx.num_envs:
        envs = (f"env.num_envs × train.num_collectors ({ctx.num_envs})"
                if train.num_collectors > 1 else f"env.num_envs ({ctx.num_envs})")
        raise ConfigError(f"train.train_freq ({train.train_freq}) must be a multiple of "
                          f"{envs} with buffer 'rollout': it is the rollout length in env "
                          "steps (n_steps × num_envs)")
    return RolloutBuffer(train.train_freq // ctx.num_envs, action_space=ctx.action_space,
                         window=ctx.window, marked=ctx.marked, actions=ctx.actions)


@dataclass(frozen=True)
class OnlineConfig:
    """At most ``capacity`` transitions wait for the next learning round."""

    capacity: int = 65_536


@component("online", OnlineConfig, "each transition learned once, in order (bandits)")
def _online(cfg: OnlineConfig, ctx: BuildContext) -> OnlineBuffer:
    _no_window(ctx, "online")
    if cfg.capacity < ctx.num_envs:
        raise ConfigError(f"buffer.capacity: must be >= env.num_envs ({ctx.num_envs})")
    return OnlineBuffer(cfg.capacity, action_space=ctx.action_space)
