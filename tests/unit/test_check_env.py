"""``nacre check-env``: Gymnasium's checker, nacre's spaces and steps, with advice."""

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from nacre.cli import main
from nacre.envs import check_env
from nacre.envs.env_checker import space_advice


class _Unsupported(gym.Env):  # type: ignore[type-arg]
    """Passes Gymnasium's checker; nacre refuses both spaces: Discrete ones that do not start at
    0."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Discrete(5, start=1)
        self.action_space = gym.spaces.Discrete(3, start=1)
        self.state = 1

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        self.state = 1
        return self.state, {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        self.state = min(5, self.state + int(action))  # actions 1..3, states 1..5
        return self.state, 1.0, self.state == 5, False, {}


class _Endless(gym.Env):  # type: ignore[type-arg]
    """Fine, except that its episodes never end."""

    metadata: dict[str, Any] = {"render_modes": []}
    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        return np.zeros(1, np.float32), 0.0, False, False, {}


class _BadReset(_Endless):
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        return np.zeros(3, np.float32), {}  # not in the observation space


def test_a_good_env_passes_every_check(user_envs: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    assert main(["check-env", "tiny_corridor:TinyCorridor-v0", "--steps", "200"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out[:-1]] == [
        "pass  make", "pass  gymnasium", "pass  observation space", "pass  action space",
        "pass  nacre steps"]
    assert out[-1] == "tiny_corridor:TinyCorridor-v0: every check passed"


def test_unsupported_spaces_fail_with_advice(capsys: pytest.CaptureFixture[str]) -> None:
    gym.register("nacre-test/Unsupported-v0", entry_point=_Unsupported)
    try:
        assert main(["check-env", "nacre-test/Unsupported-v0"]) == 1
    finally:
        del gym.registry["nacre-test/Unsupported-v0"]
    out = capsys.readouterr().out
    assert "pass  gymnasium" in out
    assert "FAIL  observation space: Discrete observation spaces must start at 0" in out
    assert ("advice: shift it to start at 0: gymnasium.wrappers.TransformObservation(env, "
            "lambda obs: obs - 1, gymnasium.spaces.Discrete(5))") in out
    assert "FAIL  action space: Discrete action spaces must start at 0" in out
    assert ("advice: shift it to start at 0: gymnasium.wrappers.TransformAction(env, lambda "
            "action: action + 1, gymnasium.spaces.Discrete(3))") in out
    assert "nacre steps" not in out  # nothing to step with
    assert out.endswith("nacre-test/Unsupported-v0: 2 checks failed\n")


def test_the_advice_works() -> None:
    """The wrappers the advice names make the env pass."""
    env = gym.wrappers.TransformObservation(_Unsupported(), lambda obs: obs - 1,
                                            gym.spaces.Discrete(5))
    env = gym.wrappers.TransformAction(env, lambda action: action + 1, gym.spaces.Discrete(3))
    checks = check_env(env, steps=50)
    assert all(c.passed for c in checks), checks
    md_obs = gym.spaces.MultiDiscrete([3, 2])
    assert space_advice(md_obs, "observation") == (
        "flatten it into a Box: gymnasium.wrappers.FlattenObservation(env)")
    assert "Box, Discrete, MultiBinary or MultiDiscrete" in space_advice(
        gym.spaces.Dict({"text": gym.spaces.Text(4)}), "observation")


def test_dict_observations_and_multidiscrete_actions_pass() -> None:
    import nacre.testing.spaces_envs  # noqa: F401

    for env_id in ("DictCue-v0", "TupleCue-v0", "MultiDiscreteMatch-v0", "ImageCue-v0"):
        checks = check_env(env_id, steps=50)
        assert all(c.passed for c in checks), (env_id, checks)


def test_gymnasium_failures_and_notes_are_reported() -> None:
    checks = {c.name: c for c in check_env(_BadReset)}
    assert not checks["gymnasium"].passed
    assert "observation" in checks["gymnasium"].detail
    assert "create_custom_env" in checks["gymnasium"].advice
    endless = {c.name: c for c in check_env(_Endless(), steps=100)}
    assert all(c.passed for c in endless.values())  # a note, not a failure
    assert any("no episode ended in 100 random steps" in n for n in endless["nacre steps"].notes)


def test_an_env_that_cannot_be_made_fails_the_first_check(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-env", "no_such_envs:Corridor-v0"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL  make: env.id 'no_such_envs:Corridor-v0': cannot import module")
