"""A user's own environment (issue #12): the four forms make_env takes, and the one-line errors
for what a user can mend."""

import functools
import importlib
import os
import subprocess
import sys
import threading
import tomllib
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import nacre
from nacre.envs.gym import GymEnv, GymVectorEnv
from nacre.envs.sources import NACRE_EXTRAS, env_name, missing_dependency
from nacre.envs.sync import SyncEnvs
from nacre.errors import ConfigError, SpaceError
from nacre.train.run import default_run_dir, with_env

ROOT = Path(__file__).resolve().parents[2]
MODULE_ID = "tiny_corridor:TinyCorridor-v0"


def corridor(user_envs: Path) -> Any:
    """The user's env class (its module imported from ``user_envs``)."""
    return importlib.import_module("tiny_corridor").Corridor


def _steps_through(env: nacre.envs.Env, steps: int = 30) -> int:
    """Steps ``env`` stepping right; the number of episodes that ended."""
    env.reset(seed=0)
    ended = 0
    for _ in range(steps):
        ended += len(env.step(np.ones(env.num_envs, dtype=np.int64)).episode_returns)
    env.close()
    return ended


def test_the_four_forms_make_working_envs(user_envs: Path) -> None:
    Corridor = corridor(user_envs)
    assert isinstance(nacre.make_env(MODULE_ID), GymEnv)  # imports the module, as gym.make does
    assert isinstance(nacre.make_env("TinyCorridor-v0"), GymEnv)  # registered by that import
    assert isinstance(nacre.make_env(Corridor()), GymEnv)
    assert isinstance(nacre.make_env(Corridor, num_envs=3), SyncEnvs)
    assert isinstance(nacre.make_env(lambda: Corridor(length=4), num_envs=2, max_faults=2),
                      SyncEnvs)
    # stepping right reaches the end of the 8 cells every 7 steps
    assert _steps_through(nacre.make_env(Corridor())) == 4
    assert _steps_through(nacre.make_env(Corridor, num_envs=3)) == 12


def test_async_copies_of_a_callable_and_a_module_id(user_envs: Path) -> None:
    Corridor = corridor(user_envs)
    for env in (functools.partial(Corridor, length=8), MODULE_ID):
        made = nacre.make_env(env, num_envs=2, vectorization="async", max_faults=2)
        assert isinstance(made, GymVectorEnv)
        assert _steps_through(made) == 8


def test_async_needs_a_picklable_callable(user_envs: Path) -> None:
    Corridor, lock = corridor(user_envs), threading.Lock()

    def make() -> gym.Env:  # type: ignore[type-arg]
        with lock:
            return Corridor()  # type: ignore[no-any-return]

    with pytest.raises(ConfigError, match="'async' sends .*make to subprocesses, and it cannot "
                       "be pickled .*_thread.lock.*use vectorization 'sync'"):
        nacre.make_env(make, num_envs=2, vectorization="async")


def test_an_instance_is_one_copy(user_envs: Path) -> None:
    Corridor = corridor(user_envs)
    with pytest.raises(ConfigError, match="an env instance is one copy; for env.num_envs = 4 "
                       "pass a zero-argument callable .*its class, Corridor"):
        nacre.make_env(Corridor(), num_envs=4)
    with pytest.raises(ConfigError, match="for vectorization 'async'"):
        nacre.make_env(Corridor(), vectorization="async")
    with pytest.raises(ConfigError, match=r"env.kwargs: \['length'\] apply to an env id"):
        nacre.make_env(Corridor(), length=3)


class _Flaky(gym.Wrapper):  # type: ignore[type-arg]
    """Raises on the next step once ``fail`` is set."""

    fail = False

    def step(self, action: Any) -> Any:
        if self.fail:
            raise RuntimeError("simulator crashed")
        return self.env.step(action)


def test_an_instance_is_made_anew_from_a_copy_taken_before_it_stepped(
        user_envs: Path) -> None:
    flaky = _Flaky(corridor(user_envs)())
    env = nacre.make_env(flaky, max_faults=2)
    env.reset(seed=0)
    flaky.fail = True  # after make_env took its copy: the copy does not fail
    result = env.step(np.ones(1, dtype=np.int64))
    assert result.truncated[0] and "simulator crashed" in result.faults[0]
    assert _steps_through(env) == 4


@pytest.mark.parametrize(("bad", "message"), [
    (3, "env: expected a Gymnasium id .* a gymnasium.Env, or a zero-argument callable "
        "returning one; got int 3"),
    (lambda: 3, "env: .*<lambda> returned int; expected a gymnasium.Env"),
    (lambda size: None, "env: .*<lambda> needs arguments .*'size'.*: pass a zero-argument "
                        "callable"),
])
def test_what_is_not_an_env_is_refused_in_one_line(bad: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        nacre.make_env(bad)
    assert "\n" not in str(caught.value)


def test_a_module_that_does_not_import_is_named(user_envs: Path) -> None:
    with pytest.raises(ConfigError, match=r"env.id 'no_such_envs:Corridor-v0': cannot import "
                       r"module 'no_such_envs' \(No module named 'no_such_envs'\): is its folder "
                       "on PYTHONPATH"):
        nacre.make_env("no_such_envs:Corridor-v0")
    (user_envs / "broken_envs.py").write_text("import no_such_dependency\n")
    with pytest.raises(ConfigError, match=r"cannot import module 'broken_envs' \(No module "
                       r"named 'no_such_dependency'\)$"):
        nacre.make_env("broken_envs:Corridor-v0")


def test_a_module_that_does_not_register_the_id(user_envs: Path) -> None:
    with pytest.raises(ConfigError, match="module 'tiny_corridor' was imported but registers no "
                       r"'TinyCorridor-v9' \(similar: TinyCorridor-v0\)"):
        nacre.make_env("tiny_corridor:TinyCorridor-v9")
    with pytest.raises(ConfigError, match="unknown Gymnasium environment 'MyOwnEnv-v0'; for an "
                       r"env of your own, name the module that registers it \('module:Id'\)"):
        nacre.make_env("MyOwnEnv-v0")


class _Refused(gym.Env):  # type: ignore[type-arg]
    """A space nacre refuses (with SpaceError, a TypeError) when its adapter is made."""

    observation_space = gym.spaces.Discrete(2, start=1)
    action_space = gym.spaces.Discrete(2)


class _BuggyInit(gym.Env):  # type: ignore[type-arg]
    def __init__(self, size: int = 3) -> None:
        raise TypeError("a bug inside the constructor")


@pytest.fixture
def registered() -> Any:
    ids = {"nacre-test/Refused-v0": _Refused, "nacre-test/BuggyInit-v0": _BuggyInit}
    for env_id, entry_point in ids.items():
        gym.register(env_id, entry_point=entry_point)
    yield
    for env_id in ids:
        del gym.registry[env_id]


def test_a_type_error_is_blamed_on_env_kwargs_only_when_they_do_not_fit(registered: Any) -> None:
    with pytest.raises(ConfigError, match=r"env.kwargs: CartPole-v1 does not accept \{'foo': 1\}"):
        nacre.make_env("CartPole-v1", foo=1)
    for env in ("nacre-test/Refused-v0", _Refused):  # a space nacre refuses is not a kwargs error
        with pytest.raises(SpaceError, match="observation spaces must start at 0"):
            nacre.make_env(env)
    with pytest.raises(TypeError, match="a bug inside the constructor") as caught:
        nacre.make_env("nacre-test/BuggyInit-v0", size=4)  # the kwargs fit: the bug is the env's
    assert not isinstance(caught.value, ConfigError)


def _without_mujoco(monkeypatch: pytest.MonkeyPatch) -> None:
    """Gymnasium's MuJoCo envs as they import where MuJoCo is not installed."""
    monkeypatch.setitem(sys.modules, "mujoco", None)  # `import mujoco` raises ImportError
    # the package too: imported again, it imports its modules in the order a fresh process does
    for name in [m for m in sys.modules if m == "gymnasium.envs.mujoco"
                 or m.startswith("gymnasium.envs.mujoco.")]:
        monkeypatch.delitem(sys.modules, name)


def test_a_missing_dependency_names_nacres_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _without_mujoco(monkeypatch)
    with pytest.raises(ConfigError) as caught:
        nacre.make_env("Hopper-v5")
    assert str(caught.value) == 'Hopper-v5 needs MuJoCo: pip install "nacre[mujoco]"'
    with pytest.raises(ConfigError, match=r'^Hopper-v5 needs MuJoCo: pip install "nacre\[mujoco'):
        nacre.make_env("Hopper-v5", num_envs=2, vectorization="async")


def test_a_dependency_without_a_nacre_extra_names_gymnasiums() -> None:
    box2d = gym.error.DependencyNotInstalled(
        'Box2D is not installed, you can install it by run `pip install swig` followed by '
        '`pip install "gymnasium[box2d]"`')
    assert missing_dependency("LunarLander-v3", box2d).startswith(
        'LunarLander-v3 needs Box2D: pip install "gymnasium[box2d]" (Gymnasium: Box2D is not '
        "installed, you can install it by run `pip install swig`")

    def no_pygame() -> gym.Env:  # type: ignore[type-arg]
        raise gym.error.DependencyNotInstalled(
            'pygame is not installed, run `pip install "gymnasium[classic-control]"`')

    with pytest.raises(ConfigError, match=r'needs pygame: pip install "gymnasium\[classic-con'):
        nacre.make_env(no_pygame)


def test_nacres_extras_install_the_gymnasium_extras_they_stand_for() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for gymnasium_extra, nacre_extra in NACRE_EXTRAS.items():
        assert any(req.startswith(f"gymnasium[{gymnasium_extra}]")
                   for req in extras[nacre_extra])


def test_the_cli_reports_a_missing_dependency_in_one_line(tmp_path: Path) -> None:
    script = ("import sys; sys.modules['mujoco'] = None; from nacre.cli import main; "
              f"sys.exit(main(['train', 'hopper-ppo', '--steps', '64', '--out', "
              f"{str(tmp_path / 'run')!r}]))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=dict(os.environ), timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == 'nacre: error: Hopper-v5 needs MuJoCo: pip install "nacre[mujoco]"\n'
    assert not (tmp_path / "run").exists()


def test_what_a_run_records_for_each_form(user_envs: Path) -> None:
    Corridor = corridor(user_envs)

    class Factory:
        def __call__(self) -> gym.Env:  # type: ignore[type-arg]
            return Corridor()  # type: ignore[no-any-return]

    assert env_name(MODULE_ID) == MODULE_ID
    assert env_name(Corridor()) == "custom:tiny_corridor.Corridor"
    assert env_name(gym.wrappers.TimeLimit(Corridor(), 5)) == "custom:tiny_corridor.Corridor"
    assert env_name(Corridor) == "custom:tiny_corridor.Corridor"
    assert env_name(functools.partial(Corridor, length=3)) == "custom:tiny_corridor.Corridor"
    assert env_name(Factory()).endswith("test_what_a_run_records_for_each_form.<locals>.Factory")
    cfg = nacre.load_preset("cartpole-dqn")
    assert with_env(cfg, MODULE_ID) == (nacre.RunConfig.from_dict(
        {**cfg.to_dict(), "env": {**cfg.to_dict()["env"], "id": MODULE_ID}}), None)
    recorded, custom = with_env(cfg, Corridor)
    assert recorded.env.id == "custom:tiny_corridor.Corridor" and custom is Corridor
    for env_id, name in [(MODULE_ID, "TinyCorridor-v0"), ("custom:tiny_corridor.Corridor",
                                                          "Corridor")]:
        named = nacre.RunConfig.from_dict({**cfg.to_dict(), "env": {"id": env_id}})
        assert default_run_dir("x.yaml", named, "s0").name.startswith(f"{name}-s0-")


def test_a_run_of_a_python_object_asks_for_env_again() -> None:
    with pytest.raises(ConfigError, match="env.id 'custom:tiny_corridor.Corridor': the run's env "
                       "was a Python object, which its config cannot remake: pass it again as "
                       "env="):
        nacre.make_env("custom:tiny_corridor.Corridor")
