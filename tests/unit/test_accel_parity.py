"""Every kernel of nacre.accel against the readable update it replaces.

Parity: the same initial parameters and the same batches (and random draws) give the same
losses and parameters after >= 100 updates, within float rounding: rtol 1e-4, atol 1e-5 on
every parameter, metric and optimizer moment (fp32; the kernels reorder sums and fuse products,
so exact equality is not expected). Covered: DQN, Double DQN and deep SARSA (DQNKernel), PPO
(PPOKernel), TD3 (TD3Kernel) and SAC (SACKernel); QR-DQN (QRDQNKernel) in
test_accel_qr_parity.py.
"""

from __future__ import annotations

import copy
import pickle
from dataclasses import replace
from typing import Any

import pytest
import torch
from torch import nn

from nacre.accel import accelerate, kernel_for
from nacre.accel.dqn import DQNKernel
from nacre.accel.ppo import PPOKernel
from nacre.accel.sac import SACKernel
from nacre.accel.td3 import TD3Kernel
from nacre.data import PrioritizedReplayBuffer, Rollout, StepBatch, TransitionBatch
from nacre.learners import (
    DDPG,
    PPO,
    SAC,
    TD3,
    DeepSARSA,
    DoubleDQN,
    PPOConfig,
    SACConfig,
    TD3Config,
)
from nacre.learners.engine import LearnerEngine, learn_prioritized
from nacre.learners.value.dqn import DQN, DQNConfig
from nacre.networks import (
    ActorCritic,
    DeterministicActor,
    DuelingQHead,
    FlattenEncoder,
    OneHotEncoder,
    QNetwork,
    SquashedGaussianActor,
    TwinQCritic,
    VanillaQHead,
)
from nacre.testing import random_batch
from nacre.types import Engine

RTOL, ATOL = 1e-4, 1e-5
OBS, ACT = 5, 3


def close(a: Any, b: Any, what: str) -> None:
    torch.testing.assert_close(torch.as_tensor(a), torch.as_tensor(b), rtol=RTOL, atol=ATOL,
                               msg=what)


def same_modules(fast: nn.Module, slow: nn.Module) -> None:
    for (name, pf), ps in zip(fast.named_parameters(), slow.parameters(), strict=True):
        close(pf, ps, name)


def same_state(fast: Any, slow: Any) -> None:
    """Every tensor of two learners' state dicts (networks, targets, optimizer moments)."""
    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, torch.Tensor):
            close(a.float(), b.float(), path)
        elif isinstance(a, dict):
            assert a.keys() == b.keys(), path
            for key in a:
                walk(a[key], b[key], f"{path}.{key}")
        elif isinstance(a, list | tuple):
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                walk(x, y, f"{path}[{i}]")
        else:
            assert a == b, path
    walk(fast.state_dict(), slow.state_dict(), "state")


def same_metrics(mf: dict[str, torch.Tensor], ms: dict[str, torch.Tensor]) -> None:
    assert mf.keys() == ms.keys()
    for key in ms:
        close(mf[key], ms[key], key)


def counted_steps(fast: Engine) -> list[int]:
    """A list that grows by one at every update the kernel ``fast`` itself computes."""
    steps: list[int] = []
    original = fast.step  # type: ignore[attr-defined]
    fast.step = lambda batch, want_metrics: steps.append(1) or original(  # type: ignore[attr-defined]
        batch, want_metrics)
    return steps


def twins(learner: Any) -> tuple[Engine, Engine]:
    """The learner accelerated, and a deep copy of it on its readable update."""
    slow = LearnerEngine(copy.deepcopy(learner))
    fast = kernel_for(learner)
    assert fast is not None, f"no kernel covers {type(learner).__name__}"
    return fast, slow


# ------------------------------------------------------------------------------------ DQN


def q_net(hidden: tuple[int, ...] = (32, 32), head: type = VanillaQHead) -> QNetwork:
    torch.manual_seed(0)
    return QNetwork(FlattenEncoder((OBS,)), head(OBS, ACT, hidden, "relu"))


@pytest.mark.parametrize("cls", [DQN, DoubleDQN, DeepSARSA])
@pytest.mark.parametrize(("loss", "clip"), [("huber", 10.0), ("huber", 0.05), ("mse", None)])
@pytest.mark.parametrize("weighted", [False, True])
def test_dqn_kernel_matches_the_readable_update(cls: type, loss: str, clip: float | None,
                                                weighted: bool) -> None:
    fast, slow = twins(cls(q_net(), DQNConfig(lr=1e-2, loss=loss, max_grad_norm=clip)))
    assert isinstance(fast, DQNKernel)
    g = torch.Generator().manual_seed(1)
    for round_ in range(13):  # 13 rounds of 8 updates: 104 updates; one short last batch each
        batch = random_batch(OBS, ACT, 8 * 16 - 4, generator=g, next_action=cls is DeepSARSA)
        if weighted:
            batch = replace(batch, weight=torch.rand(len(batch), generator=g))
        if round_ % 2:  # n-step style per-row discounts
            batch = replace(batch, discount=torch.rand(len(batch), generator=g))
        same_metrics(fast.learn_batches(batch, 16), slow.learn_batches(batch, 16))
        if round_ % 3 == 2:
            fast.learner.update_target()
            slow.learner.update_target()
    same_state(fast.learner, slow.learner)
    start = q_net()  # the same initial parameters: training must have moved them
    assert not any(torch.allclose(p, p0) for p, p0 in zip(
        fast.learner.q.parameters(), start.parameters(), strict=True))  # type: ignore[attr-defined]


@pytest.mark.parametrize("cls", [DQN, DoubleDQN])
def test_dqn_kernel_with_prioritized_replay_matches_the_readable_update(cls: type) -> None:
    """The same draws, importance weights, updates and new priorities on both paths (lr 1e-3:
    with 1e-2 and a target copy every round, rounding differences grow past the tolerance
    through the priorities' feedback on the sampling weights)."""
    fast, slow = twins(cls(q_net(), DQNConfig(lr=1e-3)))
    buffers = [PrioritizedReplayBuffer(256, seed=0) for _ in range(2)]
    g = torch.Generator().manual_seed(2)
    for _ in range(50):
        data = random_batch(OBS, ACT, 4, generator=g)
        for buf in buffers:
            buf.add(StepBatch(data.obs, data.action, data.reward, data.next_obs,
                              data.terminated.bool(), torch.zeros(4, dtype=torch.bool)))
    cpu = torch.device("cpu")
    for round_ in range(25):  # 100 updates
        same_metrics(learn_prioritized(fast, buffers[0], 16, 4, cpu, round_ / 25),
                     learn_prioritized(slow, buffers[1], 16, 4, cpu, round_ / 25))
        fast.learner.update_target()
        slow.learner.update_target()
    same_state(fast.learner, slow.learner)
    close(buffers[0].tree.sums, buffers[1].tree.sums, "priorities")
    assert buffers[0].beta == pytest.approx(1.0 - 0.6 / 25)

def test_dqn_kernel_acts_like_the_learner() -> None:
    fast, slow = twins(DQN(q_net(), DQNConfig()))
    for rows in (1, 7):
        state = torch.randn(rows, OBS)
        close(fast.scores(state, None), slow.scores(state, None), f"scores of {rows} rows")


def test_dqn_kernel_takes_the_readable_update_for_other_observation_types() -> None:
    fast, slow = twins(DQN(q_net(), DQNConfig(lr=1e-2)))
    g = torch.Generator().manual_seed(2)
    for _ in range(3):
        batch = random_batch(OBS, ACT, 64, generator=g)
        batch = replace(batch, obs=batch.obs.double(), next_obs=batch.next_obs.double())
        same_metrics(fast.learn_batches(batch, 32), slow.learn_batches(batch, 32))
    same_state(fast.learner, slow.learner)


# ------------------------------------------------------------------------------------ PPO


def rollout(steps: int, envs: int, continuous: bool, g: torch.Generator) -> Rollout:
    obs = torch.randn(steps, envs, OBS, generator=g)
    action = (torch.rand(steps, envs, ACT, generator=g) * 2 - 1 if continuous
              else torch.randint(ACT, (steps, envs), generator=g))
    ends = torch.rand(steps, envs, generator=g) < 0.1
    return Rollout(obs=obs, action=action, reward=torch.randn(steps, envs, generator=g),
                   next_obs=torch.randn(steps, envs, OBS, generator=g),
                   terminated=ends & (torch.rand(steps, envs, generator=g) < 0.5),
                   truncated=torch.zeros(steps, envs, dtype=torch.bool),
                   valid=torch.rand(steps, envs, generator=g) > 0.05)


@pytest.mark.parametrize("continuous", [False, True])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("kw", [{}, {"clip_value": 0.1, "entropy_coef": 0.05},
                                {"max_grad_norm": None, "clip": 0.05, "lr_schedule": "linear"}])
@pytest.mark.parametrize("rows", [64, 320])  # 320 rows × 16 units: tanh computed through σ
def test_ppo_kernel_matches_the_readable_update(continuous: bool, activation: str,
                                                kw: dict[str, object], rows: int) -> None:
    torch.manual_seed(0)
    net = ActorCritic(FlattenEncoder((OBS,)), ACT, (16, 12), activation, continuous,
                      log_std_init=-0.3)
    cfg = PPOConfig(lr=3e-3, epochs=4, **kw)  # type: ignore[arg-type]
    fast, slow = twins(PPO(net, cfg, seed=3))
    assert isinstance(fast, PPOKernel)
    g = torch.Generator().manual_seed(1)
    updates = 0
    for round_ in range(5):  # 5 rounds × 4 epochs × 5 minibatches: 100 updates
        data = rollout(rows // 4, 4, continuous, g)
        mf = fast.learn_rollout(data, (rows + 4) // 5, progress=round_ / 5)
        ms = slow.learn_rollout(data, (rows + 4) // 5, progress=round_ / 5)
        updates += int(mf["updates"])
        same_metrics(mf, ms)
    assert updates >= 100
    same_state(fast.learner, slow.learner)


def test_ppo_kernel_stops_early_like_the_readable_update() -> None:
    torch.manual_seed(0)
    net = ActorCritic(FlattenEncoder((OBS,)), ACT, (16,), "tanh", False)
    fast, slow = twins(PPO(net, PPOConfig(lr=0.05, epochs=10, target_kl=0.002), seed=1))
    g = torch.Generator().manual_seed(4)
    for _ in range(3):
        data = rollout(16, 4, False, g)
        mf, ms = fast.learn_rollout(data, 16, 0.0), slow.learn_rollout(data, 16, 0.0)
        assert int(mf["updates"]) < 40  # the KL limit stopped the round
        same_metrics(mf, ms)
    same_state(fast.learner, slow.learner)


# ------------------------------------------------------------------------------------ TD3, SAC


def actor_critic(squashed: bool, hidden: tuple[int, ...] = (24, 16), n_critics: int = 2
                 ) -> tuple[nn.Module, TwinQCritic]:
    torch.manual_seed(0)
    actor_type = SquashedGaussianActor if squashed else DeterministicActor
    actor = actor_type(FlattenEncoder((OBS,)), ACT, hidden)
    critic = TwinQCritic(FlattenEncoder((OBS,)), ACT, hidden, n_critics=n_critics)
    return actor, critic


def run_rounds(fast: Engine, slow: Engine, rounds: int, dtype: torch.dtype = torch.float32,
               per_row_discount: bool = False) -> None:
    g = torch.Generator().manual_seed(1)
    for _ in range(rounds):  # rounds of 4 updates of 32 rows
        batch = random_batch(OBS, ACT, 128, generator=g, continuous=True)
        batch = replace(batch, obs=batch.obs.to(dtype), next_obs=batch.next_obs.to(dtype))
        if per_row_discount:  # e.g. n-step returns: γ^k per row
            batch = replace(batch, discount=0.9 ** torch.randint(1, 4, (128,), generator=g))
        same_metrics(fast.learn_batches(batch, 32), slow.learn_batches(batch, 32))


@pytest.mark.parametrize("policy_delay", [1, 2, 3])
@pytest.mark.parametrize("n_critics", [1, 2, 3])
def test_td3_kernel_matches_the_readable_update(policy_delay: int, n_critics: int) -> None:
    actor, critic = actor_critic(False, n_critics=n_critics)
    cfg = TD3Config(lr=1e-3, policy_delay=policy_delay, gamma=0.95, tau=0.05)
    fast, slow = twins(TD3(actor, critic, cfg, seed=2))  # type: ignore[arg-type]
    assert isinstance(fast, TD3Kernel)
    run_rounds(fast, slow, 26, per_row_discount=n_critics == 3)  # 104 updates
    same_state(fast.learner, slow.learner)


@pytest.mark.parametrize("learn_alpha", [True, False])
@pytest.mark.parametrize("hidden", [(24, 16), (20,)])
def test_sac_kernel_matches_the_readable_update(learn_alpha: bool, hidden: tuple[int, ...]
                                                ) -> None:
    actor, critic = actor_critic(True, hidden)
    cfg = SACConfig(lr=1e-3, learn_alpha=learn_alpha, gamma=0.95, tau=0.05, init_alpha=0.3)
    fast, slow = twins(SAC(actor, critic, cfg, seed=2))  # type: ignore[arg-type]
    assert isinstance(fast, SACKernel)
    run_rounds(fast, slow, 26, per_row_discount=learn_alpha)  # 104 updates
    same_state(fast.learner, slow.learner)


@pytest.mark.parametrize("squashed", [False, True])
def test_float64_observations_take_the_kernel(squashed: bool) -> None:
    # MuJoCo observations are float64; the flat encoder casts them, and so does the kernel
    actor, critic = actor_critic(squashed)
    learner = SAC(actor, critic) if squashed else TD3(actor, critic)  # type: ignore[arg-type]
    fast, slow = twins(learner)
    steps = counted_steps(fast)
    run_rounds(fast, slow, 2, dtype=torch.float64)
    assert len(steps) == 8
    same_state(fast.learner, slow.learner)


def test_kernel_checkpoints_load_into_the_readable_learner_and_back() -> None:
    """A run trained with accelerate: auto resumes with accelerate: off, and the other way."""
    actor, critic = actor_critic(False)
    fast, _ = twins(TD3(actor, critic))  # type: ignore[arg-type]
    run_rounds(fast, LearnerEngine(TD3(*actor_critic(False))), 2)  # type: ignore[arg-type]
    readable = TD3(*actor_critic(False))  # type: ignore[arg-type]
    readable.load_state_dict(fast.learner.state_dict())
    same_state(fast.learner, readable)
    run_rounds(fast, LearnerEngine(readable), 3)
    same_state(fast.learner, readable)
    fresh = kernel_for(TD3(*actor_critic(False)))  # type: ignore[arg-type]
    assert fresh is not None
    fresh.learner.load_state_dict(readable.state_dict())
    run_rounds(fresh, LearnerEngine(readable), 2)
    same_state(fresh.learner, readable)


@pytest.mark.parametrize("squashed", [False, True])
@pytest.mark.parametrize("copier", [copy.deepcopy, lambda x: pickle.loads(pickle.dumps(x))])
def test_a_copied_kernel_continues_like_the_original(squashed: bool, copier: Any) -> None:
    actor, critic = actor_critic(squashed)
    learner = SAC(actor, critic) if squashed else TD3(actor, critic)  # type: ignore[arg-type]
    fast = kernel_for(learner)
    assert fast is not None
    g = torch.Generator().manual_seed(3)

    def batch() -> TransitionBatch:
        return random_batch(OBS, ACT, 64, generator=g, continuous=True)

    fast.learn_batches(batch(), 32)
    twin = copier(fast)
    for _ in range(3):
        b = batch()
        same_metrics(fast.learn_batches(b, 32), twin.learn_batches(b, 32))
    same_state(fast.learner, twin.learner)
    first = twin.learner.critic.critics[0].layers()[0][0]
    assert first.data_ptr() != fast.learner.critic.critics[0].layers()[0][0].data_ptr()


def test_a_copied_dqn_kernel_continues_like_the_original() -> None:
    fast = kernel_for(DQN(q_net(), DQNConfig(lr=1e-2)))
    assert fast is not None
    g = torch.Generator().manual_seed(5)
    fast.learn_batches(random_batch(OBS, ACT, 64, generator=g), 32)
    copies = [copy.deepcopy(fast), pickle.loads(pickle.dumps(fast))]
    for _ in range(3):
        b = random_batch(OBS, ACT, 64, generator=g)
        for each in (fast, *copies):
            each.learn_batches(b, 32)
    for twin in copies:
        same_state(fast.learner, twin.learner)


# ------------------------------------------------------------------------------------ coverage


def test_kernels_cover_exactly_the_networks_they_are_written_for() -> None:
    assert isinstance(kernel_for(DQN(q_net(), DQNConfig())), DQNKernel)
    assert kernel_for(DQN(q_net(head=DuelingQHead), DQNConfig())) is None
    torch.manual_seed(0)
    assert kernel_for(DQN(QNetwork(FlattenEncoder((OBS,)),
                                   VanillaQHead(OBS, ACT, (8,), "gelu")))) is None
    assert kernel_for(DQN(QNetwork(FlattenEncoder((2, 3)),
                                   VanillaQHead(6, ACT, (8,), "relu")))) is None
    assert kernel_for(DQN(q_net(), action_features=torch.eye(ACT))) is None
    actor, critic = actor_critic(False)
    assert isinstance(kernel_for(TD3(actor, critic)), TD3Kernel)  # type: ignore[arg-type]
    tanh_actor = DeterministicActor(FlattenEncoder((OBS,)), ACT, (8,), "tanh")
    assert kernel_for(TD3(tanh_actor, actor_critic(False)[1])) is None
    assert kernel_for(TD3(*actor_critic(False), TD3Config())) is not None  # type: ignore[arg-type]
    one_hot = TwinQCritic(OneHotEncoder(OBS), ACT, (8,))
    assert kernel_for(TD3(actor_critic(False)[0], one_hot)) is None  # type: ignore[arg-type]
    frozen = actor_critic(False)[1]
    frozen.critics[0].layers()[0][0].requires_grad_(False)
    assert kernel_for(TD3(actor_critic(False)[0], frozen)) is None  # type: ignore[arg-type]
    one_critic = TwinQCritic(FlattenEncoder((OBS,)), ACT, (8,), n_critics=1)
    assert kernel_for(DDPG(actor_critic(False)[0], one_critic)) is None  # type: ignore[arg-type]
    assert kernel_for(SAC(SquashedGaussianActor(FlattenEncoder((OBS,)), ACT, ()),
                          actor_critic(True)[1])) is None
    net = ActorCritic(FlattenEncoder((OBS,)), ACT, (8,), "tanh", False)
    assert isinstance(kernel_for(PPO(net)), PPOKernel)
    gelu = ActorCritic(FlattenEncoder((OBS,)), ACT, (8,), "gelu", False)
    assert kernel_for(PPO(gelu)) is None
    assert kernel_for(PPO(ActorCritic(OneHotEncoder(OBS), ACT, (8,), "tanh", False))) is None


def test_subclasses_are_not_covered() -> None:
    class MyDQN(DQN):
        pass

    assert kernel_for(MyDQN(q_net())) is None
    assert accelerate(DQN(q_net()), "off") is None
    with pytest.raises(ValueError, match="auto"):
        accelerate(DQN(q_net()), "on")  # type: ignore[arg-type]


def test_subclassed_networks_are_not_covered() -> None:
    class MyHead(VanillaQHead):
        pass

    torch.manual_seed(0)
    assert kernel_for(DQN(QNetwork(FlattenEncoder((OBS,)), MyHead(OBS, ACT, (8,), "relu")))) is None

    class MyCritic(TwinQCritic):
        pass

    actor = DeterministicActor(FlattenEncoder((OBS,)), ACT, (8,))
    assert kernel_for(TD3(actor, MyCritic(FlattenEncoder((OBS,)), ACT, (8,)))) is None
    frozen = ActorCritic(FlattenEncoder((OBS,)), ACT, (8,), "tanh", False)
    frozen.actor.layers()[0][0].requires_grad_(False)
    assert kernel_for(PPO(frozen)) is None
