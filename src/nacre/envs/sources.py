"""What a user can hand nacre as an environment, and how nacre makes copies of it.

Four forms (:data:`EnvLike`):

* a registered Gymnasium id (``"CartPole-v1"``);
* Gymnasium's ``"module:Id"`` form: ``module`` is imported first and its import registers ``Id``
  (what ``gymnasium.make`` does with the same string);
* a :class:`gymnasium.Env` instance: one copy, the instance itself;
* a zero-argument callable returning a :class:`gymnasium.Env` (its class, a function …), called
  once per copy.

Each becomes a *maker*, a zero-argument callable returning a new copy, and the mistakes a user
can mend become one-line :class:`~nacre.errors.ConfigError` s here: an unknown id, a module that
does not import, a missing optional dependency, kwargs the env does not take, a callable that
returns something else.
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import re
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

from nacre.errors import ConfigError

GymEnv: TypeAlias = gym.Env[Any, Any]
EnvLike: TypeAlias = str | GymEnv | Callable[[], GymEnv]

# What a run's config.yaml records for an env given as a Python object (see :func:`env_name`).
CUSTOM_PREFIX = "custom:"
# Gymnasium extras that one of nacre's extras installs (pyproject.toml), so that a missing
# dependency is named the way a nacre user installs it.
NACRE_EXTRAS = {"mujoco": "mujoco"}
_EXPECTED = ("a Gymnasium id ('CartPole-v1', or 'module:Id' for an env that module registers), "
             "a gymnasium.Env, or a zero-argument callable returning one")


def env_name(env: EnvLike) -> str:
    """What a run's ``config.yaml`` records as ``env.id``: an id as given; for an instance or a
    callable, ``custom:<module>.<qualname>`` of its class or function, which says what it was
    but cannot remake it (the run is resumed and evaluated by passing ``env=`` again)."""
    if isinstance(env, str):
        return env
    target: object = type(env.unwrapped) if isinstance(env, gym.Env) else env
    while isinstance(target, functools.partial):
        target = target.func
    if not isinstance(target, type | types.FunctionType | types.MethodType):
        target = type(target)  # a callable object: its class says what it is
    return f"{CUSTOM_PREFIX}{target.__module__}.{target.__qualname__}"


def describe(env: EnvLike) -> str:
    """``env`` in messages: its id, or the module and name of its class or function."""
    return env_name(env).removeprefix(CUSTOM_PREFIX)


def maker(env: EnvLike, kwargs: dict[str, Any]) -> Callable[[], GymEnv]:
    """How to make a new copy of ``env`` (an id or a callable; an instance is one copy and has
    no maker: see :class:`Copies`), checked as far as it can be before the first copy."""
    if isinstance(env, str):
        check_id(env)
        return IdMaker(env, kwargs)
    if isinstance(env, gym.Env) or not callable(env):
        raise ConfigError(f"env: expected {_EXPECTED}; got {type(env).__name__} {env!r}")
    if kwargs:
        raise ConfigError(f"env.kwargs: {sorted(kwargs)} apply to an env id; {describe(env)} is "
                          "a Python object already: give it its arguments yourself")
    try:
        inspect.signature(env).bind()
    except TypeError as exc:
        raise ConfigError(f"env: {describe(env)} needs arguments ({exc}): pass a zero-argument "
                          "callable, e.g. functools.partial(f, ...) or lambda: f(...)") from exc
    except ValueError:  # no signature to read (some builtins): calling it will tell
        pass
    return CallableMaker(env, describe(env))


def check_id(env_id: str) -> None:
    """``env_id`` names a registered env; for ``module:Id``, after importing ``module`` as
    ``gymnasium.make`` does."""
    if env_id.startswith(CUSTOM_PREFIX):
        raise ConfigError(f"env.id {env_id!r}: the run's env was a Python object, which its "
                          "config cannot remake: pass it again as env= (nacre.resume, "
                          "nacre.load_run, nacre.evaluate_run)")
    module, _, name = env_id.rpartition(":")
    if ":" in module:
        raise ConfigError(f"env.id {env_id!r}: expected 'Id' or 'module:Id'")
    if module:
        _import(module, env_id)
    if name in gym.registry:
        return
    close = [k for k in gym.registry if k.lower().startswith(name.lower().split("-")[0])]
    similar = f" (similar: {', '.join(sorted(close)[:5])})" if close else ""
    if module:
        raise ConfigError(f"env.id {env_id!r}: module {module!r} was imported but registers "
                          f"no {name!r}{similar}")
    hint = similar or ("; for an env of your own, name the module that registers it "
                       "('module:Id') or pass the env itself (docs/environments.md)")
    raise ConfigError(f"env.id: unknown Gymnasium environment {env_id!r}{hint}")


def _import(module: str, env_id: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError as exc:
        # The module itself not found (rather than something it imports): most often its
        # folder is not on the path, e.g. with the `nacre` script, which does not add the
        # working directory as `python -m` does.
        missing = exc.name is not None and (module + ".").startswith(exc.name + ".")
        hint = ": is its folder on PYTHONPATH?" if missing else ""
        raise ConfigError(f"env.id {env_id!r}: cannot import module {module!r} ({exc}){hint}"
                          ) from exc


def missing_dependency(env: str, exc: gym.error.DependencyNotInstalled) -> str:
    """One line for Gymnasium's ``DependencyNotInstalled``: the nacre extra that installs the
    dependency, else the Gymnasium extra its message names."""
    message = str(exc)
    what, found, _ = message.partition(" is not installed")
    what = what if found and " " not in what else "a dependency that is not installed"
    extra = re.search(r"gymnasium\[([\w-]+)\]", message)
    if extra is None:
        return f"{env} needs {what}: {message}"
    if extra[1] in NACRE_EXTRAS:
        return f'{env} needs {what}: pip install "nacre[{NACRE_EXTRAS[extra[1]]}]"'
    return f'{env} needs {what}: pip install "gymnasium[{extra[1]}]" (Gymnasium: {message})'


@dataclass(frozen=True)
class IdMaker:
    """Copies of a registered env, by ``gymnasium.make`` (picklable, for subprocess copies)."""

    env_id: str
    kwargs: dict[str, Any]

    def __call__(self) -> GymEnv:
        try:
            return gym.make(self.env_id, **self.kwargs)
        except gym.error.DependencyNotInstalled as exc:
            raise ConfigError(missing_dependency(self.env_id, exc)) from exc
        except TypeError as exc:
            # Only a TypeError of the constructor called with these kwargs is theirs; any other
            # (a bug in the env, a space nacre does not support) keeps its own message.
            if self.kwargs and not _takes(self.env_id.rpartition(":")[2], self.kwargs):
                raise ConfigError(f"env.kwargs: {self.env_id} does not accept {self.kwargs}: "
                                  f"{exc}") from exc
            raise


def _takes(env_id: str, kwargs: dict[str, Any]) -> bool:
    """Whether the constructor registered for ``env_id`` takes ``kwargs``."""
    spec = gym.spec(env_id)
    if spec.entry_point is None:
        return True
    creator = spec.entry_point if callable(spec.entry_point) else load_env_creator(
        spec.entry_point)
    try:
        inspect.signature(creator).bind(**{**spec.kwargs, **kwargs})
    except TypeError:
        return False
    except ValueError:  # no signature to read
        return True
    return True


@dataclass(frozen=True)
class CallableMaker:
    """Copies from a user's zero-argument callable, each checked to be a ``gymnasium.Env``."""

    make: Callable[[], Any]
    name: str

    def __call__(self) -> GymEnv:
        try:
            env = self.make()
        except gym.error.DependencyNotInstalled as exc:
            raise ConfigError(missing_dependency(self.name, exc)) from exc
        if not isinstance(env, gym.Env):
            raise ConfigError(f"env: {self.name} returned {type(env).__name__}; expected a "
                              "gymnasium.Env")
        return env


class Copies:
    """Fresh copies of an env instance: deep copies of it as it was when this was made (before
    it took a step)."""

    def __init__(self, env: GymEnv, why: str) -> None:
        try:
            self.pristine = copy.deepcopy(env)
        except Exception as exc:  # whatever the user's objects raise when copied
            raise ConfigError(
                f"env: {why} needs fresh copies of the env instance, and copy.deepcopy of it "
                f"failed ({type(exc).__name__}: {exc}): pass a zero-argument callable that makes "
                "the env (its class, or a function) instead of an instance") from exc

    def __call__(self) -> GymEnv:
        return copy.deepcopy(self.pristine)


class Instance:
    """The maker of an env given as an instance: the instance itself, then (after a fault, with
    ``copies``) fresh copies of it."""

    def __init__(self, env: GymEnv, copies: Copies | None) -> None:
        self.env: GymEnv | None = env
        self.copies = copies

    def __call__(self) -> GymEnv:
        if self.env is not None:
            env, self.env = self.env, None
            return env
        if self.copies is None:
            raise ConfigError("env: an env instance is one copy: pass a zero-argument callable "
                              "for more")
        return self.copies()


__all__ = ["CUSTOM_PREFIX", "NACRE_EXTRAS", "CallableMaker", "Copies", "EnvLike", "IdMaker",
           "Instance", "check_id", "describe", "env_name", "maker", "missing_dependency"]
