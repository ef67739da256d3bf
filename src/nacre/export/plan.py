"""What an agent's export consists of, read from its declared components — and what is refused.

An exported graph reproduces the act path of :meth:`nacre.Agent.decide` on a fixed action set:
observation normalization (the run's frozen statistics) → ``learner.scores`` → the exploration
module, with the exploration's step-dependent state (ε schedules, SquareCB's γ_t, a warm-up)
frozen at the agent's ``env_steps``. Anything whose behaviour a stateless graph of the
observation cannot reproduce is refused with a :class:`~nacre.errors.ConfigError` naming it:
history summarizers other than the identity (they carry state between decisions), safety
modules that filter actions, per-step candidate sets drawn from a catalogue, Dict / Tuple
observations, MultiDiscrete actions, and exploration without a closed-form action
distribution.
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from nacre.actions import IdentityActionRepresentation
from nacre.agent import Agent
from nacre.envs.normalize import Normalize
from nacre.errors import ConfigError
from nacre.exploration import (
    UCB,
    Boltzmann,
    EpsilonGreedy,
    FastCB,
    GaussianNoise,
    Greedy,
    PolicySampling,
    SquareCB,
    SquashedGaussianSampling,
    ThompsonSampling,
    Warmup,
)
from nacre.history import IdentityHistory
from nacre.kinds import ScoresKind
from nacre.safety import NoSafety
from nacre.spaces import BoxActionSpace, DiscreteActionSpace
from nacre.types import (
    ActionDistribution,
    CostConstraint,
    EpisodicExploration,
    Exploration,
    RiskMeasure,
)

# scores a categorical choice over K actions is made from (channel 0 holds the means)
DISCRETE_SCORES = frozenset({ScoresKind.VALUES, ScoresKind.LOGITS, ScoresKind.POSTERIOR,
                             ScoresKind.ENSEMBLE})


@dataclass(frozen=True)
class Normalization:
    """``clip((obs − mean) / std, −clip, clip)`` in float64, then float32 — exactly what
    :meth:`nacre.envs.normalize.Normalize.normalize_obs` computes with the run's statistics."""

    mean: np.ndarray
    std: np.ndarray
    clip: float


@dataclass(frozen=True)
class ObservationSpec:
    """One observation as the graphs take it: ``shape`` (without the batch), NumPy ``dtype``,
    and the normalization applied in-graph (None: none)."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    normalization: Normalization | None
    low: np.ndarray | None = None  # the space's bounds, where it has them (for test inputs)
    high: np.ndarray | None = None
    n: int | None = None  # a Discrete observation space's size


@dataclass(frozen=True)
class ExploringSpec:
    """The exploring policy, resolved at ``step``: ``kind`` (the registry name of the
    exploration that acts at that step), the module that computes it, its frozen
    ``parameters`` (JSON) and how a server samples from its outputs (``distribution``)."""

    kind: str
    module: Exploration
    distribution: str
    parameters: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportPlan:
    """Everything the graphs and ``export.json`` are made from."""

    agent: Agent
    observation: ObservationSpec
    space: DiscreteActionSpace | BoxActionSpace
    features: Tensor | None  # the fixed action features the learner scores (None: none)
    exploring: ExploringSpec
    step: int
    mask: bool  # discrete graphs take a ``mask`` input of the available actions

    @property
    def continuous(self) -> bool:
        return isinstance(self.space, BoxActionSpace)

    @property
    def scores_kind(self) -> ScoresKind:
        return self.agent.learner.scores_kind


def plan(agent: Agent, mask: bool = False) -> ExportPlan:
    """Check that ``agent``'s act path can be exported and resolve what its graphs compute."""
    if not isinstance(agent.history, IdentityHistory):
        raise ConfigError(f"export: history {type(agent.history).__name__} carries state from "
                          "decision to decision, which a graph of one observation cannot; only "
                          "the identity history (no summarizer) is exported")
    if not isinstance(agent.safety, NoSafety | RiskMeasure | CostConstraint):
        raise ConfigError(f"export: safety {type(agent.safety).__name__} filters actions per "
                          "state; safety filters are not exported (risk measures and cost "
                          "constraints, which filter nothing, are)")
    space = agent.action_space
    if space is None:
        raise ConfigError("export: the agent has no action space yet: set agent.action_space "
                          "(nacre.build and nacre.load do)")
    if not isinstance(space, DiscreteActionSpace | BoxActionSpace):
        raise ConfigError(f"export: action space {type(space).__name__} is not exported; "
                          "Discrete and Box actions are")
    if isinstance(space, DiscreteActionSpace) and space.catalogue is not None:
        raise ConfigError("export: the action space draws per-step candidate sets from a "
                          "catalogue (dynamic action sets), which the graphs have no input for")
    if mask and isinstance(space, BoxActionSpace):
        raise ConfigError("export: mask=True: Box actions have no action mask")
    if agent.learner.scores_kind not in (DISCRETE_SCORES if isinstance(space, DiscreteActionSpace)
                                         else {ScoresKind.GAUSSIAN, ScoresKind.ACTION,
                                               ScoresKind.SQUASHED}):
        raise ConfigError(f"export: learner scores of kind {agent.learner.scores_kind.value!r} "
                          f"do not fit a {type(space).__name__}")
    features = agent.action_repr.represent(space, None)
    if features is not None and not isinstance(agent.action_repr, IdentityActionRepresentation):
        features = features.detach()  # a representation's features, fixed for the graph
    step = agent.env_steps
    exploring = resolve(agent.exploration, step, agent.learner.scores_kind)
    return ExportPlan(agent, observation_spec(agent), space, features, exploring, step, mask)


def observation_spec(agent: Agent) -> ObservationSpec:
    """How the agent's observations enter the graphs (see :class:`ObservationSpec`)."""
    raw = agent.observations.raw
    if isinstance(raw, gym.spaces.Dict | gym.spaces.Tuple):  # (what a StructuredBox flattens)
        raise ConfigError("export: Dict / Tuple observations are not exported; flatten them "
                          "into a Box before the agent sees them")
    norm = normalization(agent)
    if isinstance(raw, gym.spaces.Discrete):
        return ObservationSpec((), np.dtype(np.int64), norm, n=int(raw.n))
    if isinstance(raw, gym.spaces.Box):
        return ObservationSpec(tuple(raw.shape), np.dtype(raw.dtype), norm,
                               np.broadcast_to(raw.low, raw.shape),
                               np.broadcast_to(raw.high, raw.shape))
    if raw is not None:
        raise ConfigError(f"export: observation space {raw} is not exported; Box and Discrete "
                          "observations are")
    if agent.observation_shape is None:
        raise ConfigError("export: the agent does not know the shape of its observations: "
                          "give Agent(..., observation_shape=...)")
    return ObservationSpec(tuple(agent.observation_shape), np.dtype(np.float32), norm)


def normalization(agent: Agent) -> Normalization | None:
    """The run's frozen observation statistics, where it normalizes observations."""
    normalize = agent.observations.normalize
    if normalize is None:
        return None
    # nacre.build hands the agent the training env's own method: its statistics are the
    # wrapper's (the method object is all the agent keeps of it)
    owner = normalize.__self__ if isinstance(normalize, types.MethodType) else None
    if not isinstance(owner, Normalize):
        raise ConfigError("export: the agent normalizes observations with a function other "
                          "than nacre's env.normalize, which cannot be put into a graph")
    if not owner.config.obs:
        return None
    std = np.sqrt(owner.obs_stats.var + owner.config.epsilon)
    return Normalization(owner.obs_stats.mean.copy(), std, float(owner.config.clip_obs))


def resolve(exploration: Exploration, step: int, scores: ScoresKind) -> ExploringSpec:
    """The exploring policy that acts at ``step`` (a warm-up that has ended is its inner
    explorer), or a ConfigError for exploration without an exportable distribution."""
    name = type(exploration).__name__
    if isinstance(exploration, EpisodicExploration):
        raise ConfigError(f"export: exploration {name} keeps a choice per episode, which a "
                          "graph of one observation cannot; export a run with another explorer")
    if isinstance(exploration, Warmup):
        if step >= exploration.steps:
            return resolve(exploration.inner, step, scores)
        if scores not in DISCRETE_SCORES:
            raise ConfigError(f"export: the agent is still in its warm-up ({step} of "
                              f"{exploration.steps} steps), whose uniform actions in the "
                              "action box have no Gaussian to export; export it after warm-up")
        return ExploringSpec("uniform", exploration, "categorical",
                             {"warmup_steps": float(exploration.steps)})
    if scores in DISCRETE_SCORES:
        return _discrete(exploration, step, scores)
    return _continuous(exploration, scores)


def _discrete(exploration: Exploration, step: int, scores: ScoresKind) -> ExploringSpec:
    if isinstance(exploration, PolicySampling) and scores is ScoresKind.LOGITS:
        return ExploringSpec("policy", exploration, "categorical")
    if not isinstance(exploration, ActionDistribution):
        raise ConfigError(f"export: exploration {type(exploration).__name__} has no action "
                          "distribution (nacre.types.ActionDistribution) to export")
    params: dict[str, float] = {}
    if isinstance(exploration, EpsilonGreedy):
        kind, params = "epsilon_greedy", {"epsilon": exploration.epsilon(step)}
    elif isinstance(exploration, Boltzmann):
        kind, params = "boltzmann", {"temperature": exploration.temperature}
    elif isinstance(exploration, UCB):
        kind, params = "ucb", {"alpha": exploration.alpha}
    elif isinstance(exploration, ThompsonSampling):
        kind, params = "thompson", {"scale": exploration.scale}
    elif isinstance(exploration, FastCB):
        # its guard against 0/0 (a float64 floor of 1e-300) reaches the graph as float32,
        # i.e. 0: rows whose best arm has loss 0 would come out NaN
        raise ConfigError("export: exploration FastCB does not survive torch's ONNX exporter "
                          "(its float64 guard becomes 0); export with squarecb")
    elif isinstance(exploration, SquareCB):
        kind = "squarecb"
        params = {"gamma": exploration.gamma(step), "gamma_scale": exploration.gamma_scale,
                  "gamma_exponent": exploration.gamma_exponent}
    elif isinstance(exploration, Greedy):
        kind = "greedy"
    else:  # a user's explorer: its declared distribution is what the graph computes
        kind = type(exploration).__name__
    return ExploringSpec(kind, exploration, "categorical", params)


def _continuous(exploration: Exploration, scores: ScoresKind) -> ExploringSpec:
    if isinstance(exploration, PolicySampling) and scores is ScoresKind.GAUSSIAN:
        return ExploringSpec("policy", exploration, "gaussian")
    if isinstance(exploration, SquashedGaussianSampling) and scores is ScoresKind.SQUASHED:
        return ExploringSpec("squashed", exploration, "squashed_gaussian")
    if isinstance(exploration, GaussianNoise) and scores is ScoresKind.ACTION:
        return ExploringSpec("gaussian", exploration, "clipped_gaussian",
                             {"std": exploration.std, "log_std": math.log(exploration.std)})
    raise ConfigError(f"export: exploration {type(exploration).__name__} on {scores.value!r} "
                      "scores is not exported; continuous agents export with policy "
                      "(Gaussian), squashed (SAC) or gaussian (TD3 / DDPG noise) exploration")


def example_observations(spec: ObservationSpec, n: int, generator: torch.Generator,
                         device: torch.device) -> Tensor:
    """``n`` observations of ``spec`` drawn at random: within the space's bounds where they
    are moderate (CartPole's ±3.4e38 are not), else around the normalization statistics (or
    standard normal). For tracing and for checking a written graph against the agent."""
    if spec.n is not None:
        return torch.randint(spec.n, (n,), generator=generator).to(device)
    shape = (n, *spec.shape)
    if np.issubdtype(spec.dtype, np.integer) or spec.dtype == np.bool_:
        low = 0 if spec.low is None else int(np.clip(spec.low, -(2**31), 2**31 - 1).min())
        high = 1 if spec.high is None else int(np.clip(spec.high, -(2**31), 2**31 - 1).max())
        draw = torch.randint(low, high + 1, shape, generator=generator)
        return draw.to(device=device, dtype=torch.from_numpy(np.zeros(0, spec.dtype)).dtype)
    x = torch.randn(shape, generator=generator, dtype=torch.float64)
    if spec.normalization is not None:
        norm = spec.normalization
        x = torch.from_numpy(norm.mean) + torch.from_numpy(norm.std) * x
    elif spec.low is not None and spec.high is not None:
        lo = torch.from_numpy(spec.low.astype(np.float64))
        hi = torch.from_numpy(spec.high.astype(np.float64))
        bounded = (lo.abs() <= 1e6) & (hi.abs() <= 1e6)
        u = torch.rand(shape, generator=generator, dtype=torch.float64)
        x = torch.where(bounded, lo + u * (hi - lo), x)
    return x.to(device=device, dtype=torch.from_numpy(np.zeros(0, spec.dtype)).dtype)


__all__ = ["DISCRETE_SCORES", "ExploringSpec", "ExportPlan", "Normalization",
           "ObservationSpec", "example_observations", "normalization", "observation_spec",
           "plan", "resolve"]
