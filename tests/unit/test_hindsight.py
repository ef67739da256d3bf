"""Hindsight experience replay (nacre.data.hindsight): relabelled goals come from the same
episode (after the transition for 'future', its last step for 'final'), rewards are the env's
for the new goal, and nothing is relabelled with k = 0."""

import numpy as np
import pytest
import torch

import nacre
import nacre.testing.spaces_envs
from nacre.data import StepBatch
from nacre.data.hindsight import HindsightReplayBuffer, goal_slices
from nacre.envs.bitflip import BitFlipEnv
from nacre.errors import ConfigError
from nacre.spaces import StructuredBox

N = 3  # goal width
EPISODE = 5  # steps per episode; the achieved goal at step s of episode e is [e, s, 1]


def _obs(e: int, s: int, goal: float = -1.0) -> np.ndarray:
    # flat goal Dict, keys sorted: achieved_goal (3), desired_goal (3), observation (1)
    return np.array([[e, s, 1, goal, goal, goal, 0.0]], np.float32)


def _reward(achieved: np.ndarray, desired: np.ndarray, info: object) -> np.ndarray:
    return np.where(np.all(achieved == desired, axis=-1), 0.0, -1.0).astype(np.float32)


def _buffer(strategy: str, k: int = 1_000_000) -> HindsightReplayBuffer:
    buf = HindsightReplayBuffer(1_000, _reward, slice(0, N), slice(N, 2 * N), strategy, k,
                                horizon=10, seed=0)
    for e in range(4):
        for s in range(EPISODE):
            buf.add(StepBatch(_obs(e, s), np.array([0]), np.array([-1.0], np.float32),
                              _obs(e, s + 1), np.array([s == EPISODE - 1]), np.array([False])))
    return buf


@pytest.mark.parametrize("strategy", ["future", "final", "episode"])
def test_new_goals_come_from_the_same_episode(strategy: str) -> None:
    batch = _buffer(strategy).sample(2_000)
    e, s = batch.obs[:, 0], batch.obs[:, 1]
    goal = batch.obs[:, N:2 * N]
    assert torch.equal(goal, batch.next_obs[:, N:2 * N])  # the same goal before and after
    assert torch.equal(goal[:, 0], e)  # the episode's own achieved goals
    later = goal[:, 1]  # achieved after step later - 1
    if strategy == "future":
        assert bool((later >= s + 1).all())
    elif strategy == "final":
        assert bool((later == EPISODE).all())
    else:
        assert set(later.long().tolist()) == set(range(1, EPISODE + 1))
    reached = torch.all(batch.next_obs[:, :N] == goal, dim=1)
    assert torch.equal(batch.reward, torch.where(reached, 0.0, -1.0))


def test_without_relabelling_the_batch_is_plain_replay() -> None:
    batch = _buffer("future", k=0).sample(100)
    assert bool((batch.obs[:, N:2 * N] == -1.0).all()) and bool((batch.reward == -1.0).all())


def test_goal_slices_follow_gymnasiums_flatten_order() -> None:
    achieved, desired = goal_slices(StructuredBox(BitFlipEnv(4).observation_space))
    assert (achieved, desired) == (slice(0, 4), slice(4, 8))
    with pytest.raises(ConfigError, match="achieved_goal"):
        goal_slices(StructuredBox(nacre.testing.spaces_envs.DictCue().observation_space))


def test_her_from_yaml_needs_a_goal_env() -> None:
    import nacre.testing.spaces_envs  # noqa: F401

    cfg = nacre.load_preset("cartpole-dqn").with_overrides(
        ["env.id=DictCue-v0", "buffer={name: her}"])
    with pytest.raises(ConfigError, match="achieved_goal"):
        nacre.build(cfg)
