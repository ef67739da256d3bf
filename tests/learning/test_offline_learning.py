"""Offline learners learn from logs, in seconds: on CartPole logs of a noisy controller
(half of its actions uniformly random: mean return ≈ 130), behaviour cloning and discrete CQL
recover a policy far better than the data's average, with no environment step."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import nacre

EPSILON = 0.5  # share of uniformly random actions in the log


def noisy_controller_log(steps: int, seed: int = 0) -> nacre.Dataset:
    """``steps`` CartPole transitions of "push toward where the pole falls" with ε = 0.5, each
    logged with its propensity (0.75 for the controller's action, 0.25 for the other)."""
    env, rng = gym.make("CartPole-v1"), np.random.default_rng(seed)
    rows: list[tuple[np.ndarray, int, float, np.ndarray, bool, bool, float]] = []
    obs, _ = env.reset(seed=seed)
    for t in range(steps):
        push = int(obs[2] + 0.5 * obs[3] > 0)
        action = push if rng.random() > EPSILON else int(rng.integers(2))
        propensity = 1 - EPSILON / 2 if action == push else EPSILON / 2
        next_obs, reward, terminated, truncated, _ = env.step(action)
        truncated = truncated or t == steps - 1
        rows.append((obs, action, float(reward), next_obs, terminated, truncated, propensity))
        obs = env.reset()[0] if terminated or truncated else next_obs
    cols = [np.asarray(c) for c in zip(*rows, strict=True)]
    info = nacre.DatasetInfo(env_id="CartPole-v1", policy="noisy controller", n_actions=2)
    return nacre.Dataset.from_arrays(*cols, info=info, seed=seed)


CONFIG = """
env: {{id: CartPole-v1}}
learner: {learner}
network: {{name: mlp, hidden: [64, 64]}}
dataset: {{path: {path}}}
train: {{steps: {steps}, batch_size: 64, log_every: 1000, eval_episodes: 10,
         target_update_interval: 200}}
"""


@pytest.mark.parametrize(("learner", "steps"), [
    ("{name: bc, lr: 0.001}", 2000),
    ("{name: discrete_cql, lr: 0.0005, alpha: 1.0, gamma: 0.99}", 6000),
])
def test_offline_learners_beat_the_logged_behaviour(tmp_path: Path, learner: str,
                                                    steps: int) -> None:
    data = noisy_controller_log(20_000)
    behaviour = float(data.episode_returns().mean())
    assert 80 < behaviour < 200
    data.save(tmp_path / "log")
    config = tmp_path / "offline.yaml"
    config.write_text(CONFIG.format(learner=learner, path=tmp_path / "log", steps=steps))
    result = nacre.train(nacre.load_config(config), out=tmp_path / "run", progress=False)
    # random play scores ≈ 22 and an untrained network ≈ 10; the log's average ≈ 130
    assert result.summary["final_eval_return_mean"] >= 300
