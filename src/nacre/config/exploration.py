"""Built-in exploration: greedy, ε-greedy, Boltzmann, warm-up, policy sampling, Gaussian noise,
and the contextual-bandit explorers (UCB, Thompson sampling, SquareCB, FastCB)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nacre.config.context import BuildContext, NoParams
from nacre.config.registry import Entry, collect
from nacre.errors import ConfigError
from nacre.exploration import Boltzmann, EpsilonGreedy, Greedy, LinearSchedule, Warmup
from nacre.exploration.bandit import UCB, FastCB, SquareCB, ThompsonSampling
from nacre.exploration.deep import EnsembleUCB, FollowMember
from nacre.exploration.policy import (
    FactoredSampling,
    GaussianNoise,
    PolicySampling,
    SquashedGaussianSampling,
)
from nacre.spaces import DiscreteActionSpace, MultiDiscreteActionSpace

ENTRIES: list[Entry] = []
component = collect(ENTRIES, "exploration")


@dataclass(frozen=True)
class EpsilonGreedyConfig:
    """ε decays linearly from ``start`` to ``end`` over ``decay_fraction`` of the run's budget
    (``train.schedule_steps``, or ``train.steps`` when that is 0), or over ``decay_steps`` when
    given."""

    start: float = 1.0
    end: float = 0.05
    decay_fraction: float = 0.1
    decay_steps: int | None = None


@dataclass(frozen=True)
class BoltzmannConfig:
    temperature: float = 1.0


@dataclass(frozen=True)
class WarmupConfig:
    """Uniform random actions for ``steps`` steps, then the ``inner`` exploration."""

    steps: int = 1000
    inner: dict[str, Any] = field(default_factory=lambda: {"name": "epsilon_greedy"})


@component("bootstrapped", NoParams,
           "greedy on one ensemble member per episode, drawn at random (Bootstrapped DQN)")
def _bootstrapped(cfg: NoParams, ctx: BuildContext) -> FollowMember:
    return FollowMember()


@dataclass(frozen=True)
class EnsembleUCBConfig:
    """``beta``: how many standard deviations of the members' values to add to their mean."""

    beta: float = 1.0


@component("ensemble_ucb", EnsembleUCBConfig,
           "the action of highest mean + beta std of an ensemble's values")
def _ensemble_ucb(cfg: EnsembleUCBConfig, ctx: BuildContext) -> EnsembleUCB:
    return EnsembleUCB(cfg.beta)


@component("greedy", NoParams, "always the best action (propensity 1)")
def _greedy(cfg: NoParams, ctx: BuildContext) -> Greedy:
    return Greedy()


@component("epsilon_greedy", EpsilonGreedyConfig, "ε-greedy, linear ε schedule")
def _epsilon(cfg: EpsilonGreedyConfig, ctx: BuildContext) -> EpsilonGreedy:
    for name, value in (("start", cfg.start), ("end", cfg.end),
                        ("decay_fraction", cfg.decay_fraction)):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"exploration.{name}: must be in [0, 1], got {value}")
    steps = cfg.decay_steps
    if steps is None:
        budget = ctx.config.train.schedule_steps or ctx.config.train.steps
        steps = int(cfg.decay_fraction * budget)
    return EpsilonGreedy(LinearSchedule(cfg.start, cfg.end, steps))


@component("boltzmann", BoltzmannConfig, "softmax over Q / temperature")
def _boltzmann(cfg: BoltzmannConfig, ctx: BuildContext) -> Boltzmann:
    if cfg.temperature <= 0:
        raise ConfigError(f"exploration.temperature: must be > 0, got {cfg.temperature}")
    return Boltzmann(cfg.temperature)


@component("warmup", WarmupConfig, "uniform actions first, then an inner explorer")
def _warmup(cfg: WarmupConfig, ctx: BuildContext) -> Warmup:
    if isinstance(ctx.action_space, MultiDiscreteActionSpace):
        raise ConfigError("exploration 'warmup' draws uniform Discrete or Box actions, not "
                          "MultiDiscrete ones: use exploration policy (a factored policy "
                          "starts near uniform)")
    inner = ctx.parse("exploration", cfg.inner, "exploration.inner")
    return Warmup(ctx.make("exploration", inner), cfg.steps,
                  continuous=not isinstance(ctx.action_space, DiscreteActionSpace))


@dataclass(frozen=True)
class GaussianConfig:
    """``std`` of the noise added to deterministic actions, in normalized action units."""

    std: float = 0.1


@component("gaussian", GaussianConfig,
           "Gaussian noise on deterministic actions (clipped to the box)")
def _gaussian(cfg: GaussianConfig, ctx: BuildContext) -> GaussianNoise:
    if cfg.std <= 0:
        raise ConfigError(f"exploration.std: must be > 0, got {cfg.std}")
    return GaussianNoise(cfg.std)


# ---------------------------------------------------------------- contextual bandits
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


@component("ucb", UCBConfig, "upper confidence bound μ + ασ (LinUCB)")
def _ucb(cfg: UCBConfig, ctx: BuildContext) -> UCB:
    return UCB(cfg.alpha)


@component("thompson", ThompsonConfig, "Thompson sampling (LinTS) with its propensities")
def _thompson(cfg: ThompsonConfig, ctx: BuildContext) -> ThompsonSampling:
    if cfg.nodes < 8:
        raise ConfigError(f"exploration.nodes: must be >= 8, got {cfg.nodes}")
    return ThompsonSampling(cfg.scale, cfg.nodes, cfg.joint_draws)


@component("squarecb", InverseGapConfig, "SquareCB inverse gap weighting")
def _squarecb(cfg: InverseGapConfig, ctx: BuildContext) -> SquareCB:
    return SquareCB(cfg.gamma_scale, cfg.gamma_exponent)


@component("fastcb", InverseGapConfig,
           "FastCB first-order inverse gap weighting (rewards in [0, 1])")
def _fastcb(cfg: InverseGapConfig, ctx: BuildContext) -> FastCB:
    return FastCB(cfg.gamma_scale, cfg.gamma_exponent)


@component("policy", NoParams,
           "sample the learner's stochastic policy (categorical / factored / Gaussian)")
def _policy(cfg: NoParams, ctx: BuildContext) -> PolicySampling | FactoredSampling:
    if isinstance(ctx.action_space, MultiDiscreteActionSpace):
        return FactoredSampling()
    return PolicySampling()


@component("squashed", NoParams, "sample a tanh-squashed Gaussian policy (SAC)")
def _squashed(cfg: NoParams, ctx: BuildContext) -> SquashedGaussianSampling:
    return SquashedGaussianSampling()
