"""Observation windows cut from the replay ring at sample time (nacre.data.windows): the same as
windows kept per transition, never across episodes or past the oldest stored row, and no memory
that grows with the window."""

import numpy as np
import pytest
import torch

from nacre.data import ReplayBuffer, StepBatch

B, STEPS, K = 2, 40, 4


def _episodes_end(t: int, b: int) -> bool:
    return (t + 3 * b) % 7 == 6  # env b's episodes end every 7 steps, shifted per env


def _fill(buf: ReplayBuffer) -> dict[tuple[int, int], list[float]]:
    """Steps with obs = 100 t + b; returns the true window of each (t, b) (zeros before the
    episode's start), as kept per transition while acting."""
    windows: dict[tuple[int, int], list[float]] = {}
    history: list[list[float]] = [[] for _ in range(B)]
    for t in range(STEPS):
        obs = np.array([[100.0 * t + b] for b in range(B)], np.float32)
        done = np.array([_episodes_end(t, b) for b in range(B)])
        for b in range(B):
            history[b].append(float(obs[b, 0]))
            windows[(t, b)] = ([0.0] * K + history[b])[-K:]
        buf.add(StepBatch(obs, np.zeros(B, np.int64), np.zeros(B, np.float32), obs + 0.5,
                          done, np.zeros(B, bool)))
        for b in np.flatnonzero(done):
            history[b] = []
    return windows


@pytest.mark.parametrize("capacity", [B * STEPS, B * 25])  # whole run / after the ring wrapped
def test_windows_match_the_ones_kept_while_acting(capacity: int) -> None:
    buf = ReplayBuffer(capacity, window=K, seed=0)
    truth = _fill(buf)
    batch = buf.sample(2_000)
    assert batch.obs.shape == (2_000, K, 1) and batch.next_obs.shape == (2_000, K, 1)
    oldest = STEPS - capacity // B
    for obs, nxt in zip(batch.obs[:, :, 0].tolist(), batch.next_obs[:, :, 0].tolist(),
                        strict=True):
        t, b = divmod(int(obs[-1]), 100)
        want = [v if v == 0.0 or v // 100 >= oldest else 0.0 for v in truth[(t, b)]]
        assert obs == want, (t, b)
        assert nxt[:-1] == want[1:] and nxt[-1] == obs[-1] + 0.5


def test_n_step_windows_end_at_the_last_step() -> None:
    buf = ReplayBuffer(B * STEPS, n_step=3, gamma=0.9, window=K, seed=0)
    truth = _fill(buf)
    batch = buf.sample(500)
    for nxt in batch.next_obs[:, :, 0].tolist():
        t, b = divmod(int(nxt[-1] - 0.5), 100)
        assert nxt[:-1] == truth[(t, b)][1:]


def test_memory_does_not_grow_with_the_window() -> None:
    sizes = []
    for window in (1, 20):
        buf = ReplayBuffer(10_000, window=window)
        _fill(buf)
        sizes.append(buf.nbytes)
    assert sizes[0] == sizes[1]


def test_a_window_of_one_is_the_plain_transition() -> None:
    plain, windowed = ReplayBuffer(100, seed=3), ReplayBuffer(100, seed=3, window=1)
    _fill(plain), _fill(windowed)
    a, b = plain.sample(16), windowed.sample(16)
    assert torch.equal(a.obs, b.obs) and torch.equal(a.next_obs, b.next_obs)
