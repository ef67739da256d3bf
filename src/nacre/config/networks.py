"""Built-in networks: Q networks, actor–critics, and actors with twin critics."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from nacre.config.context import BuildContext
from nacre.config.registry import Entry, collect
from nacre.errors import ConfigError
from nacre.networks.actor_critic import ActorCritic
from nacre.networks.continuous import (
    ActorAndCritic,
    CategoricalActorTwinQ,
    DeterministicActor,
    SquashedGaussianActor,
    TwinQCritic,
)
from nacre.networks.encoders import make_encoder
from nacre.networks.q import DuelingQHead, QNetwork, StateActionQHead, VanillaQHead
from nacre.networks.sequence import NextWindowPredictor
from nacre.spaces import BoxActionSpace, MultiDiscreteActionSpace, SequenceBox

ENTRIES: list[Entry] = []
component = collect(ENTRIES, "network")


Activation = Literal["relu", "tanh", "elu", "gelu", "silu"]


@dataclass(frozen=True)
class QNetworkConfig:
    """``hidden``: widths of the head MLP; ``head``: vanilla | dueling | state_action;
    ``encoder``: auto | flatten | cnn (Nature CNN for [C, H, W] uint8 frames)."""

    hidden: tuple[int, ...] = (64, 64)
    activation: Activation = "relu"
    head: Literal["vanilla", "dueling", "state_action"] = "vanilla"
    encoder: Literal["auto", "flatten", "cnn"] = "auto"


@component("mlp", QNetworkConfig, "encoder (flatten / one-hot / Nature CNN) + Q head")
def _q_network(cfg: QNetworkConfig, ctx: BuildContext) -> QNetwork:
    space = ctx.discrete_actions("a Q network")
    encoder = make_encoder(ctx.observation_space, cfg.encoder)
    in_dim = encoder.out_dim
    head: torch.nn.Module
    if cfg.head == "vanilla":
        head = VanillaQHead(in_dim, space.n, cfg.hidden, cfg.activation)
    elif cfg.head == "dueling":
        head = DuelingQHead(in_dim, space.n, cfg.hidden, cfg.activation)
    else:
        if space.action_dim is None:
            raise ConfigError("network.head: 'state_action' needs action features in the space")
        head = StateActionQHead(in_dim, space.action_dim, cfg.hidden, cfg.activation)
    return QNetwork(encoder, head, _predictor(ctx, in_dim, space.n)).to(ctx.device)


def _predictor(ctx: BuildContext, in_dim: int, n_actions: int) -> NextWindowPredictor | None:
    """The auxiliary head a sequence summarizer's ``predict`` asks for (None without it)."""
    space = ctx.observation_space
    if not isinstance(space, SequenceBox) or space.reader is None or not space.reader.predict:
        return None
    return NextWindowPredictor(in_dim, n_actions, space.reader.predict, space.observation_width,
                               space.reader.predict_weight)


@dataclass(frozen=True)
class ActorCriticConfig:
    """Separate actor and critic MLPs over one encoder.

    ``hidden``: actor widths (and the critic's unless ``critic_hidden``); ``log_std_init``: the
    Gaussian actor's initial log standard deviation, in normalized action units; ``ortho_init``:
    orthogonal initialisation (SB3's default; RL-Zoo turns it off for MuJoCo)."""

    hidden: tuple[int, ...] = (64, 64)
    critic_hidden: tuple[int, ...] | None = None
    activation: Activation = "tanh"
    log_std_init: float = 0.0
    encoder: Literal["auto", "flatten", "cnn"] = "auto"
    ortho_init: bool = True


@component("actor_critic", ActorCriticConfig,
           "separate actor (categorical / Gaussian) and critic MLPs")
def _actor_critic(cfg: ActorCriticConfig, ctx: BuildContext) -> ActorCritic:
    space = ctx.action_space
    factors = None
    if isinstance(space, BoxActionSpace):
        action_dim, continuous = _box_dim(ctx, "actor_critic"), True
    elif isinstance(space, MultiDiscreteActionSpace):  # one categorical head per choice
        factors = space.nvec
        action_dim, continuous = sum(factors), False
    else:
        action_dim, continuous = space.n, False
    encoder = make_encoder(ctx.observation_space, cfg.encoder)
    return ActorCritic(encoder, action_dim, cfg.hidden, cfg.activation, continuous,
                       cfg.log_std_init, cfg.critic_hidden, cfg.ortho_init,
                       factors).to(ctx.device)


@dataclass(frozen=True)
class ActorTwinCriticConfig:
    """An actor and two critics, each an MLP over the encoded observation (SAC, discrete SAC)."""

    actor_hidden: tuple[int, ...] = (256, 256)
    critic_hidden: tuple[int, ...] = (256, 256)
    activation: Activation = "relu"


@dataclass(frozen=True)
class DeterministicConfig(ActorTwinCriticConfig):
    """A deterministic tanh actor and a twin critic ``Q(s, a)`` (``n_critics`` 1 for DDPG-style
    learners)."""

    actor_hidden: tuple[int, ...] = (400, 300)
    critic_hidden: tuple[int, ...] = (400, 300)
    n_critics: int = 2


def _box_dim(ctx: BuildContext, who: str) -> int:
    space = ctx.action_space
    if not isinstance(space, BoxActionSpace) or len(space.shape) != 1:
        raise ConfigError(f"network {who!r} needs 1-D Box (continuous) actions; "
                          f"{ctx.config.env.id} has {space}")
    return math.prod(space.shape)


def _with_twin_critic(actor_type: type[DeterministicActor] | type[SquashedGaussianActor],
                      cfg: ActorTwinCriticConfig, ctx: BuildContext, who: str,
                      n_critics: int = 2) -> ActorAndCritic:
    """A continuous actor and a twin critic ``Q(s, a)``, each over its own encoder."""
    dim = _box_dim(ctx, who)
    actor = actor_type(make_encoder(ctx.observation_space), dim, cfg.actor_hidden,
                       cfg.activation)
    critic = TwinQCritic(make_encoder(ctx.observation_space), dim, cfg.critic_hidden,
                         cfg.activation, n_critics)
    return ActorAndCritic(actor, critic).to(ctx.device)


@component("deterministic", DeterministicConfig,
           "deterministic tanh actor + twin Q critic (continuous actions)")
def _deterministic(cfg: DeterministicConfig, ctx: BuildContext) -> ActorAndCritic:
    return _with_twin_critic(DeterministicActor, cfg, ctx, "deterministic", cfg.n_critics)


@component("squashed_gaussian", ActorTwinCriticConfig,
           "tanh-squashed Gaussian actor + twin Q critic (SAC)")
def _squashed(cfg: ActorTwinCriticConfig, ctx: BuildContext) -> ActorAndCritic:
    return _with_twin_critic(SquashedGaussianActor, cfg, ctx, "squashed_gaussian")


@component("categorical_twin_q", ActorTwinCriticConfig,
           "categorical actor + two per-action Q critics (discrete SAC)")
def _categorical_twin_q(cfg: ActorTwinCriticConfig, ctx: BuildContext
                        ) -> CategoricalActorTwinQ:
    space = ctx.action_space
    factors = space.nvec if isinstance(space, MultiDiscreteActionSpace) else None
    n = sum(factors) if factors else ctx.discrete_actions("network 'categorical_twin_q'").n
    return CategoricalActorTwinQ(make_encoder(ctx.observation_space), n, cfg.actor_hidden,
                                 cfg.critic_hidden, cfg.activation, factors).to(ctx.device)
