"""Sparse rewards, per-step costs, and costs through nacre's adapters (issue #13, item 4)."""

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import nacre
from nacre.envs import ActionCost, GymEnv, GymVectorEnv, SparseReward
from nacre.errors import SpaceError


def _episode(env: gym.Env[Any, Any], action: Any, seed: int = 0) -> list[float]:
    env.reset(seed=seed)
    rewards = []
    while True:
        _, reward, terminated, truncated, _ = env.step(action)
        rewards.append(float(reward))
        if terminated or truncated:
            return rewards


def test_sparse_reward_pays_the_return_at_the_end() -> None:
    dense = _episode(gym.make("CartPole-v1"), 1)
    sparse = _episode(SparseReward(gym.make("CartPole-v1")), 1)
    assert len(sparse) == len(dense) > 1
    assert sparse[:-1] == [0.0] * (len(dense) - 1)
    assert sparse[-1] == pytest.approx(sum(dense))
    again = _episode(SparseReward(gym.make("CartPole-v1")), 1)
    assert again == sparse  # the return restarts with each episode


def test_sparse_reward_on_truncation_and_with_a_threshold() -> None:
    env = SparseReward(gym.make("Pendulum-v1", max_episode_steps=5))
    dense = _episode(gym.make("Pendulum-v1", max_episode_steps=5), np.zeros(1, np.float32))
    assert _episode(env, np.zeros(1, np.float32))[-1] == pytest.approx(sum(dense))
    short = _episode(gym.make("CartPole-v1"), 1)
    assert _episode(SparseReward(gym.make("CartPole-v1"), threshold=len(short)), 1)[-1] == 1.0
    assert _episode(SparseReward(gym.make("CartPole-v1"), threshold=len(short) + 1),
                    1)[-1] == 0.0


def test_action_cost_is_the_squared_norm() -> None:
    env = ActionCost(gym.make("MountainCarContinuous-v0"), scale=0.5)
    env.reset(seed=0)
    *_, info = env.step(np.array([0.6], np.float32))
    assert info["cost"] == pytest.approx(0.5 * 0.36)


def test_action_cost_adds_to_the_envs_own_and_takes_a_function() -> None:
    env = ActionCost(ActionCost(gym.make("CartPole-v1"), cost_fn=lambda a: float(a == 1)),
                     cost_fn=lambda a: 2.0)
    env.reset(seed=0)
    assert env.step(1)[4]["cost"] == 3.0
    assert env.step(0)[4]["cost"] == 2.0
    with pytest.raises(SpaceError, match="cost_fn"):
        ActionCost(gym.make("CartPole-v1"))


def _costly() -> gym.Env[Any, Any]:
    # the cost names the action, so each copy's cost is checked against its own action
    return ActionCost(gym.make("CartPole-v1", max_episode_steps=3), cost_fn=lambda a: a + 1)


def test_cost_reaches_the_action_result_of_one_env() -> None:
    env = GymEnv(_costly())
    env.reset(seed=0)
    result = env.step(np.array([1]))
    assert result.cost is not None and result.cost.dtype == np.float32
    np.testing.assert_array_equal(result.cost, [2.0])
    plain = GymEnv(gym.make("CartPole-v1"))
    plain.reset(seed=0)
    assert plain.step(np.array([1])).cost is None


def test_cost_reaches_the_action_result_of_sync_envs() -> None:
    env = nacre.make_env(_costly, num_envs=3)
    env.reset(seed=0)
    for _ in range(4):  # the third step ends every episode
        result = env.step(np.array([0, 1, 1]))
        np.testing.assert_array_equal(result.cost, [1.0, 2.0, 2.0])
    plain = nacre.make_env("CartPole-v1", num_envs=2)
    plain.reset(seed=0)
    assert plain.step(np.zeros(2, np.int64)).cost is None


@pytest.mark.parametrize("mode", [AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP])
def test_cost_reaches_the_action_result_of_a_gymnasium_vector_env(mode: AutoresetMode) -> None:
    env = GymVectorEnv(SyncVectorEnv([_costly] * 2, autoreset_mode=mode))
    env.reset(seed=0)
    for t in range(1, 6):
        result = env.step(np.array([1, 0]))
        if mode == AutoresetMode.SAME_STEP or t != 4:
            np.testing.assert_array_equal(result.cost, [2.0, 1.0])  # incl. the final step, 3
        else:  # NEXT_STEP's reset step: no transition, no cost reported
            assert result.valid is not None and not result.valid.any()
            assert result.cost is None
    plain = GymVectorEnv(SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2))
    plain.reset(seed=0)
    assert plain.step(np.zeros(2, np.int64)).cost is None
