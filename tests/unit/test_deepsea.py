"""bsuite's DeepSea (nacre/DeepSea-v0): only going right on every step finds the treasure."""

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import nacre
from nacre.envs import DeepSeaEnv

Step = tuple[np.ndarray, float, bool, bool, dict[str, Any]]


def run_episode(env: DeepSeaEnv, policy: str, rng: np.random.Generator | None = None,
                seed: int | None = None) -> list[Step]:
    """The steps of one episode: ``policy`` is "right", "left" or "random" (needs ``rng``)."""
    env.reset(seed=seed)
    steps: list[Step] = []
    while not (steps and steps[-1][2]):
        right = env.right_action()
        action = {"right": right, "left": 1 - right}.get(policy)
        if action is None:
            assert rng is not None
            action = int(rng.integers(2))
        steps.append(env.step(np.int64(action)))
        assert len(steps) <= env.size
    return steps


@pytest.mark.parametrize("deterministic", [True, False])
def test_it_passes_gymnasiums_checker(deterministic: bool) -> None:
    check_env(DeepSeaEnv(size=6, deterministic=deterministic), skip_render_check=True)


def test_going_right_every_step_finds_the_treasure() -> None:
    env = DeepSeaEnv(size=10)
    obs, info = env.reset(seed=0)
    assert obs.shape == (10, 10) and obs.dtype == np.float32
    assert obs[0, 0] == 1.0 and obs.sum() == 1.0
    assert info == {"treasure": False, "bad_episode": False}
    steps = run_episode(env, "right")
    assert len(steps) == 10
    # hand-computed: 10 right moves at 0.01 / 10 each, and +1 on the last one
    assert [reward for _, reward, *_ in steps] == pytest.approx([-0.001] * 9 + [0.999])
    assert sum(reward for _, reward, *_ in steps) == pytest.approx(0.99)
    assert env.optimal_return == pytest.approx(0.99)
    for row, (obs, _, terminated, truncated, info) in enumerate(steps[:-1], start=1):
        assert obs[row, row] == 1.0 and obs.sum() == 1.0  # down the diagonal
        assert (terminated, truncated, info["treasure"]) == (False, False, False)
    obs, _, terminated, truncated, info = steps[-1]
    assert (terminated, truncated) == (True, False)
    assert info == {"treasure": True, "bad_episode": False}
    assert not obs.any()  # the agent has left the grid, as in bsuite
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.int64(0))


def test_going_left_every_step_pays_nothing() -> None:
    env = DeepSeaEnv(size=8)
    steps = run_episode(env, "left", seed=0)
    assert len(steps) == 8
    assert all(reward == 0.0 for _, reward, *_ in steps)
    assert all(obs[row, 0] == 1.0 for row, (obs, *_) in enumerate(steps[:-1], start=1))
    assert not any(info["treasure"] for *_, info in steps)
    assert all(info["bad_episode"] for *_, info in steps)  # left the diagonal at once


def test_episodes_last_exactly_size_steps_and_random_play_rarely_finds_the_treasure() -> None:
    env = DeepSeaEnv(size=10)
    rng = np.random.default_rng(0)
    found = 0
    for episode in range(2000):
        steps = run_episode(env, "random", rng, seed=episode)
        assert len(steps) == 10
        assert [terminated for _, _, terminated, _, _ in steps] == [False] * 9 + [True]
        assert not any(truncated for *_, truncated, _ in steps)
        found += sum(info["treasure"] for *_, info in steps)
    assert found / 2000 < 0.01  # 2^-10 ≈ 0.1 % expected: all 10 actions must be right


def test_the_action_mapping_is_drawn_once_from_mapping_seed() -> None:
    a, b = DeepSeaEnv(size=10), DeepSeaEnv(size=10)
    np.testing.assert_array_equal(a.action_mapping, b.action_mapping)
    assert set(np.unique(a.action_mapping)) == {0, 1}  # not the same action everywhere
    a.reset(seed=1)
    np.testing.assert_array_equal(a.action_mapping, b.action_mapping)  # not by reset's seed
    other = DeepSeaEnv(size=10, mapping_seed=1)
    assert not np.array_equal(other.action_mapping, a.action_mapping)
    plain = DeepSeaEnv(size=10, randomize_actions=False)
    np.testing.assert_array_equal(plain.action_mapping, np.ones((10, 10)))
    with pytest.raises(ValueError):
        a.action_mapping[0, 0] = 1 - a.action_mapping[0, 0]  # read-only


def test_stochastic_right_moves_fail_at_rate_one_over_size() -> None:
    env = DeepSeaEnv(size=10, deterministic=False)
    assert env.optimal_return == pytest.approx(0.9 ** 9 - 0.01)
    moves = failed = treasures = 0
    returns = []
    for episode in range(2000):
        env.reset(seed=episode)
        total = 0.0
        terminated = False
        while not terminated:
            column = env.column
            _, reward, terminated, _, info = env.step(np.int64(env.right_action()))
            total += reward
            treasures += info["treasure"]
            if column < env.size - 1:  # in the last column a right move stays anyway
                moves += 1
                failed += env.column == column
        returns.append(total)
    # ~20k moves at p = 0.1: the standard error of the rate is ~0.002
    assert abs(failed / moves - 0.1) < 0.01
    assert abs(treasures / 2000 - 0.9 ** 9) < 0.05  # ~0.011 standard error
    # the noise has mean 0, so the mean return is the optimal return (~0.027 standard error)
    assert abs(np.mean(returns) - env.optimal_return) < 0.1


def test_stochastic_noise_is_on_the_last_rows_end_cells_only() -> None:
    env = DeepSeaEnv(size=6, deterministic=False)
    finals = []
    for episode in range(1000):
        steps = run_episode(env, "left", seed=episode)  # ends in column 0
        assert all(reward == 0.0 for _, reward, *_ in steps[:-1])  # no noise before the last
        finals.append(steps[-1][1])
    assert abs(np.mean(finals)) < 0.15 and 0.85 < np.std(finals) < 1.15  # N(0, 1)
    # on the last row in a middle column: no noise (and a left move costs nothing)
    plain = DeepSeaEnv(size=4, deterministic=False, randomize_actions=False)
    middle = 0
    for seed in range(50):
        plain.reset(seed=seed)
        for action in (1, 0, 1):  # right, left, right: column 1, or 0 if the last right failed
            plain.step(np.int64(action))
        if plain.column == 1:
            middle += 1
            assert plain.step(np.int64(0))[1] == 0.0
    assert middle > 0


def test_the_same_seed_gives_the_same_trajectory() -> None:
    def trajectory(seed: int) -> list[tuple[bytes, float]]:
        env = DeepSeaEnv(size=8, deterministic=False)
        steps = run_episode(env, "random", np.random.default_rng(7), seed=seed)
        return [(obs.tobytes(), reward) for obs, reward, *_ in steps]

    assert trajectory(3) == trajectory(3)
    assert trajectory(3) != trajectory(4)


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"size": 0}, "size"), ({"size": 2.5}, "size"), ({"size": True}, "size"),
    ({"deterministic": 1}, "deterministic"), ({"randomize_actions": "yes"}, "randomize_actions"),
    ({"unscaled_move_cost": -0.01}, "unscaled_move_cost"),
    ({"unscaled_move_cost": float("nan")}, "unscaled_move_cost"),
    ({"mapping_seed": -1}, "mapping_seed"), ({"mapping_seed": None}, "mapping_seed"),
])
def test_bad_arguments_are_refused(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        DeepSeaEnv(**kwargs)


def test_bad_actions_are_refused() -> None:
    env = DeepSeaEnv(size=3)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be 0 or 1"):
        env.step(np.int64(2))


def test_registered_with_its_kwargs() -> None:
    env = gym.make("nacre/DeepSea-v0", size=5)
    assert isinstance(env.unwrapped, DeepSeaEnv) and env.unwrapped.size == 5
    obs, _ = env.reset(seed=0)
    assert obs.shape == (5, 5)
    batch = nacre.make_env("nacre/DeepSea-v0", num_envs=2, size=5, deterministic=False)
    assert batch.reset(seed=0).shape == (2, 5, 5)
