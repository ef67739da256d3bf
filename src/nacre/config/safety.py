"""Built-in safety modules: none, action filters (a function's or a learned cost threshold), the
risk measures a distributional learner acts and bootstraps with, and the cost budget of
reward-constrained learners."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from torch import Tensor

from nacre.config.context import BuildContext, NoParams
from nacre.config.registry import Entry, collect
from nacre.errors import ConfigError
from nacre.networks.encoders import make_encoder
from nacre.safety import NoSafety
from nacre.safety.constraint import RewardConstraint
from nacre.safety.cost_filter import CostFilter
from nacre.safety.filter import FunctionFilter
from nacre.safety.risk import CVaR, MeanVariance, RiskNeutral

ENTRIES: list[Entry] = []
component = collect(ENTRIES, "safety")


@component("none", NoParams, "no restriction (default)")
def _none(cfg: NoParams, ctx: BuildContext) -> NoSafety:
    return NoSafety()


@component("risk_neutral", NoParams,
           "act on the mean of the return distribution (distributional learners)")
def _risk_neutral(cfg: NoParams, ctx: BuildContext) -> RiskNeutral:
    return RiskNeutral()


@dataclass(frozen=True)
class MeanVarianceConfig:
    """``beta`` ≥ 0: the price of one unit of return variance."""

    beta: float = 1.0


@component("mean_variance", MeanVarianceConfig,
           "act on E[Z] - beta Var[Z] of the return distribution (distributional learners)")
def _mean_variance(cfg: MeanVarianceConfig, ctx: BuildContext) -> MeanVariance:
    return MeanVariance(cfg.beta)


@dataclass(frozen=True)
class CVaRConfig:
    """``alpha`` ∈ (0, 1]: the fraction of worst returns averaged (1: the mean)."""

    alpha: float = 0.1


@component("cvar", CVaRConfig,
           "act on the mean of the worst alpha fraction of returns (distributional learners)")
def _cvar(cfg: CVaRConfig, ctx: BuildContext) -> CVaR:
    return CVaR(cfg.alpha)


@dataclass(frozen=True)
class ActionFilterConfig:
    """``allowed``: ``"module:function"``, a function of a batch of states ``[B, ...]`` (what
    the learner sees) to the ``[B, K]`` bool mask of the actions allowed in each."""

    allowed: str = ""


def import_function(spec: str, field: str) -> Callable[..., object]:
    """The function ``"module:name"`` names (a ConfigError naming ``field`` otherwise)."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ConfigError(f"{field}: expected 'module:function', got {spec!r}")
    try:
        found = vars(importlib.import_module(module)).get(name)
    except ImportError as exc:
        raise ConfigError(f"{field}: cannot import module {module!r} ({exc}); is its folder "
                          "on PYTHONPATH?") from exc
    if not callable(found):
        raise ConfigError(f"{field}: module {module!r} has no function {name!r}")
    function: Callable[..., object] = found
    return function


@component("action_filter", ActionFilterConfig,
           "only the actions a function allows per state, when acting and in TD targets")
def _action_filter(cfg: ActionFilterConfig, ctx: BuildContext) -> FunctionFilter:
    allowed: Callable[[Tensor], Tensor] = import_function(  # type: ignore[assignment]
        cfg.allowed, "safety.allowed")
    return FunctionFilter(allowed)


@dataclass(frozen=True)
class RewardConstrainedConfig:
    """``threshold`` (α ≥ 0): the budget on the discounted cost rate ``(1 − γ) E[Σ γᵗ cᵗ]``,
    in units of one step's cost; ``lagrange_lr``: the step size of the multiplier λ;
    ``initial_lagrange``: λ at the start; ``critic_tau``: the Polyak rate of the cost critic's
    target (None: the learner's ``tau``); ``rate_from``: what moves λ, ``episodes`` (the cost rate
    measured on the last training episode, the learner's estimate until one is measured) or
    ``critic`` (the learner's estimate only)."""

    threshold: float = 0.1
    lagrange_lr: float = 0.001
    initial_lagrange: float = 0.0
    critic_tau: float | None = None
    rate_from: Literal["episodes", "critic"] = "episodes"


@component("reward_constrained", RewardConstrainedConfig,
           "keep the discounted cost rate under a threshold (RCPO; td3, ddpg, sac, ppo)")
def _reward_constrained(cfg: RewardConstrainedConfig, ctx: BuildContext) -> RewardConstraint:
    return RewardConstraint(cfg.threshold, cfg.lagrange_lr, cfg.initial_lagrange, cfg.critic_tau,
                            cfg.rate_from, ctx.num_envs)


@dataclass(frozen=True)
class CostFilterConfig:
    """``threshold``: the largest expected cost ``Q_c(s, a)`` an allowed action may have;
    ``gamma`` ∈ [0, 1): the cost critic's discount (0: the immediate cost alone); ``hidden``,
    ``lr``, ``tau``: its network, learning rate and target-network Polyak rate."""

    threshold: float = 0.5
    gamma: float = 0.0
    hidden: tuple[int, ...] = (64,)
    lr: float = 0.01  # a catastrophe seen once should be forbidden soon after
    tau: float = 0.01


@component("cost_filter", CostFilterConfig,
           "only the actions whose learned expected cost is under a threshold (value learners)")
def _cost_filter(cfg: CostFilterConfig, ctx: BuildContext) -> CostFilter:
    n = ctx.discrete_actions("safety 'cost_filter'").n
    return CostFilter(make_encoder(ctx.observation_space), n, cfg.threshold, cfg.hidden, cfg.lr,
                      cfg.gamma, cfg.tau, ctx.device)
