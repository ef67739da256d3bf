"""Built-in learners: the DQN family and tabular Q-learning, policy-gradient and actor-critic
learners, and contextual-bandit learners."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

import gymnasium as gym
from torch import Tensor, nn

from nacre.config.context import BuildContext
from nacre.config.registry import Entry, collect
from nacre.errors import ConfigError
from nacre.learners.bandits.linear import DisjointLinearBandit, LinearBandit, LinearBanditConfig
from nacre.learners.bandits.neural import NeuralBandit, NeuralBanditConfig, NeuralLinearBandit
from nacre.learners.bandits.per_arm import PerArm
from nacre.learners.policy.costs import CostCritic, CostValue, cost_critics_like
from nacre.learners.policy.ddpg import DDPG, DDPGConfig
from nacre.learners.policy.ppo import PPO, PPOConfig
from nacre.learners.policy.recurrent_ppo import RecurrentPPO
from nacre.learners.policy.reinforce import REINFORCE, ReinforceConfig
from nacre.learners.policy.sac import SAC, SACConfig
from nacre.learners.policy.sac_discrete import DiscreteSAC, DiscreteSACConfig
from nacre.learners.policy.td3 import TD3, TD3Config
from nacre.learners.value.bootstrapped import BootstrappedDQN
from nacre.learners.value.dqn import DQN, DeepSARSA, DoubleDQN, DQNConfig
from nacre.learners.value.iqn import IQN, IQNConfig
from nacre.learners.value.qr_dqn import QRDQN, DoubleQRDQN, QRDQNConfig
from nacre.learners.value.tabular import TabularConfig, TabularQLearning
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
from nacre.networks.q import ImplicitQuantileNetwork, QNetwork, QuantileQHead
from nacre.networks.towers import TwoTowerHead
from nacre.spaces import DiscreteActionSpace, RecurrentBox
from nacre.types import CostConstraint, RiskMeasure

ENTRIES: list[Entry] = []
component = collect(ENTRIES, "learner")


A = TypeVar("A", bound=nn.Module)


# ---------------------------------------------------------------- value-based
def _q_network_of(ctx: BuildContext, wanted: str) -> QNetwork:
    return ctx.network(QNetwork, wanted)


def q_network(ctx: BuildContext) -> QNetwork:
    net = _q_network_of(ctx, "a Q network (network.name: mlp)")
    if isinstance(net.head, QuantileQHead):
        raise ConfigError(f"network 'quantile_mlp' outputs return quantiles, which learner "
                          f"{ctx.config.learner.name!r} does not read: use learner qr_dqn or "
                          "double_qr_dqn, or network.name: mlp")
    if isinstance(net.head, EnsembleQHead):
        raise ConfigError(f"network 'ensemble_mlp' outputs an ensemble's values, which learner "
                          f"{ctx.config.learner.name!r} does not train: use learner "
                          "bootstrapped_dqn, or network.name: mlp")
    return net


def _features(ctx: BuildContext) -> Tensor | None:
    """What the run's action representation makes of the actions when no step gives its own
    candidates (the space's features for identity; codes; ids for an embedding)."""
    features: Tensor | None = ctx.make("action_repr").represent(
        ctx.discrete_actions("the DQN family"), None)
    return None if features is None else features.to(ctx.device)


@component("dqn", DQNConfig, "DQN (Mnih et al. 2015)")
def _dqn(cfg: DQNConfig, ctx: BuildContext) -> DQN:
    return DQN(q_network(ctx), cfg, _features(ctx))


@component("double_dqn", DQNConfig, "Double DQN (van Hasselt et al. 2016)")
def _double_dqn(cfg: DQNConfig, ctx: BuildContext) -> DoubleDQN:
    return DoubleDQN(q_network(ctx), cfg, _features(ctx))


@component("sarsa", DQNConfig, "deep SARSA (on-policy TD control); needs buffer sarsa")
def _sarsa(cfg: DQNConfig, ctx: BuildContext) -> DeepSARSA:
    return DeepSARSA(q_network(ctx), cfg, _features(ctx))


def _quantile_network(ctx: BuildContext) -> QNetwork:
    net = _q_network_of(ctx, "a quantile Q network (network.name: quantile_mlp)")
    if not isinstance(net.head, QuantileQHead):
        raise ConfigError(f"learner {ctx.config.learner.name!r} learns return quantiles: set "
                          f"network.name: quantile_mlp (got {ctx.config.network.name!r})")
    ctx.discrete_actions(f"learner {ctx.config.learner.name!r}")
    return net


def _risk(ctx: BuildContext) -> RiskMeasure | None:
    """The run's risk measure (its safety slot), which the target bootstraps with."""
    return ctx.safety if isinstance(ctx.safety, RiskMeasure) else None


@component("qr_dqn", QRDQNConfig,
           "QR-DQN (Dabney et al. 2018): return quantiles; needs network quantile_mlp; acts "
           "and bootstraps under safety's risk measure (mean by default)")
def _qr_dqn(cfg: QRDQNConfig, ctx: BuildContext) -> QRDQN:
    return QRDQN(_quantile_network(ctx), cfg, _risk(ctx))


@component("double_qr_dqn", QRDQNConfig,
           "QR-DQN with Double-Q targets; needs network quantile_mlp")
def _double_qr_dqn(cfg: QRDQNConfig, ctx: BuildContext) -> DoubleQRDQN:
    return DoubleQRDQN(_quantile_network(ctx), cfg, _risk(ctx))


@component("iqn", IQNConfig,
           "IQN (Dabney et al. 2018b): the return's quantile function; needs network "
           "implicit_quantile_mlp; acts and bootstraps under safety's risk measure")
def _iqn(cfg: IQNConfig, ctx: BuildContext) -> IQN:
    net = ctx.network(ImplicitQuantileNetwork, "network.name: implicit_quantile_mlp")
    return IQN(net, cfg, _risk(ctx), seed=ctx.seed + 2)


@component("bootstrapped_dqn", DQNConfig,
           "Bootstrapped DQN (Osband et al. 2016): M heads, each on its bootstrap of the "
           "replay; needs network ensemble_mlp, exploration bootstrapped")
def _bootstrapped_dqn(cfg: DQNConfig, ctx: BuildContext) -> BootstrappedDQN:
    net = _q_network_of(ctx, "an ensemble Q network (network.name: ensemble_mlp)")
    if not isinstance(net.head, EnsembleQHead):
        raise ConfigError(f"learner 'bootstrapped_dqn' trains an ensemble of Q heads: set "
                          f"network.name: ensemble_mlp (got {ctx.config.network.name!r})")
    ctx.discrete_actions("learner 'bootstrapped_dqn'")
    return BootstrappedDQN(net, cfg)


@component("tabular_q", TabularConfig, "tabular Q-learning for Discrete observations")
def _tabular(cfg: TabularConfig, ctx: BuildContext) -> TabularQLearning:
    space = ctx.observation_space
    if not isinstance(space, gym.spaces.Discrete):
        raise ConfigError(
            f"learner 'tabular_q' needs a Discrete observation space; {ctx.config.env.id} has "
            f"{space}: use learner dqn"
        )
    return TabularQLearning(int(space.n), ctx.discrete_actions("tabular_q").n, cfg)


# ---------------------------------------------------------------- policy gradient, actor-critic
def _actor_critic(ctx: BuildContext) -> ActorCritic:
    return ctx.network(ActorCritic, "network.name: actor_critic")


@component("ppo", PPOConfig,
           "PPO (Schulman et al. 2017), discrete and continuous; needs network actor_critic, "
           "buffer rollout, exploration policy")
def _ppo(cfg: PPOConfig, ctx: BuildContext) -> PPO:
    space = ctx.observation_space
    if isinstance(space, RecurrentBox):  # history recurrent: the heads read its LSTM state
        if isinstance(ctx.safety, CostConstraint):
            raise ConfigError("safety 'reward_constrained' works with PPO on windows or single "
                              "observations, not with history 'recurrent'")
        net = _actor_critic(ctx)
        if isinstance(net.actor, TwoTowerHead):
            raise ConfigError("network.actor: 'two_tower' scores each step's candidates, which "
                              "recurrent PPO's sequences do not carry yet: use history stacking "
                              "or lstm (windows), or actor: mlp")
        return RecurrentPPO(net, space.lstm, cfg, seed=ctx.seed + 2)
    net = _actor_critic(ctx)
    cost = None
    if isinstance(ctx.safety, CostConstraint):  # RCPO: a cost value shaped like the critic
        critic = net.critic.linears()
        cost = CostValue(make_encoder(space), tuple(lin.out_features for lin in critic[:-1]),
                         ctx.safety, cfg.gamma, cfg.gae_lambda, cfg.lr, ctx.device,
                         net.critic.activation, cfg.nonfinite)
    return PPO(net, cfg, seed=ctx.seed + 2, cost=cost)


@component("reinforce", ReinforceConfig,
           "REINFORCE (Williams 1992), reward-to-go with an optional learned baseline; needs "
           "network actor_critic, buffer rollout")
def _reinforce(cfg: ReinforceConfig, ctx: BuildContext) -> REINFORCE:
    return REINFORCE(_actor_critic(ctx), cfg)


def actor_and_critic(ctx: BuildContext, actor: type[A], network: str
                      ) -> tuple[A, ActorAndCritic]:
    wanted = f"network.name: {network}"
    net = ctx.network(ActorAndCritic, wanted)
    if not isinstance(net.actor, actor):
        raise ConfigError(f"learner {ctx.config.learner.name!r} needs {wanted}, got network "
                          f"{ctx.config.network.name!r}")
    return net.actor, net


def _cost_critic(ctx: BuildContext, critic: TwinQCritic, gamma: float, lr: float, tau: float,
                 nonfinite: Any) -> CostCritic | None:
    """With safety reward_constrained: twin cost critics shaped like the reward critics, trained
    at the learner's rate (and Polyak rate, unless the constraint sets its own)."""
    if not isinstance(ctx.safety, CostConstraint):
        return None
    critic_tau = tau if ctx.safety.critic_tau is None else ctx.safety.critic_tau
    return CostCritic(cost_critics_like(critic, make_encoder(ctx.observation_space)),
                      ctx.safety, gamma, lr, critic_tau, nonfinite)


@component("td3", TD3Config,
           "TD3 (Fujimoto et al. 2018); needs network deterministic, buffer replay, "
           "exploration gaussian")
def _td3(cfg: TD3Config, ctx: BuildContext) -> TD3:
    actor, net = actor_and_critic(ctx, DeterministicActor, "deterministic")
    return TD3(actor, net.critic, cfg, seed=ctx.seed + 2,
               cost=_cost_critic(ctx, net.critic, cfg.gamma, cfg.lr, cfg.tau, cfg.nonfinite))


@component("ddpg", DDPGConfig,
           "DDPG (Lillicrap et al. 2016); needs network deterministic with n_critics: 1, "
           "buffer replay, exploration gaussian")
def _ddpg(cfg: DDPGConfig, ctx: BuildContext) -> DDPG:
    actor, net = actor_and_critic(ctx, DeterministicActor, "deterministic")
    if len(net.critic.critics) != 1:
        raise ConfigError("learner 'ddpg' uses one critic: set network.n_critics: 1")
    return DDPG(actor, net.critic, cfg, seed=ctx.seed + 2,
                cost=_cost_critic(ctx, net.critic, cfg.gamma, cfg.lr, cfg.tau, cfg.nonfinite))


@component("sac", SACConfig,
           "SAC with automatic temperature (Haarnoja et al. 2018); needs network "
           "squashed_gaussian, buffer replay, exploration squashed")
def _sac(cfg: SACConfig, ctx: BuildContext) -> SAC:
    actor, net = actor_and_critic(ctx, SquashedGaussianActor, "squashed_gaussian")
    return SAC(actor, net.critic, cfg, seed=ctx.seed + 2,
               cost=_cost_critic(ctx, net.critic, cfg.gamma, cfg.lr, cfg.tau, cfg.nonfinite))


@component("sac_discrete", DiscreteSACConfig,
           "SAC for discrete actions (Christodoulou 2019); needs network categorical_twin_q, "
           "buffer replay, exploration policy")
def _sac_discrete(cfg: DiscreteSACConfig, ctx: BuildContext) -> DiscreteSAC:
    return DiscreteSAC(ctx.network(CategoricalActorTwinQ, "network.name: categorical_twin_q"),
                       cfg)


# ---------------------------------------------------------------- contextual bandits
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


# what scores catalogue candidates, for the bandits with one model per arm
_SCORING_BANDITS = "learner neural_bandit or neural_linear_bandit"


def _catalogue_width(space: DiscreteActionSpace) -> int | None:
    """The width of the per-step candidates' features where they come from a catalogue."""
    return None if space.catalogue is None else int(space.catalogue.shape[1])


@component("linear_bandit", LinearBanditConfig,
           "ridge bandit on (context, action features), incremental (LinUCB / LinTS)")
def _linear(cfg: LinearBanditConfig, ctx: BuildContext) -> LinearBandit:
    features = _action_features(ctx)
    if features is None:
        raise ConfigError("learner 'linear_bandit' scores action features: set action_repr.name "
                          "to one_hot or binary, use an env whose actions have features, or use "
                          "learner disjoint_linear_bandit")
    return LinearBandit(_context_dim(ctx), features, cfg).to(ctx.device)


@component("disjoint_linear_bandit", LinearBanditConfig,
           "one incremental ridge model per arm (disjoint LinUCB / LinTS)")
def _disjoint(cfg: LinearBanditConfig, ctx: BuildContext) -> DisjointLinearBandit:
    space = ctx.slot_actions("learner 'disjoint_linear_bandit'", _SCORING_BANDITS)
    return DisjointLinearBandit(_context_dim(ctx), space.n, cfg).to(ctx.device)


def _cpu_only(ctx: BuildContext) -> None:
    if ctx.device.type != "cpu":
        raise ConfigError("the neural bandits run on CPU for now: set train.device: cpu")


@component("neural_bandit", NeuralBanditConfig,
           "MLP reward model (MSE or cross-entropy): SquareCB / FastCB / ε-greedy")
def _neural(cfg: NeuralBanditConfig, ctx: BuildContext) -> NeuralBandit:
    space = ctx.discrete_actions("learner 'neural_bandit'")
    _cpu_only(ctx)
    return NeuralBandit(_context_dim(ctx), space.n, _action_features(ctx), cfg,
                        _catalogue_width(space))


@component("neural_linear_bandit", NeuralBanditConfig,
           "MLP features + Bayesian linear head (μ, σ): neural LinUCB / LinTS")
def _neural_linear(cfg: NeuralBanditConfig, ctx: BuildContext) -> NeuralLinearBandit:
    space = ctx.discrete_actions("learner 'neural_linear_bandit'")
    _cpu_only(ctx)
    return NeuralLinearBandit(_context_dim(ctx), space.n, _action_features(ctx), cfg,
                              _catalogue_width(space))


@dataclass(frozen=True)
class PerArmConfig:
    """``base``: the learner every arm gets, as a component (``{name: neural_bandit, ...}``),
    built for one action scored from the context alone."""

    base: dict[str, Any] = field(default_factory=lambda: {"name": "neural_bandit"})


@component("per_arm", PerArmConfig,
           "disjoint models of any kind: one single-action learner per arm")
def _per_arm(cfg: PerArmConfig, ctx: BuildContext) -> PerArm:
    base = ctx.parse("learner", cfg.base, "learner.base")
    if base.name == "per_arm":
        raise ConfigError("learner.base: per_arm cannot nest another per_arm")
    if isinstance(base.params, LinearBanditConfig) and base.params.posterior == "joint":
        raise ConfigError("learner.base: per_arm models are independent per arm; a joint "
                          "posterior across them does not exist: use posterior: marginal")
    space = ctx.slot_actions("learner 'per_arm'", _SCORING_BANDITS)
    one = dataclasses.replace(ctx, action_space=DiscreteActionSpace(1))
    return PerArm(lambda arm: one.make("learner", base), space.n)
