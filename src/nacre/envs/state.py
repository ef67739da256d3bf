"""Capture and restore the state of simple Gymnasium environments, without pickle.

Exact resume needs the environments to continue where they stopped. Most environments keep their
state in plain attributes (NumPy arrays, numbers) plus a NumPy random generator, on the unwrapped
env and on wrappers such as ``TimeLimit``. This module walks the wrapper chain and records exactly
those attributes as JSON. Environments whose state lives elsewhere (simulators with C state,
subprocess vector envs) report ``None`` and the training loop starts fresh episodes instead.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

_SCALARS = (bool, int, float, str, type(None))


def generator_state(generator: np.random.Generator) -> dict[str, Any]:
    """A NumPy generator's state as JSON (its bit generator's name and counters)."""
    return dict(generator.bit_generator.state)


def generator_from_state(saved: dict[str, Any],
                         current: np.random.Generator | None = None) -> np.random.Generator:
    """The generator :func:`generator_state` described (``current`` is reused when given)."""
    if current is None:  # never seeded in this process
        current = np.random.Generator(getattr(np.random, saved["bit_generator"])())
    current.bit_generator.state = saved
    return current


def _encode(value: Any) -> Any:
    if isinstance(value, np.random.Generator):
        return {"__generator__": generator_state(value)}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype), "shape": value.shape}
    if isinstance(value, np.generic):
        return {"__npscalar__": value.item(), "dtype": str(value.dtype)}
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, tuple | list) and all(isinstance(v, _SCALARS) for v in value):
        return {"__seq__": list(value), "tuple": isinstance(value, tuple)}
    raise TypeError


def _decode(current: Any, value: Any) -> Any:
    if isinstance(value, dict):
        if "__generator__" in value:
            return generator_from_state(
                value["__generator__"],
                current if isinstance(current, np.random.Generator) else None)
        if "__ndarray__" in value:
            return np.array(value["__ndarray__"], dtype=value["dtype"]).reshape(value["shape"])
        if "__npscalar__" in value:
            return np.dtype(value["dtype"]).type(value["__npscalar__"])
        if "__seq__" in value:
            return tuple(value["__seq__"]) if value["tuple"] else list(value["__seq__"])
    return value


def _layers(env: Any) -> list[Any]:
    layers = []
    while True:
        layers.append(env)
        inner = getattr(env, "env", None)
        if inner is None or inner is env:
            return layers
        env = inner


def _capture_object(obj: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for key, value in vars(obj).items():
        try:
            attrs[key] = _encode(value)
        except TypeError:
            continue
    return attrs


# Environments whose whole dynamic state is plain attributes (checked by reading their source):
# only these are resumed mid-episode. Anything else (simulators, Box2D bodies, user envs with
# object-valued state) resumes with fresh episodes rather than from a silently partial state.
_SAFE_MODULES = ("gymnasium.envs.classic_control.", "gymnasium.envs.toy_text.",
                 "nacre.testing.")
_SAFE_WRAPPERS = ("TimeLimit", "OrderEnforcing", "PassiveEnvChecker")


def _capturable(env: Any) -> bool:
    *wrappers, base = _layers(env)
    return all(type(w).__name__ in _SAFE_WRAPPERS for w in wrappers) and (
        type(base).__module__.startswith(_SAFE_MODULES)
    )


def capture_env_state(env: gym.Env[Any, Any]) -> list[dict[str, Any]] | None:
    """JSON-able state of every layer of a (wrapped) Gymnasium env; None when the env's state
    cannot be captured completely."""
    if not _capturable(env):
        return None
    return [{"class": type(layer).__name__, "attrs": _capture_object(layer)} for layer in
            _layers(env)]


def restore_env_state(env: gym.Env[Any, Any], state: list[dict[str, Any]]) -> bool:
    """Restore :func:`capture_env_state` output; False if the wrapper chain does not match."""
    layers = _layers(env)
    if [type(layer).__name__ for layer in layers] != [s["class"] for s in state]:
        return False
    for layer, saved in zip(layers, state, strict=True):
        for key, value in saved["attrs"].items():
            setattr(layer, key, _decode(getattr(layer, key, None), value))
    return True


def capture_object_state(obj: Any) -> dict[str, Any]:
    """The plain attributes of one object (arrays, numbers, generators)."""
    return _capture_object(obj)


def restore_object_state(obj: Any, attrs: dict[str, Any]) -> None:
    for key, value in attrs.items():
        setattr(obj, key, _decode(getattr(obj, key, None), value))
