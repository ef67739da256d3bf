"""Offline learners learn from logs, in seconds: on CartPole logs of a noisy controller
(half of its actions uniformly random: mean return ≈ 130), behaviour cloning and discrete CQL
recover a policy far better than the data's average, with no environment step."""

from __future__ import annotations

from pathlib import Path

import pytest

import nacre
from nacre.testing import cartpole_controller_log

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
    data = cartpole_controller_log(20_000, epsilon=0.5)
    behaviour = float(data.episode_returns().mean())
    assert 80 < behaviour < 200
    data.save(tmp_path / "log")
    config = tmp_path / "offline.yaml"
    config.write_text(CONFIG.format(learner=learner, path=tmp_path / "log", steps=steps))
    result = nacre.train(nacre.load_config(config), out=tmp_path / "run", progress=False)
    # random play scores ≈ 22 and an untrained network ≈ 10; the log's average ≈ 130
    assert result.summary["final_eval_return_mean"] >= 300
