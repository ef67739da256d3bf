"""Sequence summarizers learn what one observation cannot tell.

The cue task: the first observation shows a cue (+1 or −1), the next ones show only zeros and
the time; on the last step, the action that matches the cue pays 1. Without history the best
policy guesses (0.5 per episode); a summarizer that reads the last 4 observations remembers.
Partially observed CartPole with the LSTM preset is the slow test below."""

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import nacre

STEPS = 4


class CueEnv(gym.Env[np.ndarray, np.int64]):
    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.cue = int(self.np_random.integers(2))
        self.t = 0
        return np.array([2.0 * self.cue - 1.0, 0.0], np.float32), {}

    def step(self, action: np.int64) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self.t += 1
        last = self.t == STEPS - 1
        reward = float(last and int(action) == self.cue)
        return np.array([0.0, self.t / STEPS], np.float32), reward, last, False, {}


FAST = ["network.hidden=[32]", "train.learning_starts=200", "train.train_freq=4",
        "train.gradient_steps=2", "train.target_update_interval=100", "train.eval_every=0",
        "train.eval_episodes=100", "train.batch_size=32", "learner.lr=0.003",
        "exploration={name: epsilon_greedy, start: 1.0, end: 0.05, decay_fraction: 0.5}",
        "buffer.n_step=1", "train.learn_threads=1"]


def _final(tmp_path: Path, history: str) -> float:
    result = nacre.train("cartpole-po-lstm-dqn", env=CueEnv, steps=4000, seed=0,
                         out=tmp_path / "run", progress=False,
                         overrides=[*FAST, f"history={history}", "env.normalize={obs: false}"])
    return float(result.summary["final_eval_return_mean"])


@pytest.mark.parametrize("history", ["{name: lstm, length: 4, hidden: 16}",
                                     "{name: transformer, length: 4, hidden: 16}"])
def test_a_sequence_summarizer_remembers_the_cue(tmp_path: Path, history: str) -> None:
    assert _final(tmp_path, history) >= 0.9


def test_without_history_the_cue_is_a_guess(tmp_path: Path) -> None:
    assert _final(tmp_path, "identity") <= 0.7


@pytest.mark.slow
def test_lstm_dqn_learns_partially_observed_cartpole(tmp_path: Path) -> None:
    # seed 0 reaches 237 by 12,000 steps (evaluations every 4,000); no history stays near 45
    result = nacre.train("cartpole-po-lstm-dqn", steps=12_000, seed=0, out=tmp_path / "run",
                         progress=False, overrides=["train.eval_every=4000"])
    assert result.summary["best_eval_return_mean"] >= 150.0
