"""Per-step costs reach the replay buffer: stored from the first cost an env reports (zeros
before it), sampled with their transitions (discounted like rewards for n-step returns),
checkpointed, and refused when malformed."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import nacre
from nacre.data import ReplayBuffer, StepBatch
from nacre.envs import ActionCost
from nacre.errors import InputError


def _step(t: int, cost: list[float] | None, done: bool = False) -> StepBatch:
    obs = np.full((2, 1), float(t), np.float32)
    return StepBatch(obs, np.zeros(2, np.int64), np.ones(2, np.float32), obs + 1,
                     np.array([done, False]), np.zeros(2, bool),
                     cost=None if cost is None else np.array(cost, np.float32))


def test_costs_are_stored_from_the_first_one_and_sampled_with_their_steps() -> None:
    buf = ReplayBuffer(16, seed=0)
    buf.add(_step(0, None))
    assert buf.sample(4).cost is None  # no env cost so far: nothing stored
    nbytes = buf.nbytes
    for t in range(1, 6):
        buf.add(_step(t, [t, 10 * t]))
    buf.add(_step(6, None))  # a step without a cost: 0
    assert buf.nbytes == nbytes + 8 * 2 * 4  # one float32 per env and row, 8 rows
    batch = buf.sample(64)
    assert batch.cost is not None
    # each cost is its own row's: t (env 0) or 10 t (env 1); 0 at t = 0 and t = 6
    for obs, cost in zip(batch.obs[:, 0].tolist(), batch.cost.tolist(), strict=True):
        assert cost in (0.0, obs, 10 * obs) and (cost == 0.0) == (obs in (0.0, 6.0))


def test_n_step_costs_are_discounted_over_the_same_steps_as_rewards() -> None:
    buf = ReplayBuffer(16, n_step=3, gamma=0.5, seed=0)
    for t in range(6):
        buf.add(_step(t, [1.0, 2.0], done=t == 4))
    batch = buf.sample(64)
    assert batch.cost is not None and batch.discount is not None
    # rewards are 1 per step: the same discounted sum, scaled by the env's cost
    env1 = batch.cost > batch.reward + 1e-6
    assert torch.allclose(batch.cost, torch.where(env1, 2 * batch.reward, batch.reward))


def test_costs_survive_a_checkpoint() -> None:
    buf = ReplayBuffer(8, seed=0)
    for t in range(5):
        buf.add(_step(t, [t, -t]))
    copy = ReplayBuffer(8, seed=0)
    copy.load_state_dict(buf.state_dict())
    a, b = buf.sample(16), copy.sample(16)
    assert a.cost is not None and b.cost is not None and torch.equal(a.cost, b.cost)
    plain = ReplayBuffer(8, seed=0)
    plain.add(_step(0, None))
    copy.load_state_dict(plain.state_dict())
    assert copy.sample(2).cost is None


@pytest.mark.parametrize(("cost", "message"), [([1.0], "expected shape"),
                                               ([1.0, float("nan")], "NaN")])
def test_malformed_costs_are_refused_before_anything_is_written(cost: list[float],
                                                                message: str) -> None:
    buf = ReplayBuffer(8, seed=0)
    buf.add(_step(0, None))
    with pytest.raises(InputError, match=message):
        buf.add(_step(1, cost))
    assert len(buf) == 2


def test_the_agent_stores_the_env_costs() -> None:
    run = nacre.build(nacre.load_preset("pendulum-sac").with_overrides(
        ["env.num_envs=2", "network.actor_hidden=[16]", "network.critic_hidden=[16]"]),
        env=lambda: ActionCost(gym.make("Pendulum-v1")))
    agent, env = run.agent, run.env
    agent.reset(env.reset(seed=0), env.action_space)
    for _ in range(20):
        agent.observe(env.step(agent.act()))
    assert agent.buffer is not None
    batch = agent.buffer.sample(32)
    assert batch.cost is not None
    # ‖a‖² of the action taken, in the env's units (Pendulum: a = 2 · the normalized action)
    assert torch.allclose(batch.cost, (2 * batch.action.clamp(-1, 1)).pow(2).sum(1), atol=1e-5)
    env.close()
