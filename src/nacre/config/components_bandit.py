"""Registry entries for contextual bandits: linear / disjoint / neural / neural-linear learners,
UCB, Thompson, SquareCB and FastCB exploration, the online buffer and index codes of actions."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

import gymnasium as gym
from torch import Tensor

from nacre.actions import BinaryActionRepresentation, OneHotActionRepresentation
from nacre.config.components import BuildContext, NoParams
from nacre.config.registry import register
from nacre.config.run import Component
from nacre.data.online import OnlineBuffer
from nacre.errors import ConfigError
from nacre.exploration.bandit import UCB, FastCB, SquareCB, ThompsonSampling
from nacre.learners.bandits.linear import DisjointLinearBandit, LinearBandit, LinearBanditConfig
from nacre.learners.bandits.neural import NeuralBandit, NeuralBanditConfig, NeuralLinearBandit
from nacre.learners.bandits.per_arm import PerArm
from nacre.spaces import DiscreteActionSpace


def _context_dim(ctx: BuildContext) -> int:
    space = ctx.observation_space
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        raise ConfigError(f"learner {ctx.config.learner.name!r} needs flat Box contexts; "
                          f"{ctx.config.env.id} has {space}")
    return int(space.shape[0])


def _action_features(ctx: BuildContext) -> Tensor | None:
    """The static action features the configured action representation gives (or None)."""
    features: Tensor | None = ctx.make("action_repr").represent(
        ctx.discrete_actions(f"learner {ctx.config.learner.name!r}"), None)
    return features


# ---------------------------------------------------------------- learners
@register("learner", "linear_bandit", LinearBanditConfig,
          "ridge bandit on (context, action features), incremental (LinUCB / LinTS)")
def _linear(cfg: LinearBanditConfig, ctx: BuildContext) -> LinearBandit:
    features = _action_features(ctx)
    if features is None:
        raise ConfigError("learner 'linear_bandit' scores action features: set action_repr.name "
                          "to one_hot or binary, use an env whose actions have features, or use "
                          "learner disjoint_linear_bandit")
    return LinearBandit(_context_dim(ctx), features, cfg).to(ctx.device)


@register("learner", "disjoint_linear_bandit", LinearBanditConfig,
          "one incremental ridge model per arm (disjoint LinUCB / LinTS)")
def _disjoint(cfg: LinearBanditConfig, ctx: BuildContext) -> DisjointLinearBandit:
    space = ctx.discrete_actions("learner 'disjoint_linear_bandit'")
    return DisjointLinearBandit(_context_dim(ctx), space.n, cfg).to(ctx.device)


@register("learner", "neural_bandit", NeuralBanditConfig,
          "MLP reward model (MSE or cross-entropy): SquareCB / FastCB / ε-greedy")
def _neural(cfg: NeuralBanditConfig, ctx: BuildContext) -> NeuralBandit:
    space = ctx.discrete_actions("learner 'neural_bandit'")
    return _cpu_only(NeuralBandit(_context_dim(ctx), space.n, _action_features(ctx), cfg), ctx)


@register("learner", "neural_linear_bandit", NeuralBanditConfig,
          "MLP features + Bayesian linear head (μ, σ): neural LinUCB / LinTS")
def _neural_linear(cfg: NeuralBanditConfig, ctx: BuildContext) -> NeuralLinearBandit:
    space = ctx.discrete_actions("learner 'neural_linear_bandit'")
    learner = NeuralLinearBandit(_context_dim(ctx), space.n, _action_features(ctx), cfg)
    return _cpu_only(learner, ctx)


L = TypeVar("L", bound=NeuralBandit)


def _cpu_only(learner: L, ctx: BuildContext) -> L:
    if ctx.device.type != "cpu":
        raise ConfigError("the neural bandits run on CPU for now: set train.device: cpu")
    return learner


@dataclass(frozen=True)
class PerArmConfig:
    """``base``: the learner every arm gets, as a component (``{name: neural_bandit, ...}``),
    built for one action scored from the context alone."""

    base: dict[str, Any] = field(default_factory=lambda: {"name": "neural_bandit"})


@register("learner", "per_arm", PerArmConfig,
          "disjoint models of any kind: one single-action learner per arm")
def _per_arm(cfg: PerArmConfig, ctx: BuildContext) -> PerArm:
    base = Component.parse("learner", cfg.base, "learner.base")
    if base.name == "per_arm":
        raise ConfigError("learner.base: per_arm cannot nest another per_arm")
    if getattr(base.params, "posterior", "marginal") == "joint":
        raise ConfigError("learner.base: per_arm models are independent per arm; a joint "
                          "posterior across them does not exist: use posterior: marginal")
    space = ctx.discrete_actions("learner 'per_arm'")
    one = dataclasses.replace(ctx, action_space=DiscreteActionSpace(1))
    return PerArm(lambda arm: one.make("learner", base), space.n)


# ---------------------------------------------------------------- exploration
@dataclass(frozen=True)
class UCBConfig:
    """``argmax μ + alpha σ``."""

    alpha: float = 1.0


@dataclass(frozen=True)
class ThompsonConfig:
    """Draws ``N(μ, (scale σ)²)`` per arm (``nodes`` quadrature points for the propensities), or
    one joint draw per decision from learners with ``posterior: joint`` (``joint_draws`` fixed
    draws estimate its propensities)."""

    scale: float = 1.0
    nodes: int = 32
    joint_draws: int = 1024


@dataclass(frozen=True)
class InverseGapConfig:
    """``γ_t = gamma_scale · t^gamma_exponent`` (Vowpal Wabbit's defaults: 10 and 0.5)."""

    gamma_scale: float = 10.0
    gamma_exponent: float = 0.5


@register("exploration", "ucb", UCBConfig, "upper confidence bound μ + ασ (LinUCB)")
def _ucb(cfg: UCBConfig, ctx: BuildContext) -> UCB:
    return UCB(cfg.alpha)


@register("exploration", "thompson", ThompsonConfig,
          "Thompson sampling (LinTS) with its propensities")
def _thompson(cfg: ThompsonConfig, ctx: BuildContext) -> ThompsonSampling:
    if cfg.nodes < 8:
        raise ConfigError(f"exploration.nodes: must be >= 8, got {cfg.nodes}")
    return ThompsonSampling(cfg.scale, cfg.nodes, cfg.joint_draws)


@register("exploration", "squarecb", InverseGapConfig, "SquareCB inverse gap weighting")
def _squarecb(cfg: InverseGapConfig, ctx: BuildContext) -> SquareCB:
    return SquareCB(cfg.gamma_scale, cfg.gamma_exponent)


@register("exploration", "fastcb", InverseGapConfig,
          "FastCB first-order inverse gap weighting (rewards in [0, 1])")
def _fastcb(cfg: InverseGapConfig, ctx: BuildContext) -> FastCB:
    return FastCB(cfg.gamma_scale, cfg.gamma_exponent)


# ---------------------------------------------------------------- buffer, action codes
@dataclass(frozen=True)
class OnlineConfig:
    """At most ``capacity`` transitions wait for the next learning round."""

    capacity: int = 65_536


@register("buffer", "online", OnlineConfig, "each transition learned once, in order (bandits)")
def _online(cfg: OnlineConfig, ctx: BuildContext) -> OnlineBuffer:
    if cfg.capacity < ctx.num_envs:
        raise ConfigError(f"buffer.capacity: must be >= env.num_envs ({ctx.num_envs})")
    return OnlineBuffer(cfg.capacity)


register("action_repr", "one_hot", NoParams, "actions as one-hot vectors e_a")(
    lambda cfg, ctx: OneHotActionRepresentation())
register("action_repr", "binary", NoParams, "actions as the bits of their index")(
    lambda cfg, ctx: BinaryActionRepresentation())
