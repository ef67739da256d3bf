"""Registry entries for policy-gradient learners: actor-critic networks, PPO, policy sampling
and the on-policy rollout buffer."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, cast

from nacre.config.components import BuildContext, NoParams, network_of
from nacre.config.registry import register
from nacre.data.rollout import RolloutBuffer
from nacre.errors import ConfigError
from nacre.exploration.policy import GaussianNoise, PolicySampling, SquashedGaussianSampling
from nacre.learners.policy.ddpg import DDPG, DDPGConfig
from nacre.learners.policy.ppo import PPO, PPOConfig
from nacre.learners.policy.reinforce import REINFORCE, ReinforceConfig
from nacre.learners.policy.sac import SAC, SACConfig
from nacre.learners.policy.sac_discrete import DiscreteSAC, DiscreteSACConfig
from nacre.learners.policy.td3 import TD3, TD3Config
from nacre.networks.actor_critic import ActorCritic
from nacre.networks.continuous import (
    ActorAndCritic,
    CategoricalActorTwinQ,
    DeterministicActor,
    SquashedGaussianActor,
    TwinQCritic,
)
from nacre.networks.encoders import make_encoder
from nacre.spaces import BoxActionSpace


@dataclass(frozen=True)
class ActorCriticConfig:
    """Separate actor and critic MLPs over one encoder.

    ``hidden``: actor widths (and the critic's unless ``critic_hidden``); ``log_std_init``: the
    Gaussian actor's initial log standard deviation, in normalized action units; ``ortho_init``:
    orthogonal initialisation (SB3's default; RL-Zoo turns it off for MuJoCo)."""

    hidden: tuple[int, ...] = (64, 64)
    critic_hidden: tuple[int, ...] | None = None
    activation: Literal["relu", "tanh", "elu", "gelu", "silu"] = "tanh"
    log_std_init: float = 0.0
    encoder: Literal["auto", "flatten", "cnn"] = "auto"
    ortho_init: bool = True


@register("network", "actor_critic", ActorCriticConfig,
          "separate actor (categorical / Gaussian) and critic MLPs")
def _actor_critic(cfg: ActorCriticConfig, ctx: BuildContext) -> ActorCritic:
    space = ctx.action_space
    if isinstance(space, BoxActionSpace):
        action_dim, continuous = _box_dim(ctx, "actor_critic"), True
    else:
        action_dim, continuous = space.n, False
    encoder = make_encoder(ctx.observation_space, cfg.encoder)
    return ActorCritic(encoder, action_dim, cfg.hidden, cfg.activation, continuous,
                       cfg.log_std_init, cfg.critic_hidden, cfg.ortho_init).to(ctx.device)


@register("learner", "ppo", PPOConfig, "PPO (Schulman et al. 2017), discrete and continuous; "
          "needs network actor_critic, buffer rollout, exploration policy")
def _ppo(cfg: PPOConfig, ctx: BuildContext) -> PPO:
    return PPO(_actor_critic_of(ctx), cfg, seed=ctx.seed + 2)


def _actor_critic_of(ctx: BuildContext) -> ActorCritic:
    return network_of(ctx, ActorCritic, "network.name: actor_critic")


@register("learner", "reinforce", ReinforceConfig, "REINFORCE (Williams 1992), reward-to-go "
          "with an optional learned baseline; needs network actor_critic, buffer rollout")
def _reinforce(cfg: ReinforceConfig, ctx: BuildContext) -> REINFORCE:
    return REINFORCE(_actor_critic_of(ctx), cfg)


register("exploration", "policy", NoParams,
         "sample the learner's stochastic policy (categorical / Gaussian)")(
    lambda cfg, ctx: PolicySampling())


@register("buffer", "rollout", NoParams,
          "one on-policy rollout of train.train_freq / num_envs steps per env")
def _rollout(cfg: NoParams, ctx: BuildContext) -> RolloutBuffer:
    train = ctx.config.train
    if train.train_freq % ctx.num_envs:
        raise ConfigError(f"train.train_freq ({train.train_freq}) must be a multiple of "
                          f"env.num_envs ({ctx.num_envs}) with buffer 'rollout': it is the "
                          "rollout length in env steps (n_steps × num_envs)")
    return RolloutBuffer(train.train_freq // ctx.num_envs)


@dataclass(frozen=True)
class ActorTwinCriticConfig:
    """An actor and two critics, each an MLP over the encoded observation (SAC, discrete SAC)."""

    actor_hidden: tuple[int, ...] = (256, 256)
    critic_hidden: tuple[int, ...] = (256, 256)
    activation: Literal["relu", "tanh", "elu", "gelu", "silu"] = "relu"


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


@register("network", "deterministic", DeterministicConfig,
          "deterministic tanh actor + twin Q critic (continuous actions)")
def _deterministic(cfg: DeterministicConfig, ctx: BuildContext) -> ActorAndCritic:
    dim = _box_dim(ctx, "deterministic")
    actor = DeterministicActor(make_encoder(ctx.observation_space), dim, cfg.actor_hidden,
                               cfg.activation)
    critic = TwinQCritic(make_encoder(ctx.observation_space), dim, cfg.critic_hidden,
                         cfg.activation, cfg.n_critics)
    return ActorAndCritic(actor, critic).to(ctx.device)


@register("network", "squashed_gaussian", ActorTwinCriticConfig,
          "tanh-squashed Gaussian actor + twin Q critic (SAC)")
def _squashed(cfg: ActorTwinCriticConfig, ctx: BuildContext) -> ActorAndCritic:
    dim = _box_dim(ctx, "squashed_gaussian")
    actor = SquashedGaussianActor(make_encoder(ctx.observation_space), dim, cfg.actor_hidden,
                                  cfg.activation)
    critic = TwinQCritic(make_encoder(ctx.observation_space), dim, cfg.critic_hidden,
                         cfg.activation)
    return ActorAndCritic(actor, critic).to(ctx.device)


@register("learner", "td3", TD3Config, "TD3 (Fujimoto et al. 2018); needs network "
          "deterministic, buffer replay, exploration gaussian")
def _td3(cfg: TD3Config, ctx: BuildContext) -> TD3:
    net = network_of(ctx, ActorAndCritic, "network.name: deterministic", DeterministicActor)
    return TD3(cast(DeterministicActor, net.actor), net.critic, cfg, seed=ctx.seed + 2)


@register("learner", "ddpg", DDPGConfig, "DDPG (Lillicrap et al. 2016); needs network "
          "deterministic with n_critics: 1, buffer replay, exploration gaussian")
def _ddpg(cfg: DDPGConfig, ctx: BuildContext) -> DDPG:
    net = network_of(ctx, ActorAndCritic, "network.name: deterministic", DeterministicActor)
    if len(net.critic.critics) != 1:
        raise ConfigError("learner 'ddpg' uses one critic: set network.n_critics: 1")
    return DDPG(cast(DeterministicActor, net.actor), net.critic, cfg, seed=ctx.seed + 2)


@register("learner", "sac", SACConfig, "SAC with automatic temperature (Haarnoja et al. 2018); "
          "needs network squashed_gaussian, buffer replay, exploration squashed")
def _sac(cfg: SACConfig, ctx: BuildContext) -> SAC:
    net = network_of(ctx, ActorAndCritic, "network.name: squashed_gaussian",
                     SquashedGaussianActor)
    return SAC(cast(SquashedGaussianActor, net.actor), net.critic, cfg, seed=ctx.seed + 2)


register("exploration", "squashed", NoParams,
         "sample a tanh-squashed Gaussian policy (SAC)")(
    lambda cfg, ctx: SquashedGaussianSampling())


@dataclass(frozen=True)
class GaussianConfig:
    """``std`` of the noise added to deterministic actions, in normalized action units."""

    std: float = 0.1


@register("exploration", "gaussian", GaussianConfig,
          "Gaussian noise on deterministic actions (clipped to the box)")
def _gaussian(cfg: GaussianConfig, ctx: BuildContext) -> GaussianNoise:
    if cfg.std <= 0:
        raise ConfigError(f"exploration.std: must be > 0, got {cfg.std}")
    return GaussianNoise(cfg.std)


@register("network", "categorical_twin_q", ActorTwinCriticConfig,
          "categorical actor + two per-action Q critics (discrete SAC)")
def _categorical_twin_q(cfg: ActorTwinCriticConfig, ctx: BuildContext
                        ) -> CategoricalActorTwinQ:
    n = ctx.discrete_actions("network 'categorical_twin_q'").n
    return CategoricalActorTwinQ(make_encoder(ctx.observation_space), n, cfg.actor_hidden,
                                 cfg.critic_hidden, cfg.activation).to(ctx.device)


@register("learner", "sac_discrete", DiscreteSACConfig, "SAC for discrete actions "
          "(Christodoulou 2019); needs network categorical_twin_q, buffer replay, exploration "
          "policy")
def _sac_discrete(cfg: DiscreteSACConfig, ctx: BuildContext) -> DiscreteSAC:
    return DiscreteSAC(network_of(ctx, CategoricalActorTwinQ, "network.name: categorical_twin_q"),
                       cfg)
