"""A user's own environment learns (issue #12): named as ``module:Id`` in a YAML trained through
the CLI, and given to ``nacre.train`` as an instance.

The corridor (tests/data/tiny_corridor.py) pays 1 for reaching its end: random actions return
≈ 0.19 per episode, stepping right 1. DQN learns it in 2,000 steps (seeds 0-4 all reach 1.0).
"""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nacre

CONFIG = """\
description: DQN on a user's corridor
env: {id: "tiny_corridor:TinyCorridor-v0"}
learner: {name: dqn, lr: 0.001, gamma: 0.9}
network: {name: mlp, hidden: [32]}
exploration: {name: epsilon_greedy, start: 1.0, end: 0.05, decay_fraction: 0.5}
buffer: {name: replay, capacity: 10000}
train: {steps: 2000, learning_starts: 200, batch_size: 32, target_update_interval: 100,
        eval_episodes: 10, log_every: 500, learn_threads: 1}
"""


def random_return(episodes: int = 500) -> float:
    env = importlib.import_module("tiny_corridor").Corridor()
    rng, total = np.random.default_rng(0), 0.0
    for i in range(episodes):
        env.reset(seed=i)
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(rng.integers(2))
            total, done = total + reward, terminated or truncated
    return total / episodes


def test_a_module_id_in_yaml_trains_through_the_cli(user_envs: Path, tmp_path: Path) -> None:
    (tmp_path / "corridor.yaml").write_text(CONFIG)
    path = os.pathsep.join(p for p in (str(user_envs), os.environ.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "nacre.cli", "train", "corridor.yaml", "--steps", "2000",
         "--out", "run", "--no-progress"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": path}, capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["final_eval_return_mean"] == 1.0 > 3 * random_return()
    assert "id: tiny_corridor:TinyCorridor-v0" in (tmp_path / "run" / "config.yaml").read_text()


def test_an_instance_trains_through_nacre_train(user_envs: Path, tmp_path: Path) -> None:
    Corridor = importlib.import_module("tiny_corridor").Corridor
    (tmp_path / "corridor.yaml").write_text(CONFIG)
    config = nacre.load_config(tmp_path / "corridor.yaml")
    result = nacre.train(config, env=Corridor(), out=tmp_path / "run", progress=False)
    assert result.summary["final_eval_return_mean"] == 1.0 > 3 * random_return()
    assert "id: custom:tiny_corridor.Corridor" in (tmp_path / "run" / "config.yaml").read_text()

    # the run's config cannot remake the instance: resume and evaluate take it again
    with pytest.raises(nacre.ConfigError, match="pass it again as env="):
        nacre.evaluate_run(tmp_path / "run")
    assert nacre.evaluate_run(tmp_path / "run", episodes=3, env=Corridor())["return_mean"] == 1.0
    with pytest.warns(UserWarning, match="could not be restored: resuming with fresh episodes"):
        resumed = nacre.resume(tmp_path / "run", env=Corridor, steps=2200, progress=False)
    assert resumed.summary["env_steps"] == 2200
