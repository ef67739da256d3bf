"""Regression tests for defects found in review."""

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

import nacre
from nacre.config import yaml_io
from nacre.data import StepBatch
from nacre.envs import GymEnv
from nacre.envs.state import capture_env_state
from nacre.errors import ConfigError, InputError, SpaceError


class _Float64Obs(gym.Env):  # type: ignore[type-arg]
    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), dtype=np.float64)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: Any = None):  # type: ignore[no-untyped-def]
        super().reset(seed=seed)
        self.t = 0
        self.state = np.zeros(3)
        return self.state, {}

    def step(self, action):  # type: ignore[no-untyped-def]
        self.t += 1
        self.state += 0.1  # mutated in place: the adapter must copy
        return self.state, 1.0, False, self.t >= 5, {}


@pytest.mark.filterwarnings("ignore:.*share an object")
def test_float64_observations_train_with_autograd_fallback() -> None:
    if "nacre-test/F64-v0" not in gym.registry:
        gym.register("nacre-test/F64-v0", entry_point=_Float64Obs)
    cfg = nacre.RunConfig.from_dict(yaml_io.loads("""
env: {id: nacre-test/F64-v0}
learner: {name: dqn}
network: {name: mlp, hidden: [8]}
train: {steps: 80, learning_starts: 10, batch_size: 8}
"""))
    run = nacre.build(cfg)
    result = nacre.fit(run.agent, run.env, cfg.train, progress=False)
    assert result.summary["env_steps"] == 80
    buf = run.agent.buffer
    assert buf is not None
    batch = buf.sample(32)
    assert not torch.equal(batch.obs, batch.next_obs)  # no aliasing of the env's array


def test_unknown_envs_are_not_resumed_mid_episode() -> None:
    env = GymEnv(gym.make("nacre-test/F64-v0") if "nacre-test/F64-v0" in gym.registry
                 else _Float64Obs())
    assert capture_env_state(env.env) is None
    assert env.get_state() is None
    assert nacre.make_env("CartPole-v1").get_state() is not None


def test_evaluate_refuses_a_vector_env() -> None:
    run = nacre.build(nacre.load_preset("cartpole-dqn"))
    with pytest.raises(InputError, match="num_envs=2"):
        nacre.evaluate(run.agent, nacre.make_env("CartPole-v1", num_envs=2), 2, seed=0)


def test_discrete_observations_must_start_at_zero() -> None:
    class Shifted(gym.Env):  # type: ignore[type-arg]
        observation_space = gym.spaces.Discrete(5, start=1)
        action_space = gym.spaces.Discrete(2)

    with pytest.raises(SpaceError, match="start at 0"):
        GymEnv(Shifted())


def test_bad_values_are_config_errors() -> None:
    base = nacre.load_preset("cartpole-dqn")
    with pytest.raises(ConfigError, match=r"learner\.gamma: must be in \[0, 1\]"):
        base.with_overrides(["learner.gamma=1.5"])
    with pytest.raises(ConfigError, match="train.device"):
        nacre.build(base.with_overrides(["train.device=gpu"]))
    with pytest.raises(ConfigError, match="env.kwargs"):
        nacre.build(base.with_overrides(["env.kwargs={no_such_arg: 1}"]))


def test_sarsa_can_start_learning_immediately() -> None:
    cfg = nacre.load_preset("cartpole-dqn").with_overrides(
        ["learner.name=sarsa", "buffer.name=sarsa", "train.learning_starts=0",
         "train.train_freq=1", "train.gradient_steps=1", "network.hidden=[8]",
         "train.learn_threads=1"])
    run = nacre.build(cfg)
    train = cfg.train.__class__(**{**cfg.train.__dict__, "steps": 20, "eval_every": 0})
    assert nacre.fit(run.agent, run.env, train, progress=False).summary["env_steps"] == 20


def test_cut_episodes_stop_n_step_returns() -> None:
    buf = nacre.ReplayBuffer(capacity=16, n_step=3, gamma=1.0, seed=0)
    for t in range(2):
        buf.add(StepBatch(
                np.full((1, 1), t, np.float32), np.array([0]), np.array([1.0], np.float32),
                np.full((1, 1), t + 1, np.float32), np.array([False]), np.array([False])))
    buf.mark_episodes_cut()
    for t in range(2):
        buf.add(StepBatch(np.full((1, 1), 100 + t, np.float32), np.array([0]),
                np.array([10.0], np.float32), np.full((1, 1), 101 + t, np.float32),
                np.array([False]), np.array([False])))
    batch = buf.sample(200)
    first = batch.obs[:, 0] == 0
    assert torch.all(batch.reward[first] == 2.0)  # 1 + 1, not + 10 from the next episode
    assert torch.all(batch.next_obs[first, 0] == 2.0)


def test_failed_resume_keeps_the_config_and_truncated_metrics_are_tolerated(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "r"
    nacre.train("cartpole-dqn", steps=300, out=run_dir, progress=False,
                overrides=["train.learning_starts=100", "network.hidden=[8]",
                           "train.learn_threads=1"])
    before = (run_dir / "config.yaml").read_text()
    with pytest.raises(ConfigError, match="already at 300"):
        nacre.resume(run_dir, steps=100)
    assert (run_dir / "config.yaml").read_text() == before
    with open(run_dir / "metrics.jsonl", "a") as fh:
        fh.write('{"env_steps": 3')  # a line cut short by a hard kill
    assert nacre.resume(run_dir, steps=400).summary["env_steps"] == 400
