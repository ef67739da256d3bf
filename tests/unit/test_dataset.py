"""Datasets: built from arrays or a replay buffer, sampled, saved and loaded without pickle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nacre.data import Dataset, DatasetInfo, ReplayBuffer, StepBatch
from nacre.errors import CheckpointError, InputError


def _columns(n: int = 6) -> dict[str, np.ndarray]:
    obs = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    return {"obs": obs, "action": np.arange(n) % 2, "reward": np.arange(n, dtype=np.float32),
            "next_obs": obs + 100, "terminated": np.array([0, 0, 1, 0, 0, 0][:n]),
            "truncated": np.array([0, 0, 0, 0, 0, 1][:n]),
            "propensity": np.full(n, 0.5, np.float32)}


def test_arrays_round_trip_in_order_with_episodes() -> None:
    data = Dataset.from_arrays(**_columns(), seed=0)
    cols = data.arrays()
    assert len(data) == 6
    for name, value in _columns().items():
        np.testing.assert_array_equal(cols[name], value)
    assert data.episode_starts().tolist() == [0, 3]
    assert data.episode_returns().tolist() == [0 + 1 + 2, 3 + 4 + 5]


def test_sample_draws_transitions_with_their_propensities() -> None:
    data = Dataset.from_arrays(**_columns(), seed=0)
    batch = data.sample(64)
    assert batch.obs.shape == (64, 2)
    # every row is one of the dataset's: next_obs = obs + 100, reward = obs[0] / 2
    torch.testing.assert_close(batch.next_obs, batch.obs + 100)
    torch.testing.assert_close(batch.reward, batch.obs[:, 0] / 2)
    assert torch.all(batch.propensity == 0.5)


def test_save_and_load(tmp_path: Path) -> None:
    info = DatasetInfo(env_id="CartPole-v1", policy="test", ref_min_score=0.0,
                       ref_max_score=10.0, n_actions=2)
    data = Dataset.from_arrays(**_columns(), info=info)
    data.save(tmp_path / "d")
    loaded = Dataset.load(tmp_path / "d", seed=1)
    assert loaded.info == info
    for name, value in data.arrays().items():
        np.testing.assert_array_equal(loaded.arrays()[name], value)
    assert loaded.info.normalized_score(5.0) == pytest.approx(0.5)
    with pytest.raises(InputError, match="already exists"):
        data.save(tmp_path / "d")


def test_a_pickle_or_a_foreign_file_is_refused(tmp_path: Path) -> None:
    Dataset.from_arrays(**_columns()).save(tmp_path / "d")
    torch.save({"x": torch.zeros(2)}, tmp_path / "d" / "data.safetensors")
    with pytest.raises(CheckpointError, match="pickle"):
        Dataset.load(tmp_path / "d")
    with pytest.raises(CheckpointError, match="not a nacre dataset"):
        Dataset.load(tmp_path)


def test_bad_columns_are_refused() -> None:
    cols = _columns()
    with pytest.raises(InputError, match="reward"):
        Dataset.from_arrays(**{**cols, "reward": np.array([np.nan] * 6)})
    with pytest.raises(InputError, match="rows"):
        Dataset.from_arrays(**{**cols, "action": np.zeros(5, np.int64)})
    with pytest.raises(InputError, match="propensity"):
        Dataset.from_arrays(**{**cols, "propensity": np.zeros(6)})
    with pytest.raises(InputError, match="terminated"):
        Dataset.from_arrays(**{**cols, "terminated": np.full(6, 2)})


def test_a_replay_buffer_with_several_envs_becomes_episodes_in_order() -> None:
    buf = ReplayBuffer(capacity=8, seed=0)  # 2 envs x 4 rows, wrapped once
    for t in range(6):
        obs = np.array([[t, 0.0], [t, 1.0]], np.float32)
        buf.add(StepBatch(obs, np.array([0, 1]), np.array([t, 10 + t], np.float32), obs + 1,
                          np.array([t == 3, False]), np.array([False, False])))
    data = Dataset.from_buffer_state(buf.state_dict())
    cols = data.arrays()
    assert cols["reward"].tolist() == [2, 3, 4, 5, 12, 13, 14, 15]  # env 0 then env 1
    assert data.episode_starts().tolist() == [0, 2, 4]  # after env 0's end; env 1's first row
