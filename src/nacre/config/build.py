"""``build``: a run config → a wired, validated agent and environment.

Every compatibility check reads the components' declared kinds (:mod:`nacre.kinds`): what a
learner learns from and what its scores are, what a buffer hands over, what an exploration
module can read. A mismatch is a :class:`~nacre.errors.ConfigError` that says what to change.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
import torch

from nacre.accel import accelerate
from nacre.agent import Agent
from nacre.config.context import BuildContext
from nacre.config.run import RunConfig
from nacre.data.bootstrap import BootstrapReplayBuffer
from nacre.envs.base import Env
from nacre.envs.make import make_env
from nacre.envs.normalize import Normalize
from nacre.envs.observations import Observations
from nacre.envs.sources import Copies, EnvLike, env_name
from nacre.errors import ConfigError
from nacre.exploration import Warmup
from nacre.history import SequenceHistory
from nacre.history.recurrent import RecurrentHistory
from nacre.kinds import BufferKind, LearnerKind, ScoresKind
from nacre.learners.policy.ppo import PPO
from nacre.learners.policy.recurrent_ppo import RecurrentPPO
from nacre.learners.policy.sac import SAC
from nacre.learners.policy.td3 import TD3
from nacre.learners.value.bootstrapped import BootstrappedDQN
from nacre.learners.value.dqn import DQN
from nacre.learners.value.iqn import IQN
from nacre.learners.value.qr_dqn import QRDQN
from nacre.spaces import StructuredBox
from nacre.types import (
    ActionFilter,
    ActionRepresentation,
    Buffer,
    CostConstraint,
    EpisodicExploration,
    Exploration,
    History,
    LearnedFilter,
    Learner,
    PriorityBuffer,
    RiskMeasure,
    Safety,
    TDLearner,
)

C = TypeVar("C")

# what to suggest when an exploration module cannot read a learner's scores
_FITS = {
    ScoresKind.VALUES: "greedy / epsilon_greedy / boltzmann / squarecb / fastcb",
    ScoresKind.POSTERIOR: "ucb / thompson (or a mean-based one: epsilon_greedy, squarecb …)",
    ScoresKind.LOGITS: "policy",
    ScoresKind.GAUSSIAN: "policy",
    ScoresKind.ACTION: "gaussian",
    ScoresKind.SQUASHED: "squashed",
    ScoresKind.FACTORED: "policy",
    ScoresKind.ENSEMBLE: "bootstrapped / ensemble_ucb (or a mean-based one: greedy, "
                         "epsilon_greedy …)",
}
# scores an action filter's mask can apply to, in acting and in TD targets
_FILTERABLE = frozenset({ScoresKind.VALUES, ScoresKind.ENSEMBLE, ScoresKind.POSTERIOR})


@dataclass
class Run:
    """A built run: the agent, its training env, and how to make evaluation envs (``eval_env``:
    what makes them when the env was given as a Python object rather than by ``config.env.id``).
    """

    config: RunConfig
    agent: Agent
    env: Env
    eval_env: EnvLike | None = None

    def make_eval_env(self) -> Env:
        source = self.config.env.id if self.eval_env is None else self.eval_env
        env = make_env(source, 1, "none", **self.config.env.kwargs)
        if isinstance(self.env, Normalize):  # the training statistics, frozen
            return self.env.frozen(env)
        return env

    def make_eval_envs(self) -> list[Env]:
        """Single environments for batched evaluation (one per evaluation episode, up to 16)."""
        return [self.make_eval_env() for _ in range(min(self.config.train.eval_episodes, 16))]


def build(config: RunConfig, env: EnvLike | None = None) -> Run:
    """Wire a run config into an agent and env, checking the components fit together.

    ``env`` (an instance, or a callable making one; see :func:`~nacre.envs.make.make_env`)
    replaces ``config.env.id``; the config still gives the number of copies, vectorization,
    normalization and ``max_faults``. Evaluation envs are fresh copies: the callable's, or deep
    copies of the instance taken now, before it takes a step.
    """
    if env is not None:  # the config says which env the run is (what a saved agent records)
        config = dataclasses.replace(config, env=dataclasses.replace(config.env,
                                                                     id=env_name(env)))
    device = _device(config.train.device)
    torch.manual_seed(config.seed)
    eval_env = Copies(env, "evaluation") if isinstance(env, gym.Env) else env
    train_env = _env(config, env)
    # collectors: the learner sees their envs as one env of num_collectors × num_envs copies
    ctx = BuildContext(config, train_env.observation_space, train_env.action_space,
                       train_env.num_envs * config.train.num_collectors, device, config.seed)
    history = _conforming(ctx.make("history"), History, "history", config)
    # the learner and the safety slot see summaries (and the learner bootstraps under the safety
    # slot's risk measure); the buffer stores observations, windows of them
    summaries = dataclasses.replace(ctx, observation_space=history.summary_space(
        train_env.observation_space))
    safety = _conforming(summaries.make("safety"), Safety, "safety", config)
    learner = _conforming(dataclasses.replace(summaries, safety=safety).make("learner"), Learner,
                          "learner", config)
    # the learner owns γ; multi-step buffers get it from here
    buffer = _conforming(dataclasses.replace(ctx, gamma=learner.gamma, window=history.window,
                                             marked=history.marked,
                                             actions=history.actions)
                         .make("buffer"), Buffer, "buffer", config)
    exploration = _conforming(ctx.make("exploration"), Exploration, "exploration", config)
    check_exploration(config, learner, exploration)
    check_buffer(config, learner, buffer)
    check_history(config, history, learner)
    check_risk(config, safety, learner)
    if isinstance(safety, LearnedFilter) and buffer.kind is not BufferKind.REPLAY:
        raise ConfigError(f"safety {config.safety.name!r} learns from replay batches; buffer "
                          f"{config.buffer.name!r} has none: use buffer replay or prioritized")
    check_bandit_wiring(config, train_env, learner, buffer)
    check_collectors(config, train_env, learner, buffer, safety)
    agent = Agent(
        learner,
        exploration=exploration,
        safety=safety,
        history=history,
        buffer=buffer,
        action_repr=_conforming(ctx.make("action_repr"), ActionRepresentation, "action_repr",
                                config),
        device=device,
        seed=config.seed,
        engine=accelerate(learner, config.train.accelerate),
        observation_shape=_obs_shape(train_env),
    )
    agent.observations = Observations(
        train_env.observation_space,
        train_env.normalize_obs if isinstance(train_env, Normalize) else None)
    agent.action_space = train_env.action_space  # ready to predict before any reset
    # imported here: nacre.train builds runs with this module, so it loads after it
    from nacre.train.saver import RunSaver

    agent.saver = RunSaver(config, train_env)
    return Run(config, agent, train_env, eval_env)


def _obs_shape(env: Env) -> tuple[int, ...] | None:
    """The shape of one observation, as the agent checks it (None: not a fixed-shape space)."""
    space: gym.Space[Any] = env.observation_space  # every gym.Space has a shape (maybe None)
    return None if space.shape is None else tuple(space.shape)


def _conforming(component: C, protocol: type[Any], slot: str, config: RunConfig) -> C:
    """``component``, or a ConfigError naming what it lacks of its slot's protocol (what
    :func:`build` and the agent rely on, declared in :mod:`nacre.types`)."""
    if isinstance(component, protocol):
        return component
    members = sorted(n for n in dir(protocol) if not n.startswith("_"))
    raise ConfigError(f"{slot} {vars(config)[slot].name!r}: {type(component).__name__} does "
                      f"not implement nacre.types.{protocol.__name__}, which declares "
                      f"{', '.join(members)}")


def _device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"train.device: {name!r} is not a torch device (cpu, cuda, cuda:1, …)"
                          ) from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device: {name!r} requested but CUDA is not available; use "
                          "device: cpu")
    return device


def _env(config: RunConfig, given: EnvLike | None) -> Env:
    max_faults = 0 if config.env.id.startswith("bandit/") else config.env.max_faults
    env = make_env(config.env.id if given is None else given, config.env.num_envs,
                   config.env.vectorization, max_faults, **config.env.kwargs)  # type: ignore[arg-type]
    if not config.env.normalize.enabled:
        return env
    if env.one_step:
        raise ConfigError("env.normalize: bandit environments standardize their contexts "
                          "themselves (and a wrapper would hide their candidate sets and regret)"
                          ": remove env.normalize")
    space = env.observation_space
    if config.env.normalize.obs and isinstance(space, StructuredBox):
        raise ConfigError("env.normalize.obs: Dict / Tuple observations are not normalized as "
                          "one vector (their one-hot and image parts would lose their meaning): "
                          "scale their vector parts in the env (gymnasium.wrappers."
                          "TransformObservation), or set env.normalize.obs: false")
    if config.env.normalize.obs and not (isinstance(space, gym.spaces.Box)
                                         and np.issubdtype(space.dtype, np.floating)):
        raise ConfigError(f"env.normalize.obs needs float Box observations; {config.env.id} "
                          f"has {space}")
    return Normalize(env, config.env.normalize)


def check_exploration(config: RunConfig, learner: Learner, exploration: Exploration) -> None:
    """The exploration module can read the learner's scores."""
    if isinstance(exploration, Warmup) and isinstance(exploration.inner, EpisodicExploration):
        raise ConfigError(f"exploration 'warmup' would hide the ends of episodes from "
                          f"{config.exploration.params.inner['name']!r}, which follows a choice "
                          "per episode (and explores from the first step): remove the warmup")
    kind, accepts = learner.scores_kind, exploration.accepts
    if kind in accepts:
        return
    need = ("; ucb and thompson need posterior scores [μ, σ]: use learner linear_bandit, "
            "disjoint_linear_bandit or neural_linear_bandit"
            if ScoresKind.POSTERIOR in accepts and ScoresKind.VALUES not in accepts else "")
    raise ConfigError(f"exploration {config.exploration.name!r} does not fit learner "
                      f"{config.learner.name!r}, whose scores are {kind}: use exploration "
                      f"{_FITS[kind]}{need}")


def check_buffer(config: RunConfig, learner: Learner, buffer: Buffer) -> None:
    """The buffer hands over what the learner learns from."""
    on_policy = learner.kind is LearnerKind.ROLLOUT
    if on_policy != (buffer.kind is BufferKind.ROLLOUT):
        raise ConfigError(f"learner {config.learner.name!r} needs buffer.name: "
                          f"{'rollout' if on_policy else 'replay'}; got buffer "
                          f"{config.buffer.name!r}")
    if on_policy and (config.train.learning_starts or not config.train.gradient_steps):
        raise ConfigError("an on-policy learner trains on every rollout: set "
                          "train.learning_starts: 0 and train.gradient_steps: 1")
    if learner.kind is LearnerKind.ONLINE and buffer.kind is not BufferKind.ONLINE:
        raise ConfigError(f"learner {config.learner.name!r} keeps an exact posterior, which must "
                          f"see each decision once: set buffer.name: online (got "
                          f"{config.buffer.name!r}, which replays decisions)")
    if isinstance(buffer, PriorityBuffer) and not isinstance(learner, TDLearner):
        raise ConfigError(f"buffer {config.buffer.name!r} sets priorities from TD errors, "
                          f"which learner {config.learner.name!r} does not report: use a "
                          "value learner (dqn, double_dqn, qr_dqn, iqn, bootstrapped_dqn …), "
                          "or buffer.name: replay")
    if isinstance(buffer, BootstrapReplayBuffer) and not (
            isinstance(learner, BootstrappedDQN) and learner.members == buffer.members):
        have = (f"{learner.members} members" if isinstance(learner, BootstrappedDQN)
                else f"learner {config.learner.name!r}, which has no ensemble")
        raise ConfigError(f"buffer 'bootstrap' draws masks for {buffer.members} ensemble "
                          f"members, and the run has {have}: set buffer.members to "
                          "network.members (learner bootstrapped_dqn), or buffer.name: replay")
    if learner.needs_next_action and not buffer.needs_next_action:
        raise ConfigError(
            f"learner {config.learner.name!r} needs buffer 'sarsa' (it stores the next action);"
            f" got buffer {config.buffer.name!r}: set buffer.name to sarsa"
        )


def check_history(config: RunConfig, history: History, learner: Learner) -> None:
    """A carried LSTM state needs the learner that re-runs (and trains) its LSTM; a sequence
    encoder's prediction task needs a learner that trains it."""
    if isinstance(history, RecurrentHistory) and not isinstance(learner, RecurrentPPO):
        raise ConfigError(f"history 'recurrent' carries an LSTM state that only learner ppo "
                          f"trains (recurrent PPO); learner {config.learner.name!r} reads "
                          "windows: use history lstm (or transformer, stacking)")
    predicts = (isinstance(history, SequenceHistory) and history.reader is not None
                and history.reader.predict > 0)
    if predicts and not (isinstance(learner, DQN) and learner.q.predictor is not None):
        raise ConfigError(f"history.predict: the prediction task is trained by the DQN family "
                          f"(dqn, double_dqn, sarsa) on network mlp; learner "
                          f"{config.learner.name!r} with network {config.network.name!r} would "
                          "ignore it: set history.predict: 0")


def check_risk(config: RunConfig, safety: Safety, learner: Learner) -> None:
    """A risk measure values return distributions: only a distributional learner has them. An
    action filter must be kept by the learner's targets too: value learners mask their
    ``max_a'``; a policy learner's recomputed probabilities would not know the mask."""
    if isinstance(safety, ActionFilter) and (
            learner.kind is LearnerKind.ROLLOUT or learner.scores_kind not in _FILTERABLE):
        raise ConfigError(f"safety {config.safety.name!r} restricts the actions of value "
                          f"learners (the DQN family, QR-DQN, IQN, Bootstrapped DQN, tabular Q, "
                          f"bandits); learner {config.learner.name!r} learns a policy whose "
                          "update would not see the filter")
    if isinstance(safety, CostConstraint) and not (isinstance(learner, TD3 | SAC | PPO)
                                                   and learner.cost is not None):
        raise ConfigError(f"safety {config.safety.name!r} constrains the cost of actor-critic "
                          f"learners; learner {config.learner.name!r} would ignore it: use "
                          "learner td3, ddpg, sac or ppo")
    if isinstance(safety, RiskMeasure) and not isinstance(learner, QRDQN | IQN):
        raise ConfigError(f"safety {config.safety.name!r} values a return distribution, which "
                          f"learner {config.learner.name!r} does not learn: use learner qr_dqn "
                          "or double_qr_dqn (network quantile_mlp) or iqn (network "
                          "implicit_quantile_mlp), or safety.name: none")


def check_bandit_wiring(config: RunConfig, env: Env, learner: Learner, buffer: Buffer) -> None:
    """Refuse the online-buffer combinations that would run but learn the wrong thing."""
    if buffer.kind is not BufferKind.ONLINE:
        return
    if not env.one_step:
        raise ConfigError(f"buffer 'online' stores no next observations (every transition ends "
                          f"its episode): it is for one-step bandit environments, and "
                          f"{config.env.id} is not one; use buffer.name: replay")
    train = config.train
    if train.gradient_steps < 1:
        raise ConfigError("buffer 'online' learns every decision: train.gradient_steps must be "
                          ">= 1")
    waiting = max(train.learning_starts, train.train_freq) + env.num_envs
    if buffer.capacity < waiting:
        raise ConfigError(f"buffer.capacity: up to {waiting} decisions wait for learning "
                          f"(train.learning_starts / train.train_freq plus env.num_envs); "
                          f"capacity is {buffer.capacity}")


def check_collectors(config: RunConfig, env: Env, learner: Learner, buffer: Buffer,
                     safety: Safety) -> None:
    """What collectors (``train.sync_every > 0``, :mod:`nacre.distributed`) can gather for: a
    learner that learns from what is stored in its buffer, acting with its own networks."""
    train = config.train
    if not train.collectors:
        return
    unset = "set train.sync_every: 0, train.backend: local and train.num_collectors: 1"
    if config.dataset is not None:
        raise ConfigError(f"an offline run (dataset) steps no environment, so it has no "
                          f"collectors: {unset}")
    if env.one_step or buffer.kind is BufferKind.ONLINE:
        raise ConfigError(f"collectors gather for replay and rollout buffers; {config.env.id} "
                          f"with buffer {config.buffer.name!r} is a contextual bandit, whose "
                          f"learner sees every decision at once: {unset}")
    if config.env.normalize.enabled:
        raise ConfigError("env.normalize: each collector would keep its own statistics of its "
                          f"own envs, and the learner none: remove env.normalize, or {unset}")
    if isinstance(safety, LearnedFilter | CostConstraint):
        raise ConfigError(f"safety {config.safety.name!r} learns from the run's steps and acts "
                          "with what it learned, which collectors do not share yet: "
                          f"{unset}, or safety.name: none")
    chunk = train.chunk_steps(env.num_envs) * train.num_collectors * env.num_envs
    if learner.kind is LearnerKind.ROLLOUT and train.train_freq % chunk:
        raise ConfigError(f"an on-policy learner must learn each rollout with the policy that "
                          f"collected it: train.sync_every ({chunk} steps, a multiple of "
                          f"num_collectors × env.num_envs = "
                          f"{train.num_collectors * env.num_envs}) must divide train.train_freq "
                          f"({train.train_freq}); e.g. train.sync_every: {train.train_freq}")


__all__ = ["Run", "build", "check_bandit_wiring", "check_buffer", "check_collectors",
           "check_exploration", "check_risk"]
