"""Built-in offline learners: behaviour cloning, CQL (discrete and continuous), IQL, TD3+BC.

Each reuses the networks of its online relative (BC: a Q network's outputs as logits, or the
deterministic actor; CQL: Double DQN's Q network, or SAC's; TD3+BC: TD3's), so a checkpoint
fine-tunes online with the same network config.
"""

from __future__ import annotations

from torch import nn

from nacre.config.context import BuildContext
from nacre.config.learners import actor_and_critic, q_network
from nacre.config.networks import ActorTwinCriticConfig
from nacre.config.registry import Entry, collect
from nacre.errors import ConfigError
from nacre.learners.offline import (
    CQL,
    IQL,
    TD3BC,
    BCConfig,
    ContinuousBC,
    CQLConfig,
    DiscreteBC,
    DiscreteCQL,
    DiscreteCQLConfig,
    IQLConfig,
    TD3BCConfig,
)
from nacre.networks.continuous import DeterministicActor, SquashedGaussianActor
from nacre.networks.encoders import make_encoder
from nacre.networks.mlp import MLP
from nacre.spaces import BoxActionSpace

ENTRIES: list[Entry] = []
component = collect(ENTRIES, "learner")


@component("bc", BCConfig,
           "behaviour cloning: a categorical policy on network mlp (discrete actions) or the "
           "actor of network deterministic (continuous)")
def _bc(cfg: BCConfig, ctx: BuildContext) -> DiscreteBC | ContinuousBC:
    if isinstance(ctx.action_space, BoxActionSpace):
        actor, _ = actor_and_critic(ctx, DeterministicActor, "deterministic")
        return ContinuousBC(actor, cfg)
    ctx.discrete_actions("learner 'bc'")
    return DiscreteBC(q_network(ctx), cfg)


@component("discrete_cql", DiscreteCQLConfig,
           "CQL for discrete actions (Kumar et al. 2020): Double DQN + the conservative "
           "penalty; needs network mlp")
def _discrete_cql(cfg: DiscreteCQLConfig, ctx: BuildContext) -> DiscreteCQL:
    ctx.discrete_actions("learner 'discrete_cql'")
    return DiscreteCQL(q_network(ctx), cfg)


def _continuous(ctx: BuildContext, name: str, instead: str) -> None:
    if not isinstance(ctx.action_space, BoxActionSpace):
        raise ConfigError(f"learner {name!r} is for continuous (Box) actions; "
                          f"{ctx.config.env.id} has {ctx.action_space}: use {instead}")


@component("cql", CQLConfig,
           "CQL for continuous actions (Kumar et al. 2020): SAC + the conservative penalty; "
           "needs network squashed_gaussian")
def _cql(cfg: CQLConfig, ctx: BuildContext) -> CQL:
    _continuous(ctx, "cql", "learner discrete_cql")
    actor, net = actor_and_critic(ctx, SquashedGaussianActor, "squashed_gaussian")
    return CQL(actor, net.critic, cfg, seed=ctx.seed + 2)


@component("iql", IQLConfig,
           "IQL (Kostrikov et al. 2022): expectile value, AWR actor; needs network "
           "squashed_gaussian (the value network takes the critic's widths)")
def _iql(cfg: IQLConfig, ctx: BuildContext) -> IQL:
    _continuous(ctx, "iql", "learner discrete_cql or bc")
    actor, net = actor_and_critic(ctx, SquashedGaussianActor, "squashed_gaussian")
    widths = ctx.config.network.params  # squashed_gaussian's (checked above)
    assert isinstance(widths, ActorTwinCriticConfig)
    encoder = make_encoder(ctx.observation_space)
    value = nn.Sequential(encoder, MLP(encoder.out_dim, widths.critic_hidden, 1,
                                       widths.activation)).to(ctx.device)
    return IQL(actor, net.critic, value, cfg)


@component("td3_bc", TD3BCConfig,
           "TD3+BC (Fujimoto & Gu 2021); needs network deterministic")
def _td3_bc(cfg: TD3BCConfig, ctx: BuildContext) -> TD3BC:
    _continuous(ctx, "td3_bc", "learner discrete_cql or bc")
    actor, net = actor_and_critic(ctx, DeterministicActor, "deterministic")
    return TD3BC(actor, net.critic, cfg, seed=ctx.seed + 2)


__all__ = ["ENTRIES"]
