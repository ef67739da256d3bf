"""The blind cliffwalk (nacre/BlindCliffwalk-v0): one path pays, a wrong action falls back."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import nacre  # noqa: F401  (registers the nacre/... ids)
from nacre.envs import BlindCliffwalkEnv


def test_only_the_whole_walk_pays() -> None:
    env = BlindCliffwalkEnv(n=4)
    env.reset(seed=0)
    steps = [env.step(np.int64(a)) for a in (0, 1, 0, 1)]
    assert [s[1] for s in steps] == [0.0, 0.0, 0.0, 1.0]
    assert [s[2] for s in steps] == [False, False, False, True]


def test_a_wrong_action_falls_back_and_the_episode_lasts_n_steps() -> None:
    env = gym.make("nacre/BlindCliffwalk-v0", n=3)
    env.reset(seed=0)
    obs, reward, terminated, truncated, _ = env.step(np.int64(0))
    assert (int(obs), reward, terminated, truncated) == (1, 0.0, False, False)
    obs, reward, terminated, truncated, _ = env.step(np.int64(0))  # state 1 wants action 1
    assert (int(obs), reward, terminated, truncated) == (0, 0.0, False, False)
    *_, terminated, truncated, _ = env.step(np.int64(0))
    assert (terminated, truncated) == (False, True)
    with pytest.raises(ValueError, match="action must be 0 or 1"):
        env.unwrapped.step(np.int64(2))  # type: ignore[attr-defined]


def test_it_passes_gymnasiums_checker() -> None:
    check_env(BlindCliffwalkEnv(n=5), skip_render_check=True)
