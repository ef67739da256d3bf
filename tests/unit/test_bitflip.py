"""The bit-flipping goal env of HER (issue #13, item 4)."""

import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import nacre
from nacre.envs import BitFlipEnv
from nacre.spaces import StructuredBox


def test_passes_gymnasiums_checker() -> None:
    check_env(BitFlipEnv(n=6), skip_render_check=True)


def test_flipping_the_differing_bits_reaches_the_goal() -> None:
    env = BitFlipEnv(n=8)
    obs, info = env.reset(seed=0)
    assert info == {"is_success": 0.0}
    np.testing.assert_array_equal(obs["observation"], obs["achieved_goal"])
    differ = np.flatnonzero(obs["observation"] != obs["desired_goal"])
    assert differ.size > 0  # the goal is never the start
    for i, bit in enumerate(differ):
        obs, reward, terminated, truncated, info = env.step(int(bit))
        last = i == differ.size - 1
        assert (reward, terminated, truncated) == ((0.0, True, False) if last
                                                   else (-1.0, False, False))
    np.testing.assert_array_equal(obs["achieved_goal"], obs["desired_goal"])
    assert info["is_success"] == 1.0


def test_an_episode_lasts_n_steps_at_most() -> None:
    env = BitFlipEnv(n=5)
    env.reset(seed=1)
    outcomes = [env.step(0)[1:4] for _ in range(5)]  # flipping one bit back and forth
    assert all(reward == -1.0 for reward, _, _ in outcomes)
    assert [truncated for *_, truncated in outcomes] == [False] * 4 + [True]
    with pytest.raises(ValueError, match="action"):
        env.step(5)


def test_compute_reward_is_batched() -> None:
    env = BitFlipEnv(n=3)
    achieved = np.array([[0, 1, 1], [1, 1, 1], [0, 0, 0]], np.float32)
    desired = np.array([[0, 1, 1], [1, 0, 1], [0, 0, 0]], np.float32)
    rewards = env.compute_reward(achieved, desired, {})
    assert rewards.dtype == np.float32
    np.testing.assert_array_equal(rewards, [0.0, -1.0, 0.0])
    # HER's shape: [batch, k] relabelled goals
    np.testing.assert_array_equal(
        env.compute_reward(achieved[:, None], desired[None, :], {}),
        [[0.0, -1.0, -1.0], [-1.0, -1.0, -1.0], [-1.0, -1.0, 0.0]])


def test_registered_with_n_and_stored_flat() -> None:
    env = gym.make("nacre/BitFlip-v0", n=7)
    assert isinstance(env.unwrapped, BitFlipEnv) and env.unwrapped.n == 7
    batch = nacre.make_env("nacre/BitFlip-v0", num_envs=2, n=7)
    assert isinstance(batch.observation_space, StructuredBox)
    first = batch.reset(seed=0)
    assert first.shape == (2, 21)  # achieved goal, desired goal, observation: Gymnasium's order
    np.testing.assert_array_equal(first[:, :7], first[:, 14:])
    result = batch.step(np.zeros(2, np.int64))
    np.testing.assert_array_equal(result.reward, [-1.0, -1.0])


def test_resume_state_is_captured() -> None:
    env = nacre.make_env("nacre/BitFlip-v0", num_envs=2, n=6)
    env.reset(seed=0)
    env.step(np.zeros(2, np.int64))
    state = env.get_state()
    assert state is not None
    state = json.loads(json.dumps(state))  # as a checkpoint stores it
    actions = [np.array([1, 2]), np.array([3, 4]), np.array([5, 0])]
    after = [env.step(a) for a in actions]
    again = nacre.make_env("nacre/BitFlip-v0", num_envs=2, n=6)
    assert again.set_state(state)
    for a, expected in zip(actions, after, strict=True):
        result = again.step(a)
        np.testing.assert_array_equal(result.next_obs, expected.next_obs)
        np.testing.assert_array_equal(result.reward, expected.reward)
