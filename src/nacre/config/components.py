"""Built-in components and ``build``: run config → wired, validated agent and environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import gymnasium as gym
import numpy as np
import torch

from nacre.actions import IdentityActionRepresentation
from nacre.agent import Agent
from nacre.config.registry import lookup, register
from nacre.config.run import Component, RunConfig
from nacre.data.replay import ReplayBuffer, SARSABuffer
from nacre.envs.gym import NacreEnv, make_env
from nacre.envs.normalize import Normalize
from nacre.errors import ConfigError, NacreError
from nacre.exploration import Boltzmann, EpsilonGreedy, Greedy, LinearSchedule, Warmup
from nacre.history import IdentityHistory
from nacre.learners.value.dqn import DQN, DeepSARSA, DoubleDQN, DQNConfig
from nacre.learners.value.tabular import TabularConfig, TabularQLearning
from nacre.networks.encoders import make_encoder
from nacre.networks.q import DuelingQHead, QNetwork, StateActionQHead, VanillaQHead
from nacre.safety import NoSafety
from nacre.spaces import ActionSpace, DiscreteActionSpace

N = TypeVar("N")


@dataclass
class BuildContext:
    """What factories may read while a run is wired."""

    config: RunConfig
    observation_space: gym.Space[Any]
    action_space: ActionSpace
    num_envs: int
    device: torch.device
    seed: int

    def make(self, kind: str, component: Component | None = None) -> Any:
        comp = component if component is not None else getattr(self.config, kind)
        entry = lookup(kind, comp.name)
        try:
            return entry.factory(comp.params, self)
        except ValueError as exc:  # a component refusing its parameters: name the config slot
            if isinstance(exc, NacreError):
                raise
            raise ConfigError(f"{kind} {comp.name!r}: {exc}") from exc

    def discrete_actions(self, who: str) -> DiscreteActionSpace:
        if not isinstance(self.action_space, DiscreteActionSpace):
            raise ConfigError(
                f"{who} needs a discrete action space, but {self.config.env.id} has continuous "
                "actions"
            )
        return self.action_space


# ---------------------------------------------------------------- networks
@dataclass(frozen=True)
class QNetworkConfig:
    """``hidden``: widths of the head MLP; ``head``: vanilla | dueling | state_action;
    ``encoder``: auto | flatten | cnn (Nature CNN for [C, H, W] uint8 frames)."""

    hidden: tuple[int, ...] = (64, 64)
    activation: Literal["relu", "tanh", "elu", "gelu", "silu"] = "relu"
    head: Literal["vanilla", "dueling", "state_action"] = "vanilla"
    encoder: Literal["auto", "flatten", "cnn"] = "auto"


@register("network", "mlp", QNetworkConfig, "encoder (flatten / one-hot / Nature CNN) + Q head")
def _q_network(cfg: QNetworkConfig, ctx: BuildContext) -> QNetwork:
    space = ctx.discrete_actions("a Q network")
    encoder = make_encoder(ctx.observation_space, cfg.encoder)
    in_dim = int(encoder.out_dim)  # type: ignore[arg-type]
    head: torch.nn.Module
    if cfg.head == "vanilla":
        head = VanillaQHead(in_dim, space.n, cfg.hidden, cfg.activation)
    elif cfg.head == "dueling":
        head = DuelingQHead(in_dim, space.n, cfg.hidden, cfg.activation)
    else:
        if space.action_dim is None:
            raise ConfigError("network.head: 'state_action' needs action features in the space")
        head = StateActionQHead(in_dim, space.action_dim, cfg.hidden, cfg.activation)
    return QNetwork(encoder, head).to(ctx.device)


# ---------------------------------------------------------------- learners
def _features(ctx: BuildContext) -> torch.Tensor | None:
    features = ctx.discrete_actions("the DQN family").features
    return None if features is None else features.to(ctx.device)


def network_of(ctx: BuildContext, kind: type[N], wanted: str, actor: type | None = None) -> N:
    """Build the configured network; a :class:`ConfigError` naming ``wanted`` unless it is a
    ``kind`` (whose ``actor`` is an ``actor``, when given)."""
    net = ctx.make("network")
    if not isinstance(net, kind) or (actor is not None
                                     and not isinstance(getattr(net, "actor", None), actor)):
        raise ConfigError(f"learner {ctx.config.learner.name!r} needs {wanted}, got network "
                          f"{ctx.config.network.name!r}")
    return net


def _q_network_of(ctx: BuildContext) -> QNetwork:
    return network_of(ctx, QNetwork, "a Q network (network.name: mlp)")


@register("learner", "dqn", DQNConfig, "DQN (Mnih et al. 2015)")
def _dqn(cfg: DQNConfig, ctx: BuildContext) -> DQN:
    return DQN(_q_network_of(ctx), cfg, _features(ctx))


@register("learner", "double_dqn", DQNConfig, "Double DQN (van Hasselt et al. 2016)")
def _double_dqn(cfg: DQNConfig, ctx: BuildContext) -> DoubleDQN:
    return DoubleDQN(_q_network_of(ctx), cfg, _features(ctx))


@register("learner", "sarsa", DQNConfig, "deep SARSA (on-policy TD control); needs buffer sarsa")
def _sarsa(cfg: DQNConfig, ctx: BuildContext) -> DeepSARSA:
    return DeepSARSA(_q_network_of(ctx), cfg, _features(ctx))


@register("learner", "tabular_q", TabularConfig, "tabular Q-learning for Discrete observations")
def _tabular(cfg: TabularConfig, ctx: BuildContext) -> TabularQLearning:
    space = ctx.observation_space
    if not isinstance(space, gym.spaces.Discrete):
        raise ConfigError(
            f"learner 'tabular_q' needs a Discrete observation space; {ctx.config.env.id} has "
            f"{space}: use learner dqn"
        )
    return TabularQLearning(int(space.n), ctx.discrete_actions("tabular_q").n, cfg)


# ---------------------------------------------------------------- exploration
@dataclass(frozen=True)
class GreedyConfig:
    pass


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


@register("exploration", "greedy", GreedyConfig, "always the best action (propensity 1)")
def _greedy(cfg: GreedyConfig, ctx: BuildContext) -> Greedy:
    return Greedy()


@register("exploration", "epsilon_greedy", EpsilonGreedyConfig, "ε-greedy, linear ε schedule")
def _epsilon(cfg: EpsilonGreedyConfig, ctx: BuildContext) -> EpsilonGreedy:
    for name in ("start", "end", "decay_fraction"):
        if not 0.0 <= getattr(cfg, name) <= 1.0:
            raise ConfigError(f"exploration.{name}: must be in [0, 1], got {getattr(cfg, name)}")
    steps = cfg.decay_steps
    if steps is None:
        budget = ctx.config.train.schedule_steps or ctx.config.train.steps
        steps = int(cfg.decay_fraction * budget)
    return EpsilonGreedy(LinearSchedule(cfg.start, cfg.end, steps))


@register("exploration", "boltzmann", BoltzmannConfig, "softmax over Q / temperature")
def _boltzmann(cfg: BoltzmannConfig, ctx: BuildContext) -> Boltzmann:
    if cfg.temperature <= 0:
        raise ConfigError(f"exploration.temperature: must be > 0, got {cfg.temperature}")
    return Boltzmann(cfg.temperature)


@register("exploration", "warmup", WarmupConfig, "uniform actions first, then an inner explorer")
def _warmup(cfg: WarmupConfig, ctx: BuildContext) -> Warmup:
    inner = Component.parse("exploration", cfg.inner, "exploration.inner")
    return Warmup(ctx.make("exploration", inner), cfg.steps,
                  continuous=not isinstance(ctx.action_space, DiscreteActionSpace))


# ---------------------------------------------------------------- buffers
@dataclass(frozen=True)
class ReplayConfig:
    """``capacity`` transitions; ``n_step``-step returns discounted with the learner's γ."""

    capacity: int = 100_000
    n_step: int = 1


def _gamma(ctx: BuildContext) -> float:
    return float(getattr(ctx.config.learner.params, "gamma", 0.99))


@register("buffer", "replay", ReplayConfig, "uniform replay on ring storage, optional n-step")
def _replay(cfg: ReplayConfig, ctx: BuildContext) -> ReplayBuffer:
    return ReplayBuffer(cfg.capacity, cfg.n_step, _gamma(ctx), seed=ctx.seed + 1)


@register("buffer", "sarsa", ReplayConfig, "replay that also returns the next action taken")
def _sarsa_buffer(cfg: ReplayConfig, ctx: BuildContext) -> SARSABuffer:
    return SARSABuffer(cfg.capacity, cfg.n_step, _gamma(ctx), seed=ctx.seed + 1)


# ---------------------------------------------------------------- null slots
@dataclass(frozen=True)
class NoParams:
    pass


register("safety", "none", NoParams, "no restriction (default)")(lambda cfg, ctx: NoSafety())
register("history", "identity", NoParams, "state = current observation (default)")(
    lambda cfg, ctx: IdentityHistory()
)
register("action_repr", "identity", NoParams, "actions as indices / given features (default)")(
    lambda cfg, ctx: IdentityActionRepresentation()
)


# ---------------------------------------------------------------- build
@dataclass
class Run:
    """A built run: the agent, its training env, and how to make evaluation envs."""

    config: RunConfig
    agent: Agent
    env: NacreEnv

    def make_eval_env(self) -> NacreEnv:
        env = make_env(self.config.env.id, 1, "none", **self.config.env.kwargs)
        if isinstance(self.env, Normalize):  # the training statistics, frozen
            return self.env.frozen(env)
        return env

    def make_eval_envs(self) -> list[NacreEnv]:
        """Single environments for batched evaluation (one per evaluation episode, up to 16)."""
        return [self.make_eval_env() for _ in range(min(self.config.train.eval_episodes, 16))]


def _check_bandit_wiring(config: RunConfig, env: Any, learner: Any, buffer: Any) -> None:
    """Refuse the bandit combinations that would run but learn the wrong thing."""
    one_step = bool(getattr(env, "one_step", False))
    online = bool(getattr(buffer, "online", False))
    if config.env.normalize.enabled and config.env.id.startswith("bandit/"):
        raise ConfigError("env.normalize: bandit environments standardize their contexts "
                          "themselves (and a wrapper would hide their candidate sets and regret)"
                          ": remove env.normalize")
    if getattr(learner, "needs_online_buffer", False) and not online:
        raise ConfigError(f"learner {config.learner.name!r} keeps an exact posterior, which must "
                          f"see each decision once: set buffer.name: online (got "
                          f"{config.buffer.name!r}, which replays decisions)")
    if not online:
        return
    if not one_step:
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


def build(config: RunConfig) -> Run:
    """Wire a run config into an agent and env, checking the components fit together."""
    try:
        device = torch.device(config.train.device)
    except RuntimeError as exc:
        raise ConfigError(f"train.device: {config.train.device!r} is not a torch device "
                          "(cpu, cuda, cuda:1, …)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device: {config.train.device!r} requested but CUDA is not "
                          "available; use device: cpu")
    torch.manual_seed(config.seed)
    env = make_env(
        config.env.id, config.env.num_envs, config.env.vectorization,  # type: ignore[arg-type]
        **config.env.kwargs,
    )
    if config.env.normalize.enabled:
        space = env.observation_space
        if config.env.normalize.obs and not (isinstance(space, gym.spaces.Box)
                                             and np.issubdtype(space.dtype, np.floating)):
            raise ConfigError(f"env.normalize.obs needs float Box observations; {config.env.id} "
                              f"has {space}")
        env = Normalize(env, config.env.normalize)
    ctx = BuildContext(config, env.observation_space, env.action_space, env.num_envs, device,
                       config.seed)
    learner = ctx.make("learner")
    buffer = ctx.make("buffer")
    exploration = ctx.make("exploration")
    kind = getattr(learner, "scores_kind", None)
    accepts = getattr(exploration, "accepts", None)
    if kind is not None and accepts is not None and kind not in accepts:
        fits = {"values": "greedy / epsilon_greedy / boltzmann / squarecb / fastcb",
                "posterior": "ucb / thompson (or a mean-based one: epsilon_greedy, squarecb …)",
                "logits": "policy",
                "gaussian": "policy", "action": "gaussian", "squashed": "squashed"}[kind]
        need = ("; ucb and thompson need posterior scores [μ, σ]: use learner linear_bandit, "
                "disjoint_linear_bandit or neural_linear_bandit" if "posterior" in accepts
                and "values" not in accepts else "")
        raise ConfigError(f"exploration {config.exploration.name!r} does not fit learner "
                          f"{config.learner.name!r}, whose scores are {kind}: use exploration "
                          f"{fits}{need}")
    if bool(getattr(learner, "on_policy", False)) != bool(getattr(buffer, "on_policy", False)):
        want = "rollout" if getattr(learner, "on_policy", False) else "replay"
        raise ConfigError(f"learner {config.learner.name!r} needs buffer.name: {want}; got "
                          f"buffer {config.buffer.name!r}")
    if getattr(buffer, "on_policy", False) and (config.train.learning_starts
                                                or not config.train.gradient_steps):
        raise ConfigError("an on-policy learner trains on every rollout: set "
                          "train.learning_starts: 0 and train.gradient_steps: 1")
    _check_bandit_wiring(config, env, learner, buffer)
    if getattr(learner, "needs_next_action", False) and not buffer.needs_next_action:
        raise ConfigError(
            f"learner {config.learner.name!r} needs buffer 'sarsa' (it stores the next action);"
            f" got buffer {config.buffer.name!r}: set buffer.name to sarsa"
        )
    agent = Agent(
        learner,
        exploration=exploration,
        safety=ctx.make("safety"),
        history=ctx.make("history"),
        buffer=buffer,
        action_repr=ctx.make("action_repr"),
        device=device,
        seed=config.seed,
    )
    return Run(config, agent, env)
