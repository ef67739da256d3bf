"""Built-in networks: Q networks, actor–critics, and actors with twin critics."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

import torch

from nacre.actions import EmbeddingActionRepresentation
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
from nacre.networks.ensemble import EnsembleQHead
from nacre.networks.q import (
    DuelingQHead,
    ImplicitQuantileHead,
    ImplicitQuantileNetwork,
    QNetwork,
    QuantileQHead,
    StateActionQHead,
    VanillaQHead,
)
from nacre.networks.sequence import NextWindowPredictor
from nacre.networks.towers import TwoTowerHead
from nacre.spaces import (
    BoxActionSpace,
    MultiDiscreteActionSpace,
    SequenceBox,
)

ENTRIES: list[Entry] = []
component = collect(ENTRIES, "network")


Activation = Literal["relu", "tanh", "elu", "gelu", "silu"]


@dataclass(frozen=True)
class QNetworkConfig:
    """``hidden``: widths of the head MLP (of each tower for ``two_tower``); ``head``: vanilla
    | dueling | state_action (an MLP over ``[φ(s) ⊕ x_a]``) | two_tower (``f(s) · g(x_a)``,
    :mod:`nacre.networks.towers`); ``embed_dim``: the towers' output width; ``encoder``: auto |
    flatten | cnn (Nature CNN for [C, H, W] uint8 frames)."""

    hidden: tuple[int, ...] = (64, 64)
    activation: Activation = "relu"
    head: Literal["vanilla", "dueling", "state_action", "two_tower"] = "vanilla"
    embed_dim: int = 32
    encoder: Literal["auto", "flatten", "cnn"] = "auto"


@component("mlp", QNetworkConfig, "encoder (flatten / one-hot / Nature CNN) + Q head")
def _q_network(cfg: QNetworkConfig, ctx: BuildContext) -> QNetwork:
    space = ctx.discrete_actions("a Q network")
    if cfg.head in ("vanilla", "dueling"):
        ctx.slot_actions(f"network.head: {cfg.head!r}", _SCORING_NETWORKS)
    encoder = make_encoder(ctx.observation_space, cfg.encoder)
    in_dim = encoder.out_dim
    head: torch.nn.Module
    if cfg.head == "vanilla":
        head = VanillaQHead(in_dim, space.n, cfg.hidden, cfg.activation)
    elif cfg.head == "dueling":
        head = DuelingQHead(in_dim, space.n, cfg.hidden, cfg.activation)
    elif cfg.head == "two_tower":
        head = _two_tower(ctx, in_dim, cfg.hidden, cfg.embed_dim, cfg.activation)
    else:
        if space.action_dim is None:
            raise ConfigError("network.head: 'state_action' needs action features in the space")
        head = StateActionQHead(in_dim, space.action_dim, cfg.hidden, cfg.activation)
    return QNetwork(encoder, head, _predictor(ctx, in_dim, space.n)).to(ctx.device)


@dataclass(frozen=True)
class QuantileNetworkConfig:
    """``n_quantiles`` quantiles of the return per action; ``hidden``: widths of the head MLP;
    ``dueling``: a value stream plus advantages per quantile; ``encoder`` as for ``mlp``."""

    n_quantiles: int = 50
    hidden: tuple[int, ...] = (64, 64)
    activation: Activation = "relu"
    dueling: bool = False
    encoder: Literal["auto", "flatten", "cnn"] = "auto"


@component("quantile_mlp", QuantileNetworkConfig,
           "encoder + quantile head: N return quantiles per action (QR-DQN)")
def _quantile_network(cfg: QuantileNetworkConfig, ctx: BuildContext) -> QNetwork:
    space = ctx.slot_actions("network 'quantile_mlp'", _SCORING_NETWORKS)
    encoder = make_encoder(ctx.observation_space, cfg.encoder)
    head = QuantileQHead(encoder.out_dim, space.n, cfg.n_quantiles, cfg.hidden,
                         cfg.activation, cfg.dueling)
    return QNetwork(encoder, head).to(ctx.device)


@dataclass(frozen=True)
class EnsembleNetworkConfig:
    """``members`` Q-value heads (``hidden`` widths each) on a torso they share (``shared``
    widths; empty: every member is a whole MLP), computed in one batched pass;
    ``prior_scale`` > 0 adds a fixed random prior function per member (Osband et al. 2018):
    ``prior`` linear (of the encoded observation) or an mlp shaped like the members."""

    members: int = 10
    shared: tuple[int, ...] = (64,)
    hidden: tuple[int, ...] = (32,)
    activation: Activation = "relu"
    prior_scale: float = 0.0
    prior: Literal["linear", "mlp"] = "linear"
    encoder: Literal["auto", "flatten", "cnn"] = "auto"


@component("ensemble_mlp", EnsembleNetworkConfig,
           "encoder + shared torso + M batched Q heads, optional random priors (Bootstrapped "
           "DQN)")
def _ensemble_network(cfg: EnsembleNetworkConfig, ctx: BuildContext) -> QNetwork:
    space = ctx.slot_actions("network 'ensemble_mlp'", _SCORING_NETWORKS)
    encoder = make_encoder(ctx.observation_space, cfg.encoder)
    head = EnsembleQHead(encoder.out_dim, space.n, cfg.members, cfg.shared, cfg.hidden,
                         cfg.activation, cfg.prior_scale, cfg.prior)
    return QNetwork(encoder, head).to(ctx.device)


@dataclass(frozen=True)
class ImplicitQuantileConfig:
    """The quantile function of the return at any level τ (IQN): ``n_cos`` cosine features
    embed τ; ``hidden``: widths of the MLP that reads the state features times the embedding."""

    hidden: tuple[int, ...] = (64, 64)
    activation: Activation = "relu"
    n_cos: int = 64
    encoder: Literal["auto", "flatten", "cnn"] = "auto"


@component("implicit_quantile_mlp", ImplicitQuantileConfig,
           "encoder + implicit quantile head: return quantiles at any levels (IQN)")
def _implicit_quantile_network(cfg: ImplicitQuantileConfig, ctx: BuildContext
                               ) -> ImplicitQuantileNetwork:
    space = ctx.slot_actions("network 'implicit_quantile_mlp'", _SCORING_NETWORKS)
    encoder = make_encoder(ctx.observation_space, cfg.encoder)
    head = ImplicitQuantileHead(encoder.out_dim, space.n, cfg.hidden, cfg.activation, cfg.n_cos)
    return ImplicitQuantileNetwork(encoder, head).to(ctx.device)


# what scores catalogue candidates, for the networks with one output per slot
_SCORING_NETWORKS = "network mlp with head two_tower or state_action (or actor: two_tower)"


def _two_tower(ctx: BuildContext, in_dim: int, hidden: tuple[int, ...], embed_dim: int,
               activation: str) -> TwoTowerHead:
    """A two-tower head reading what the run's action representation gives: ids for a learned
    embedding, else features (the representation's static code, or the space's features or
    catalogue rows)."""
    if embed_dim < 1:
        raise ConfigError(f"network.embed_dim: must be >= 1, got {embed_dim}")
    space = ctx.discrete_actions("a two-tower network")
    action_repr = ctx.make("action_repr")
    if isinstance(action_repr, EmbeddingActionRepresentation):
        return TwoTowerHead(in_dim, None, hidden, embed_dim, activation,
                            id_rows=action_repr.rows)
    code = action_repr.represent(space, None)
    width = space.action_dim if code is None else int(code.shape[-1])
    if width is None:
        raise ConfigError("a two-tower network scores action features or ids: use an env whose "
                          "actions have features (or a catalogue), or set action_repr to "
                          "one_hot, binary or embedding")
    return TwoTowerHead(in_dim, width, hidden, embed_dim, activation)


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
    orthogonal initialisation (SB3's default; RL-Zoo turns it off for MuJoCo); ``actor``: mlp
    (one logit per action) or two_tower (a logit per step candidate, ``f(s) · g(x_a)`` with
    ``embed_dim``-wide towers of ``hidden`` widths: dynamic action sets, Pearl's
    dynamic-action actor)."""

    hidden: tuple[int, ...] = (64, 64)
    critic_hidden: tuple[int, ...] | None = None
    activation: Activation = "tanh"
    log_std_init: float = 0.0
    encoder: Literal["auto", "flatten", "cnn"] = "auto"
    ortho_init: bool = True
    actor: Literal["mlp", "two_tower"] = "mlp"
    embed_dim: int = 32


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
        if cfg.actor == "mlp":
            ctx.slot_actions("network.actor: 'mlp'", _SCORING_NETWORKS)
        action_dim, continuous = space.n, False
    encoder = make_encoder(ctx.observation_space, cfg.encoder)
    candidate_actor = None
    if cfg.actor == "two_tower":
        if continuous or factors is not None:
            raise ConfigError("network.actor: 'two_tower' scores candidates of a Discrete "
                              "action space")
        candidate_actor = _two_tower(ctx, encoder.out_dim, cfg.hidden, cfg.embed_dim,
                                     cfg.activation)
    return ActorCritic(encoder, action_dim, cfg.hidden, cfg.activation, continuous,
                       cfg.log_std_init, cfg.critic_hidden, cfg.ortho_init,
                       factors, candidate_actor).to(ctx.device)


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


def _with_twin_critic(make_actor: Callable[..., DeterministicActor | SquashedGaussianActor],
                      cfg: ActorTwinCriticConfig, ctx: BuildContext, who: str,
                      n_critics: int = 2) -> ActorAndCritic:
    """A continuous actor and a twin critic ``Q(s, a)``, each over its own encoder."""
    dim = _box_dim(ctx, who)
    actor = make_actor(make_encoder(ctx.observation_space), dim, cfg.actor_hidden,
                       cfg.activation)
    critic = TwinQCritic(make_encoder(ctx.observation_space), dim, cfg.critic_hidden,
                         cfg.activation, n_critics)
    return ActorAndCritic(actor, critic).to(ctx.device)


@component("deterministic", DeterministicConfig,
           "deterministic tanh actor + twin Q critic (continuous actions)")
def _deterministic(cfg: DeterministicConfig, ctx: BuildContext) -> ActorAndCritic:
    return _with_twin_critic(DeterministicActor, cfg, ctx, "deterministic", cfg.n_critics)


# learners whose papers learn one log σ for all states (the rest: a log-σ head, as SAC)
SHARED_LOG_STD_LEARNERS = ("iql",)


@dataclass(frozen=True)
class SquashedGaussianConfig(ActorTwinCriticConfig):
    """A tanh-squashed Gaussian actor and a twin critic ``Q(s, a)``.

    ``state_dependent_std``: a log-σ head (True) or one learned log σ per action dimension for
    every state (False); None takes the learner's convention — shared for IQL (Kostrikov et al.
    2022 and d3rlpy), a head for SAC and CQL (Haarnoja et al. 2018)."""

    state_dependent_std: bool | None = None


@component("squashed_gaussian", SquashedGaussianConfig,
           "tanh-squashed Gaussian actor + twin Q critic (SAC)")
def _squashed(cfg: SquashedGaussianConfig, ctx: BuildContext) -> ActorAndCritic:
    dependent = (ctx.config.learner.name not in SHARED_LOG_STD_LEARNERS
                 if cfg.state_dependent_std is None else cfg.state_dependent_std)
    return _with_twin_critic(partial(SquashedGaussianActor, state_dependent_std=dependent),
                             cfg, ctx, "squashed_gaussian")


@component("categorical_twin_q", ActorTwinCriticConfig,
           "categorical actor + two per-action Q critics (discrete SAC)")
def _categorical_twin_q(cfg: ActorTwinCriticConfig, ctx: BuildContext
                        ) -> CategoricalActorTwinQ:
    space = ctx.action_space
    factors = space.nvec if isinstance(space, MultiDiscreteActionSpace) else None
    n = sum(factors) if factors else ctx.slot_actions("network 'categorical_twin_q'",
                                                      _SCORING_NETWORKS).n
    return CategoricalActorTwinQ(make_encoder(ctx.observation_space), n, cfg.actor_hidden,
                                 cfg.critic_hidden, cfg.activation, factors).to(ctx.device)
