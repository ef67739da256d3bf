"""Will this environment train in nacre? (``nacre check-env ID``.)

:func:`check_env` runs Gymnasium's own checker (``gymnasium.utils.env_checker.check_env``: the
API, spaces, seeding and determinism), then nacre's: whether nacre supports the observation and
action spaces, and a few random steps through nacre's adapter, the way training steps the env.
Each check reports pass or fail with advice; the warnings raised along the way are kept as notes
(they do not fail a check). Rendering is not checked: nacre does not render.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env as gymnasium_check_env

from nacre.envs.make import make_env
from nacre.envs.sources import Copies, EnvLike, maker
from nacre.errors import NacreError
from nacre.spaces import check_observation_space, from_gym_action_space

CUSTOM_ENV_GUIDE = "https://gymnasium.farama.org/introduction/create_custom_env/"


@dataclass
class EnvCheck:
    """One check: its name, whether it passed, what was found, and what to do about it."""

    name: str
    passed: bool
    detail: str
    advice: str = ""
    notes: list[str] = field(default_factory=list)


def check_env(env: EnvLike, steps: int = 1000) -> list[EnvCheck]:
    """Check ``env`` (an id, ``module:Id``, an instance or a zero-argument callable), each check
    on a fresh copy; checks that need a working env are skipped once one fails."""
    copies: list[Callable[[], gym.Env[Any, Any]]] = []  # filled by the first check
    first = _check("make", lambda: _made(env, copies))
    if not first.passed:
        return [first]
    make = copies[0]
    gymnasium = _check("gymnasium", lambda: _gymnasium(make))
    spaces = [_check("observation space", lambda: _space(make, "observation")),
              _check("action space", lambda: _space(make, "action"))]
    checks = [first, gymnasium, *spaces]
    if all(c.passed for c in spaces):
        checks.append(_check("nacre steps", lambda: _steps(make, steps)))
    return checks


class _Failed(Exception):
    def __init__(self, detail: str, advice: str = "") -> None:
        super().__init__(detail)
        self.detail, self.advice = detail, advice


def _check(name: str, run: Callable[[], str]) -> EnvCheck:
    """Run one check: it returns what it found, or raises what failed; notes are its
    warnings."""
    passed, advice = False, ""
    with _warnings() as notes:
        try:
            detail, passed = run(), True
        except _Failed as failed:
            detail, advice = failed.detail, failed.advice
        except NacreError as exc:  # already says what to change
            detail = str(exc)
        except Exception as exc:  # the env's own code failed: that is what is being checked
            detail = f"{type(exc).__name__}: {exc}"
    return EnvCheck(name, passed, detail, advice, notes)


@contextmanager
def _warnings() -> Iterator[list[str]]:
    """The warnings raised inside, as one-line notes (Gymnasium colours its own)."""
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield notes
    for w in caught:
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(w.message)).removeprefix("WARN: ")
        if text not in notes:
            notes.append(text)


def _made(given: EnvLike, copies: list[Callable[[], gym.Env[Any, Any]]]) -> str:
    # Gymnasium's checker closes the env it checks: each check gets a copy of its own.
    make = Copies(given, "checking") if isinstance(given, gym.Env) else maker(given, {})
    copies.append(make)
    env = make()
    name = type(env.unwrapped).__name__
    env.close()
    return f"made a {name}"


def _gymnasium(make: Callable[[], gym.Env[Any, Any]]) -> str:
    try:
        # unwrapped, as Gymnasium recommends; nacre does not render, so neither is checked
        gymnasium_check_env(make().unwrapped, skip_render_check=True)
    except AssertionError as exc:
        raise _Failed(f"gymnasium.utils.env_checker.check_env: {exc}",
                      f"see {CUSTOM_ENV_GUIDE}") from exc
    return "gymnasium.utils.env_checker.check_env passed"


def _space(make: Callable[[], gym.Env[Any, Any]], what: str) -> str:
    env = make()
    space = env.observation_space if what == "observation" else env.action_space
    env.close()
    try:
        if what == "observation":
            check_observation_space(space)
        else:
            from_gym_action_space(space)
    except NacreError as exc:
        raise _Failed(str(exc), space_advice(space, what)) from exc
    return f"{space} is supported"


def space_advice(space: gym.Space[Any], what: str) -> str:
    """What to do about a space nacre refuses (empty when there is no standard remedy)."""
    if isinstance(space, gym.spaces.Discrete) and int(space.start) != 0:
        n, start = int(space.n), int(space.start)
        if what == "observation":
            return ("shift it to start at 0: gymnasium.wrappers.TransformObservation(env, "
                    f"lambda obs: obs - {start}, gymnasium.spaces.Discrete({n}))")
        return ("shift it to start at 0: gymnasium.wrappers.TransformAction(env, lambda action: "
                f"action + {start}, gymnasium.spaces.Discrete({n}))")
    if what == "observation" and isinstance(space, gym.spaces.Dict | gym.spaces.Tuple):
        return ("its parts must be Box, Discrete, MultiBinary or MultiDiscrete: encode the "
                "others with gymnasium.wrappers.TransformObservation")
    if what == "observation" and isinstance(space, gym.spaces.MultiDiscrete
                                             | gym.spaces.MultiBinary):
        return "flatten it into a Box: gymnasium.wrappers.FlattenObservation(env)"
    if what == "action" and isinstance(space, gym.spaces.MultiDiscrete | gym.spaces.MultiBinary):
        return "nacre takes 1-D MultiDiscrete / MultiBinary actions: reshape it to one dimension"
    if what == "action" and isinstance(space, gym.spaces.Box):
        return ("give the Box finite low and high: nacre's policies act in [-1, 1] and scale "
                "their actions to the bounds")
    return "see the Spaces section of docs/environments.md"


def _steps(make: Callable[[], gym.Env[Any, Any]], steps: int) -> str:
    """A reset and ``steps`` random actions through nacre's adapter, as training steps it."""
    env = make_env(make, 1, "none")
    other = make()
    space = other.action_space  # to draw random actions from
    other.close()
    space.seed(0)
    obs = env.reset(seed=0)
    shape = obs.shape
    episodes = 0
    try:
        for _ in range(steps):
            result = env.step(np.asarray([space.sample()]))
            if result.obs.shape != shape:
                raise _Failed(f"step returned an observation of shape {result.obs.shape[1:]}; "
                              f"reset, of shape {shape[1:]}")
            if not np.isfinite(result.reward).all():
                raise _Failed(f"step returned the reward {result.reward[0]}",
                              "nacre learns from finite rewards only")
            episodes += len(result.episode_returns)
    finally:
        env.close()
    if not episodes:  # a note, not a failure: random play may just not reach the end
        warnings.warn(f"no episode ended in {steps} random steps: nacre evaluates whole "
                      "episodes, so make sure they end (register the env with "
                      "max_episode_steps, or wrap it in gymnasium.wrappers.TimeLimit)",
                      UserWarning, stacklevel=2)
    return f"reset and {steps} random steps ({episodes} episodes ended)"


__all__ = ["EnvCheck", "check_env", "space_advice"]
