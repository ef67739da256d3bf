"""Environments that raise: the episode ends as truncated, the env is made anew, the fault is
counted and logged; too many in a row stop the run with a checkpoint, a summary and a typed
error."""

import json
import logging
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.classic_control import CartPoleEnv

import nacre
from nacre.cli import main
from nacre.envs.gym import GymEnv
from nacre.envs.sync import SyncEnvs
from nacre.errors import ConfigError, EnvFaultError
from nacre.train.checkpoint import latest_checkpoint, read_state


class FaultyCartPole(CartPoleEnv):
    """CartPole whose first instance (with ``each``: every instance) raises in its 137th step
    (``fail_at``) and, with ``always``, every instance raises in every step."""

    made = 0

    def __init__(self, fail_at: int = 137, always: bool = False, each: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        FaultyCartPole.made += 1
        self.instance = FaultyCartPole.made
        self.fail_at, self.always, self.each, self.steps = fail_at, always, each, 0

    def step(self, action: Any) -> Any:
        self.steps += 1
        if self.always or ((self.instance == 1 or self.each) and self.steps == self.fail_at):
            raise RuntimeError(f"simulator crashed at step {self.steps}")
        return super().step(action)


ENV_ID = "nacre-test/FaultyCartPole-v0"
if ENV_ID not in gym.registry:
    gym.register(ENV_ID, entry_point=FaultyCartPole, max_episode_steps=500)

SMALL = ["network.hidden=[16]", "train.learning_starts=100", "train.train_freq=16",
         "train.gradient_steps=4", "train.eval_every=0", "train.eval_episodes=1",
         "train.log_every=100", "buffer.capacity=1000", f"env.id={ENV_ID}"]


@pytest.fixture(autouse=True)
def _count_from_zero() -> None:
    FaultyCartPole.made = 0


def test_a_step_that_raises_ends_the_episode_truncated_and_makes_a_new_env(
        caplog: pytest.LogCaptureFixture) -> None:
    env = nacre.make_env(ENV_ID, max_faults=3)
    assert isinstance(env, GymEnv)
    obs = env.reset(seed=0)
    first = env.env.unwrapped
    for _ in range(136):
        obs = env.step(np.array([0])).obs
    assert env.env.unwrapped is first  # still the first instance
    with caplog.at_level(logging.WARNING, logger="nacre"):
        result = env.step(np.array([0]))
    assert env.env.unwrapped is not first  # made anew
    assert result.truncated.tolist() == [True] and result.terminated.tolist() == [False]
    assert np.array_equal(result.next_obs, obs) and result.reward.tolist() == [0.0]
    assert len(result.faults) == 1 and "simulator crashed at step 137" in result.faults[0]
    assert "simulator crashed" in caplog.text
    assert result.episode_returns  # the cut episode is reported
    assert env.step(np.array([1])).faults == ()  # the new env steps normally


def test_without_fault_tolerance_the_exception_propagates() -> None:
    env = nacre.make_env(ENV_ID, fail_at=1)
    env.reset(seed=0)
    with pytest.raises(RuntimeError, match="simulator crashed"):
        env.step(np.array([0]))


def test_faults_in_a_row_raise_a_typed_error() -> None:
    env = nacre.make_env(ENV_ID, max_faults=3, always=True)
    env.reset(seed=0)
    assert env.step(np.array([0])).faults  # 1st
    assert env.step(np.array([0])).faults  # 2nd
    with pytest.raises(EnvFaultError, match="3 times in a row.*simulator crashed"):
        env.step(np.array([0]))


def test_in_a_batch_only_the_failing_copy_is_made_anew() -> None:
    env = nacre.make_env(ENV_ID, num_envs=4, max_faults=3)
    assert isinstance(env, SyncEnvs)
    env.reset(seed=0)
    others = [e.unwrapped for e in env.envs[1:]]
    first = env.envs[0].unwrapped
    faults: list[str] = []
    for _ in range(137):
        result = env.step(np.zeros(4, dtype=np.int64))
        faults += result.faults
        if result.faults:
            assert result.truncated[0] and not result.terminated[0]
    assert len(faults) == 1 and faults[0].startswith("env 0:")
    assert env.envs[0].unwrapped is not first
    # the others ended episodes of their own (CartPole falls) but were never made anew
    assert [e.unwrapped for e in env.envs[1:]] == others


def test_a_training_run_survives_a_fault_and_counts_it(tmp_path: Path) -> None:
    result = nacre.train("cartpole-dqn", steps=600, out=tmp_path / "run", progress=False,
                         overrides=[*SMALL, "env.kwargs={fail_at: 137}"])
    assert result.summary["env_steps"] == 600 and result.summary["env_faults"] == 1
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().split("\n")
            if x]
    # counted from the row after the fault on (the last row is the final evaluation's)
    assert [r.get("env/faults") for r in rows if "grad_steps" in r] == [None] + [1] * 5


def test_a_run_whose_env_keeps_failing_stops_with_checkpoint_summary_and_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code = main(["train", "cartpole-dqn", "--steps", "600", "--out", str(out), "--no-progress",
                 "--set", *SMALL, "env.kwargs={fail_at: 150, always: false}",
                 "env.max_faults=1"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("nacre: error: the environment failed once (env.max_faults: 1)")
    assert err.count("\n") == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["env_steps"] == 149 and summary["env_faults"] == 0
    state = read_state(latest_checkpoint(out))
    assert state.agent["env_steps"] == 149 and state.extra["env_state"] is None
    # once mended (here: a config without the fault), the run resumes
    config = (out / "config.yaml").read_text().replace("fail_at: 150", "fail_at: 100000")
    (out / "config.yaml").write_text(config)
    with pytest.warns(UserWarning, match="fresh episodes"):
        assert nacre.resume(out, progress=False).summary["env_steps"] == 600


def test_max_faults_must_not_be_negative() -> None:
    with pytest.raises(ConfigError, match="max_faults"):
        nacre.load_preset("cartpole-dqn").with_overrides(["env.max_faults=-1"])


def test_subprocess_copies_survive_their_faults_and_report_them() -> None:
    from nacre.envs.gym import GymVectorEnv

    # every instance crashes at its own 5th step: both copies at once, their new ones 5 later
    env = nacre.make_env(ENV_ID, num_envs=2, vectorization="async", max_faults=3, fail_at=5,
                         each=True)
    assert isinstance(env, GymVectorEnv)
    try:
        env.reset(seed=0)
        before = [env.step(np.zeros(2, dtype=np.int64)) for _ in range(4)]
        result = env.step(np.zeros(2, dtype=np.int64))
        assert [f.split(":")[0] for f in result.faults] == ["env 0", "env 1"]
        assert "simulator crashed at step 5" in result.faults[0]
        assert result.truncated.tolist() == [True, True] and result.reward.tolist() == [0, 0]
        assert np.array_equal(result.next_obs, before[-1].obs)  # the last observation seen
        assert all(not env.step(np.zeros(2, dtype=np.int64)).faults for _ in range(4))
        assert len(env.step(np.zeros(2, dtype=np.int64)).faults) == 2
    finally:
        env.close()


def test_subprocess_copies_failing_in_a_row_raise_the_typed_error() -> None:
    env = nacre.make_env(ENV_ID, num_envs=2, vectorization="async", max_faults=2, always=True)
    try:
        env.reset(seed=0)
        assert env.step(np.zeros(2, dtype=np.int64)).faults
        with pytest.raises(EnvFaultError, match="2 times in a row"):
            env.step(np.zeros(2, dtype=np.int64))
    finally:
        env.close()


def test_a_run_on_subprocess_copies_that_keep_failing_stops_with_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code = main(["train", "cartpole-dqn", "--steps", "600", "--out", str(out), "--no-progress",
                 "--set", *SMALL, "env.num_envs=2", "env.vectorization=async",
                 "env.kwargs={fail_at: 50, each: true}", "env.max_faults=1"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("nacre: error: env 0: the environment failed once") and err.count(
        "\n") == 1, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["env_steps"] == 2 * 49
