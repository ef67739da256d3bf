"""Capture and restore the state of simple Gymnasium environments, without pickle.

Exact resume needs the environments to continue where they stopped. Most environments keep their
state in plain attributes (NumPy arrays, numbers) plus a NumPy random generator, on the unwrapped
env and on wrappers such as ``TimeLimit``. This module walks the wrapper chain and records exactly
those attributes as JSON. Environments whose state lives elsewhere (simulators with C state,
subprocess vector envs) report ``None`` and the training loop starts fresh episodes instead.

Restoring trusts nothing in the file: only environment types on an allow-list are restored; an
attribute is set only if the live object (restored into after a reset) already has it or its
class declares it; an array keeps the dtype and shape it has (or, where it is still unset, gets a
numeric dtype and a shape its data fills exactly); and a random generator keeps its own bit
generator.
Anything else is a ``ValueError`` naming the attribute.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

_SCALARS = (bool, int, float, str, type(None))


def generator_state(generator: np.random.Generator) -> dict[str, Any]:
    """A NumPy generator's state as JSON (its bit generator's name and counters)."""
    return dict(generator.bit_generator.state)


# The bit generators a saved state may name (never looked up by a name from the file).
_BIT_GENERATORS: dict[str, type[np.random.BitGenerator]] = {
    "PCG64": np.random.PCG64, "PCG64DXSM": np.random.PCG64DXSM, "MT19937": np.random.MT19937,
    "Philox": np.random.Philox, "SFC64": np.random.SFC64,
}
# Array dtypes an environment's state may hold.
_DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                     "uint64", "float16", "float32", "float64"})


def generator_from_state(saved: dict[str, Any],
                         current: np.random.Generator | None = None) -> np.random.Generator:
    """The generator :func:`generator_state` described (``current`` is reused when given and
    must have the same kind of bit generator). ValueError if ``saved`` is not a valid state."""
    if not isinstance(saved, dict) or saved.get("bit_generator") not in _BIT_GENERATORS:
        raise ValueError(f"not a generator state of {sorted(_BIT_GENERATORS)}")
    kind = saved["bit_generator"]
    if current is None:  # never seeded in this process
        current = np.random.Generator(_BIT_GENERATORS[kind]())
    elif type(current.bit_generator).__name__ != kind:
        raise ValueError(f"a {kind} state for a {type(current.bit_generator).__name__} generator")
    try:
        current.bit_generator.state = saved
    except (TypeError, KeyError) as exc:
        raise ValueError(f"malformed {kind} state: {exc!r}") from exc
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
    """The value ``value`` encodes, for an attribute whose live value is ``current``: of the
    same kind (and an array of the same dtype and shape) unless ``current`` is still None.
    None is always accepted: the attribute was not set yet (or cleared) when the state was
    saved."""
    if value is None:
        return None
    if isinstance(current, np.random.Generator):
        if not (isinstance(value, dict) and "__generator__" in value):
            raise ValueError("a random generator must stay a random generator")
        return generator_from_state(value["__generator__"], current)
    decoded = _decode_new(value)
    if current is None or isinstance(current, _SCALARS) and isinstance(decoded, _SCALARS):
        return decoded
    if isinstance(current, np.ndarray):
        if not (isinstance(decoded, np.ndarray) and decoded.dtype == current.dtype
                and decoded.shape == current.shape):
            raise ValueError(f"must stay a {current.dtype} array of shape {current.shape}")
    elif type(decoded) is not type(current):
        raise ValueError(f"must stay a {type(current).__name__}")
    return decoded


def _decode_new(value: Any) -> Any:
    if isinstance(value, _SCALARS):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"unexpected {type(value).__name__}")
    if "__generator__" in value:
        return generator_from_state(value["__generator__"])
    if "__ndarray__" in value:
        dtype, shape = value.get("dtype"), value.get("shape")
        if dtype not in _DTYPES or not isinstance(shape, list) or not all(
                isinstance(n, int) and n >= 0 for n in shape):
            raise ValueError(f"an array of dtype {dtype!r} and shape {shape!r}")
        flat = np.asarray(value["__ndarray__"]).ravel()  # as large as the file's list, no more
        if flat.dtype.kind not in "biuf" or flat.size != int(np.prod(shape)):
            raise ValueError(f"{flat.size} values for shape {shape}")
        return flat.astype(dtype).reshape(shape)
    if "__npscalar__" in value and value.get("dtype") in _DTYPES and isinstance(
            value["__npscalar__"], bool | int | float):
        return np.dtype(value["dtype"]).type(value["__npscalar__"])
    if "__seq__" in value and isinstance(value["__seq__"], list) and all(
            isinstance(v, _SCALARS) for v in value["__seq__"]):
        return tuple(value["__seq__"]) if value.get("tuple") else list(value["__seq__"])
    raise ValueError(f"unknown encoding {sorted(value)[:3]}")


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
                 "nacre.testing.", "nacre.envs.bitflip", "nacre.envs.deepsea",
                 "nacre.envs.risky", "nacre.envs.costly")
_SAFE_WRAPPERS = ("FaultTolerant", "TimeLimit", "OrderEnforcing", "PassiveEnvChecker",
                  "PartialObservation", "SparseReward", "ActionCost", "RewardCost",
                  "DynamicActions")


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
        restore_object_state(layer, saved["attrs"])
    return True


def capture_object_state(obj: Any) -> dict[str, Any]:
    """The plain attributes of one object (arrays, numbers, generators)."""
    return _capture_object(obj)


def _live_attributes(obj: Any) -> dict[str, Any]:
    """The attributes ``obj`` could hold state in, with their values now: its own and those its
    classes declare with a plain default (Gymnasium's ``Env._np_random = None`` becomes an
    instance attribute only when the env is first seeded)."""
    declared: dict[str, Any] = {}
    for klass in reversed(type(obj).__mro__):
        declared.update({k: v for k, v in vars(klass).items()
                         if not k.startswith("__") and isinstance(v, _SCALARS)})
    return {**declared, **vars(obj)}


def restore_object_state(obj: Any, attrs: dict[str, Any]) -> None:
    """Restore :func:`capture_object_state`'s output: only attributes the object has (or its
    class declares) and would capture, each checked (see the module docstring) before any is
    set."""
    live = _live_attributes(obj)
    decoded = {}
    for key, value in attrs.items():
        if key not in live:
            raise ValueError(f"{type(obj).__name__} has no restorable attribute {key!r}")
        try:
            decoded[key] = _decode(live[key], value)
        except ValueError as exc:
            raise ValueError(f"{type(obj).__name__}.{key}: {exc}") from None
    for key, value in decoded.items():
        setattr(obj, key, value)
