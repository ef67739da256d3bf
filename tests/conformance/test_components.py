"""Every built-in learner and exploration module passes the nacre.testing conformance checks.

Also checks that the checks themselves catch broken components, and that the fake envs in
``nacre.testing.fakes`` behave as documented.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from torch import Tensor

import nacre
from nacre.accel import kernel_for
from nacre.data.batch import TransitionBatch
from nacre.exploration import Boltzmann, EpsilonGreedy, Greedy, LinearSchedule, Warmup
from nacre.kinds import LearnerKind, ScoresKind
from nacre.learners import (
    DDPG,
    DQN,
    PPO,
    REINFORCE,
    SAC,
    TD3,
    DDPGConfig,
    DeepSARSA,
    DiscreteSAC,
    DiscreteSACConfig,
    DoubleDQN,
    PPOConfig,
    ReinforceConfig,
    SACConfig,
    TabularQLearning,
    TD3Config,
)
from nacre.learners.value.dqn import DQNConfig
from nacre.learners.value.tabular import TabularConfig
from nacre.networks import (
    ActorCritic,
    CategoricalActorTwinQ,
    DeterministicActor,
    DuelingQHead,
    FlattenEncoder,
    OneHotEncoder,
    QNetwork,
    SquashedGaussianActor,
    StateActionQHead,
    TwinQCritic,
    VanillaQHead,
)
from nacre.testing import (
    ChainEnv,
    EngineLearner,
    IdentityEnv,
    check_exploration,
    check_learner,
    random_batch,
    register_fakes,
)
from nacre.types import Exploration, Learner, Metrics

OBS_DIM, N_ACTIONS, N_STATES = 6, 3, 7


@contextmanager
def one_thread() -> Iterator[None]:
    """Tiny networks are fastest (and immune to busy CI cores) on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _mlp_q(head: str = "vanilla", activation: str = "tanh") -> QNetwork:
    torch.manual_seed(0)
    h: torch.nn.Module
    if head == "dueling":
        h = DuelingQHead(OBS_DIM, N_ACTIONS, (16,), "relu")
    else:
        h = VanillaQHead(OBS_DIM, N_ACTIONS, (16, 16), activation)
    return QNetwork(FlattenEncoder((OBS_DIM,)), h)


LEARNERS: dict[str, Callable[[], Learner]] = {
    "dqn": lambda: DQN(_mlp_q(), DQNConfig(lr=1e-2)),
    # ReLU MLPs driven through their accelerated kernel (nacre.accel), flat parameters and all
    "dqn-accel": lambda: _accelerated(DQN(_mlp_q(activation="relu"), DQNConfig(lr=1e-2))),
    "dqn-accel-mse-noclip": lambda: _accelerated(DQN(
        _mlp_q(activation="relu"), DQNConfig(lr=1e-2, loss="mse", max_grad_norm=None)
    )),
    "double-dqn-accel": lambda: _accelerated(
        DoubleDQN(_mlp_q(activation="relu"), DQNConfig(lr=1e-2))),
    "dqn-mse-polyak-noclip": lambda: DQN(
        _mlp_q(), DQNConfig(lr=1e-2, loss="mse", tau=0.5, max_grad_norm=None)
    ),
    "dqn-dueling": lambda: DQN(_mlp_q("dueling"), DQNConfig(lr=1e-2)),
    "double-dqn": lambda: DoubleDQN(_mlp_q(), DQNConfig(lr=1e-2)),
    "deep-sarsa": lambda: DeepSARSA(_mlp_q(), DQNConfig(lr=1e-2)),
}


def _accelerated(learner: Learner) -> Learner:
    """The learner driven through the kernel nacre.accel has for it."""
    kernel = kernel_for(learner)
    assert kernel is not None, f"no kernel covers {type(learner).__name__}"
    return EngineLearner(kernel)


def _ppo(continuous: bool, **kw: object) -> PPO:
    torch.manual_seed(0)
    net = ActorCritic(FlattenEncoder((OBS_DIM,)), N_ACTIONS, (16, 16), "tanh", continuous)
    return PPO(net, PPOConfig(lr=1e-2, **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize("accelerated", [False, True])
@pytest.mark.parametrize("learn_alpha", [True, False])
def test_sac_conforms(learn_alpha: bool, accelerated: bool) -> None:
    torch.manual_seed(0)
    actor = SquashedGaussianActor(FlattenEncoder((OBS_DIM,)), N_ACTIONS, (16, 16))
    critic = TwinQCritic(FlattenEncoder((OBS_DIM,)), N_ACTIONS, (16, 16))
    learner: Learner = SAC(actor, critic, SACConfig(lr=1e-2, learn_alpha=learn_alpha))
    if accelerated:
        learner = _accelerated(learner)
    with one_thread():
        check_learner(learner, OBS_DIM, N_ACTIONS, continuous=True, squashed=True)


def test_discrete_sac_conforms() -> None:
    torch.manual_seed(0)
    net = CategoricalActorTwinQ(FlattenEncoder((OBS_DIM,)), N_ACTIONS, (16, 16), (16, 16))
    with one_thread():
        check_learner(DiscreteSAC(net, DiscreteSACConfig(lr=1e-2)), OBS_DIM, N_ACTIONS)


def test_ddpg_conforms() -> None:
    torch.manual_seed(0)
    actor = DeterministicActor(FlattenEncoder((OBS_DIM,)), N_ACTIONS, (16, 16))
    critic = TwinQCritic(FlattenEncoder((OBS_DIM,)), N_ACTIONS, (16, 16), n_critics=1)
    with one_thread():
        check_learner(DDPG(actor, critic, DDPGConfig(lr=1e-2)), OBS_DIM, N_ACTIONS,
                      continuous=True, deterministic=True)
    with pytest.raises(ValueError, match="one critic"):
        DDPG(actor, TwinQCritic(FlattenEncoder((OBS_DIM,)), N_ACTIONS, (16, 16)))


@pytest.mark.parametrize("accelerated", [False, True])
@pytest.mark.parametrize("policy_delay", [1, 2])
def test_td3_conforms(policy_delay: int, accelerated: bool) -> None:
    torch.manual_seed(0)
    actor = DeterministicActor(FlattenEncoder((OBS_DIM,)), N_ACTIONS, (16, 16))
    critic = TwinQCritic(FlattenEncoder((OBS_DIM,)), N_ACTIONS, (16, 16))
    learner: Learner = TD3(actor, critic, TD3Config(lr=1e-2, policy_delay=policy_delay))
    if accelerated:
        learner = _accelerated(learner)
    with one_thread():
        check_learner(learner, OBS_DIM, N_ACTIONS, continuous=True, deterministic=True,
                      updates_per_policy_change=policy_delay)


@pytest.mark.parametrize("continuous", [False, True])
@pytest.mark.parametrize("baseline", [False, True])
def test_reinforce_conforms(continuous: bool, baseline: bool) -> None:
    torch.manual_seed(0)
    net = ActorCritic(FlattenEncoder((OBS_DIM,)), N_ACTIONS, (16, 16), "tanh", continuous)
    learner = REINFORCE(net, ReinforceConfig(lr=1e-2, baseline=baseline, entropy_coef=0.01))
    with one_thread():
        check_learner(learner, OBS_DIM, N_ACTIONS, continuous=continuous)


@pytest.mark.parametrize("continuous", [False, True])
@pytest.mark.parametrize("kw", [{}, {"clip_value": 0.2, "entropy_coef": 0.01}])
def test_ppo_conforms(continuous: bool, kw: dict[str, object]) -> None:
    with one_thread():
        check_learner(_ppo(continuous, **kw), OBS_DIM, N_ACTIONS, continuous=continuous)


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_deep_learners_conform(name: str) -> None:
    with one_thread():
        check_learner(LEARNERS[name](), OBS_DIM, N_ACTIONS)


def test_deep_sarsa_gets_batches_with_next_action() -> None:
    learner = DeepSARSA(_mlp_q())
    assert learner.needs_next_action
    batch = random_batch(OBS_DIM, N_ACTIONS, 4)
    assert batch.next_action is None
    with pytest.raises(ValueError, match="next_action"):
        learner.learn_batch(batch)
    with one_thread():
        check_learner(learner, OBS_DIM, N_ACTIONS, next_action=True)


def test_tabular_q_learning_conforms() -> None:
    learner = TabularQLearning(N_STATES, N_ACTIONS, TabularConfig(lr=0.5, gamma=0.9))
    check_learner(learner, N_STATES, N_ACTIONS, discrete_obs=True)


def test_check_learner_leaves_the_learner_unchanged() -> None:
    learner = DQN(_mlp_q(), DQNConfig(lr=1e-2))
    before = {k: v.clone() for k, v in learner.q.state_dict().items()}
    with one_thread():
        check_learner(learner, OBS_DIM, N_ACTIONS)
    after = learner.q.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_dqn_with_state_action_head_conforms() -> None:
    torch.manual_seed(0)
    features = torch.randn(N_ACTIONS, 2)
    net = QNetwork(FlattenEncoder((OBS_DIM,)), StateActionQHead(OBS_DIM, 2, (16,), "relu"))
    with one_thread():
        check_learner(DQN(net, DQNConfig(lr=1e-2), action_features=features), OBS_DIM, N_ACTIONS,
                      action_features=features)


def _next_mask_batch(discrete: bool) -> TransitionBatch:
    # one transition s=0 -> s'=1, r=0, not terminated, only actions 0 and 2 available at s'
    obs = torch.tensor([0]) if discrete else torch.zeros(1, N_STATES)
    return TransitionBatch(obs, torch.tensor([0]), torch.tensor([0.0]),
                           torch.tensor([1]) if discrete else torch.ones(1, N_STATES),
                           torch.tensor([0.0]), next_mask=torch.tensor([[True, False, True]]))


def test_tabular_q_learning_respects_next_mask() -> None:
    learner = TabularQLearning(N_STATES, 3, TabularConfig(lr=1.0, gamma=0.5))
    learner.table[1] = torch.tensor([1.0, 10.0, 2.0])
    learner.learn_batch(_next_mask_batch(discrete=True))
    # target = 0 + 0.5 * max(Q(1, 0), Q(1, 2)) = 0.5 * 2 = 1 (the 10 is unavailable);
    # lr = 1 -> Q(0, 0) = 1. Without the mask it would be 0.5 * 10 = 5.
    assert float(learner.table[0, 0]) == pytest.approx(1.0)


def test_dqn_respects_next_mask() -> None:
    torch.manual_seed(0)
    net = QNetwork(FlattenEncoder((N_STATES,)), VanillaQHead(N_STATES, 3, (8,), "relu"))
    with torch.no_grad():
        net.head.mlp[-1].bias[1] += 100.0  # the unavailable action has the largest value
    learner = DQN(net, DQNConfig(gamma=0.5))
    batch = _next_mask_batch(discrete=False)
    with torch.no_grad():
        next_q = learner.target(batch.next_obs)[0]
    assert float(next_q[1]) > float(torch.maximum(next_q[0], next_q[2]))
    # the masked target ignores action 1: r + γ max(Q'(s', 0), Q'(s', 2))
    expected = 0.5 * float(torch.maximum(next_q[0], next_q[2]))
    assert float(learner.td_targets(batch)[0]) == pytest.approx(expected)


# ----------------------------------------------------------------- the checks catch broken learners


class _BrokenLearner:
    """A tabular learner with one switchable defect."""

    kind = LearnerKind.REPLAY
    scores_kind = ScoresKind.VALUES
    needs_next_action = False
    gamma = None

    def update_target(self) -> None:
        pass

    def __init__(self, defect: str) -> None:
        self.defect = defect
        self.table = torch.zeros(N_STATES, N_ACTIONS)
        self.count = 0

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        out = self.table[state.long()]
        if self.defect == "shape":
            return out[:, :-1]
        if self.defect == "nan":
            return out + float("nan")
        return out

    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        self.count += 1
        s, a = batch.obs.long(), batch.action.long()
        delta = batch.reward - self.table[s, a]
        if self.defect == "random":
            delta = delta + float(np.random.default_rng().random())  # unseeded: not torch's
        if self.defect != "frozen":
            self.table.index_put_((s, a), 0.5 * delta, accumulate=True)
        loss = (delta**2).mean()
        if self.defect == "attached":
            loss = loss.requires_grad_()
            return {"loss": loss * 1.0}
        if self.defect == "vector":
            return {"loss": delta**2}
        return {"loss": loss}

    def state_dict(self) -> dict[str, Any]:
        if self.defect == "incomplete":
            return {}
        return {"table": self.table, "count": torch.tensor(self.count)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if self.defect == "incomplete":
            return
        self.table = state["table"].clone()
        self.count = int(state["count"])


@pytest.mark.parametrize(
    ("defect", "message"),
    [
        ("shape", "expected shape"),
        ("nan", "non-finite"),
        ("frozen", "did not change"),
        ("attached", "not detached"),
        ("vector", "scalar"),
        ("random", "not deterministic"),
        ("incomplete", "did not change any tensor"),
    ],
)
def test_check_learner_catches_defects(defect: str, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_learner(_BrokenLearner(defect), N_STATES, N_ACTIONS, discrete_obs=True)


def test_check_learner_accepts_the_working_fake() -> None:
    check_learner(_BrokenLearner("none"), N_STATES, N_ACTIONS, discrete_obs=True)


# ------------------------------------------------------------------------------------ exploration

EXPLORERS: dict[str, Callable[[], Exploration]] = {
    "greedy": Greedy,
    "eps-0": lambda: EpsilonGreedy(0.0),
    "eps-0.1": lambda: EpsilonGreedy(0.1),
    "eps-0.5": lambda: EpsilonGreedy(0.5),
    "eps-1": lambda: EpsilonGreedy(1.0),
    "eps-schedule": lambda: EpsilonGreedy(LinearSchedule(1.0, 0.05, 1000)),
    "boltzmann-1": Boltzmann,
    "boltzmann-0.3": lambda: Boltzmann(0.3),
    "boltzmann-10": lambda: Boltzmann(10.0),
    "warmup-greedy": lambda: Warmup(Greedy(), 100),
    "warmup-eps": lambda: Warmup(EpsilonGreedy(0.2), 100),
}


@pytest.mark.parametrize("n_actions", [2, 5])
@pytest.mark.parametrize("name", sorted(EXPLORERS))
def test_explorers_conform(name: str, n_actions: int) -> None:
    check_exploration(EXPLORERS[name](), n_actions, steps=(0, 500, 10_000))


@pytest.mark.parametrize("explorer", [Greedy(), EpsilonGreedy(0.0), Warmup(Greedy(), 10)])
def test_greedy_explorers_are_deterministic_after_warmup(explorer: Exploration) -> None:
    check_exploration(explorer, 4, steps=(10, 1000), deterministic=True)


def test_random_explorer_declared_deterministic_fails() -> None:
    with pytest.raises(AssertionError, match="declared deterministic"):
        check_exploration(EpsilonGreedy(0.5), 4, deterministic=True)


class _BrokenExplorer:
    def __init__(self, defect: str) -> None:
        self.defect = defect

    def select(
        self, scores: Tensor, mask: Tensor | None, step: int, generator: Any
    ) -> tuple[Tensor, Tensor]:
        b, k = scores.shape
        if self.defect == "ignores-mask":
            action = torch.randint(k, (b,), generator=generator)
            return action, torch.full((b,), 1.0 / k)
        if self.defect == "int32":
            return scores.argmax(1).int(), torch.ones(b)
        if self.defect == "global-rng":  # uniform over available actions, ignores the generator
            weights = torch.ones(b, k) if mask is None else mask.float()
            action = torch.multinomial(weights, 1).squeeze(1)
            return action, 1.0 / weights.sum(1)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        if self.defect == "mutates":
            scores.add_(1.0)
        greedy = scores.argmax(1)
        if mask is not None:  # the remaining defects only show without a mask
            return greedy, torch.ones(b)
        if self.defect == "greedy-claims-half":
            return greedy, torch.full((b,), 0.5)
        if self.defect == "wrong-propensity":  # samples 50/50 between the two best, claims 0.5/0.5
            top2 = scores.topk(2, dim=1).indices  # but draws the best with probability 0.75
            pick = (torch.rand(b, generator=generator) < 0.25).long()
            return top2.gather(1, pick[:, None]).squeeze(1), torch.full((b,), 0.5)
        return greedy, torch.ones(b)


@pytest.mark.parametrize(
    ("defect", "message"),
    [
        ("ignores-mask", "masked actions"),
        ("int32", "not int64"),
        ("global-rng", "not reproducible"),
        ("mutates", "modified the scores"),
        ("greedy-claims-half", "predicts"),
        ("wrong-propensity", "predicts"),
    ],
)
def test_check_exploration_catches_defects(defect: str, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_exploration(_BrokenExplorer(defect), 4)


# ------------------------------------------------------------------------------------ fake envs


def test_register_fakes_is_idempotent_and_envs_pass_gymnasium_checker() -> None:
    register_fakes()
    register_fakes()
    for env_id in ("nacre/Identity-v0", "nacre/Chain-v0"):
        assert env_id in gym.registry
        env = gym.make(env_id)
        check_env(env.unwrapped)
        env.close()


def test_identity_env_rewards_the_target_and_truncates_after_10_steps() -> None:
    env = IdentityEnv(n=3)
    obs, info = env.reset(seed=0)
    total, steps, targets = 0.0, 0, set()
    while True:
        assert obs.dtype == np.float32 and obs.sum() == 1.0 and obs[info["target"]] == 1.0
        targets.add(info["target"])
        obs, reward, terminated, truncated, info = env.step(np.int64(int(obs.argmax())))
        total, steps = total + reward, steps + 1
        assert not terminated
        if truncated:
            break
    assert (steps, total) == (10, 10.0)
    assert targets == {0, 1, 2}  # 10 draws from 3 targets with this seed cover all
    _, reward, *_ = env.step(np.int64((int(obs.argmax()) + 1) % 3))
    assert reward == 0.0
    first = [IdentityEnv().reset(seed=5)[0].tolist() for _ in range(2)]
    assert first[0] == first[1]


def test_chain_env_dynamics_and_optimal_q() -> None:
    env = ChainEnv(n=4, max_steps=5)
    assert env.reset(seed=0)[0] == 0
    def step(action: int) -> tuple[int, float, bool, bool]:
        obs, reward, terminated, truncated, _ = env.step(np.int64(action))
        return int(obs), reward, terminated, truncated

    assert step(0) == (0, 0.0, False, False)  # left at 0 stays at 0
    assert step(1) == (1, 0.0, False, False)
    assert step(1) == (2, 0.0, False, False)
    assert step(1) == (3, 1.0, True, False)
    env.reset()
    for _ in range(4):
        out = env.step(np.int64(0))
    assert out[2:4] == (False, False)
    assert env.step(np.int64(0))[2:4] == (False, True)  # step 5 of max_steps=5
    # γ = 0.5, n = 4: V*(2) = 1, V*(1) = .5, V*(0) = .25; Q*(s, left) = γ V*(max(s-1, 0)).
    q = ChainEnv.optimal_q(4, 0.5)
    np.testing.assert_allclose(q, [[0.125, 0.25], [0.125, 0.5], [0.25, 1.0], [0.0, 0.0]])


def test_tabular_q_learning_solves_chain() -> None:
    gamma, n = 0.9, 5
    register_fakes()
    env = nacre.make_env("nacre/Chain-v0", num_envs=1)
    learner = TabularQLearning(n, 2, TabularConfig(lr=0.5, gamma=gamma))
    agent = nacre.Agent(learner, exploration=EpsilonGreedy(1.0),
                        buffer=nacre.ReplayBuffer(500, seed=0), seed=0)
    agent.reset(env.reset(seed=0), env.action_space)
    for _ in range(400):
        agent.observe(env.step(agent.act()))
    for _ in range(200):
        agent.learn(64)
    np.testing.assert_allclose(learner.table.numpy(), ChainEnv.optimal_q(n, gamma), atol=1e-3)


def test_dqn_learns_identity_env_quickly() -> None:
    register_fakes()
    with one_thread():
        torch.manual_seed(0)
        env = nacre.make_env("nacre/Identity-v0", num_envs=4)
        net = QNetwork(FlattenEncoder((4,)), VanillaQHead(4, 4, (32,), "relu"))
        learner = DQN(net, DQNConfig(lr=3e-3, gamma=0.5))
        agent = nacre.Agent(learner, exploration=EpsilonGreedy(LinearSchedule(1.0, 0.05, 400)),
                            buffer=nacre.ReplayBuffer(2000, seed=0), seed=0)
        agent.reset(env.reset(seed=0), env.action_space)
        for step in range(300):  # 1200 env steps
            agent.observe(env.step(agent.act()))
            if step >= 10:
                agent.learn(32)
            if step % 25 == 0:
                learner.update_target()
        evaluation = nacre.make_env("nacre/Identity-v0", num_envs=8)
        obs, returns = evaluation.reset(seed=123), list[float]()
        while len(returns) < 8:
            action, _ = agent.decide(obs, exploit=True)
            result = evaluation.step(action)
            obs, returns = result.obs, returns + list(result.episode_returns)
    assert min(returns) >= 9.0, returns


def test_one_hot_learner_on_chain_obs_conforms() -> None:
    torch.manual_seed(0)
    net = QNetwork(OneHotEncoder(N_STATES), VanillaQHead(N_STATES, N_ACTIONS, (8,), "relu"))
    with one_thread():
        check_learner(DQN(net, DQNConfig(lr=1e-2)), N_STATES, N_ACTIONS, discrete_obs=True)
