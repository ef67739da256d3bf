"""Validation of the data handed to nacre's public methods.

Each check runs once per call on whole arrays (a reduction or two, never a Python loop over
elements) and raises :class:`~nacre.errors.InputError` naming the argument, what was expected
and what was received. :func:`checked_batch` puts the batch checks in front of a learner's
``learn_batch``, the boundary every update goes through.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import fields
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.errors import InputError

# fields of a TransitionBatch whose values must be finite (when present and floating point)
_FINITE = ("obs", "next_obs", "reward", "discount", "weight", "advantage", "returns",
           "log_prob", "value", "action", "next_action")


def as_batch_array(name: str, value: Any) -> np.ndarray:
    """``value`` (tensor or array-like) as a NumPy array with a leading batch dimension."""
    if isinstance(value, Tensor):
        value = value.numpy(force=True)  # detached, on the CPU
    arr = np.asarray(value)
    if arr.ndim == 0:
        raise InputError(name, "expected a batch with a leading dimension B, got a scalar")
    return arr


def all_finite(value: Any) -> bool:
    """Whether every element of an array, tensor or array-like is a finite number.

    Tiny float arrays (one step of a few envs: the acting path) are checked in Python, several
    times faster than any NumPy call there; larger ones with one ``np.isfinite`` pass (CPU
    tensors through a NumPy view, which is faster than torch's kernels at these sizes)."""
    if isinstance(value, Tensor):
        if value.device.type != "cpu" or value.requires_grad:
            return bool(torch.isfinite(value).all())
        value = value.numpy()
    elif type(value) is not np.ndarray:
        value = np.asarray(value)
    kind = value.dtype.kind
    if kind == "f" and value.size <= 16:
        return all(map(math.isfinite, value.ravel().tolist()))
    if kind in "fc":
        return bool(np.isfinite(value).all())
    return kind in "biu"  # integers and booleans are finite; objects and strings are no numbers


def check_finite(name: str, value: np.ndarray | Tensor) -> None:
    if not all_finite(value):
        raise InputError(name, "contains NaN or inf")


def check_observations(name: str, obs: Any, shape: tuple[int, ...] | None) -> None:
    """A batch ``[B, *shape]`` (B >= 1) of finite observations, as an array or tensor."""
    if not isinstance(obs, np.ndarray | Tensor) or obs.ndim == 0:
        raise InputError(name, "expected a batch [B, ...] as a NumPy array or tensor; wrap one "
                         "observation as obs[None]")
    if obs.shape[0] == 0:
        raise InputError(name, "expected at least one observation (B >= 1), got B = 0")
    if shape is not None and tuple(obs.shape[1:]) != shape:
        raise InputError(name, f"expected a batch of observations of shape {list(shape)}, "
                         f"i.e. [B, {', '.join(map(str, shape))}], got {list(obs.shape)}")
    check_finite(name, obs)


def check_count(name: str, value: Any, low: int) -> None:
    """An integer (not a bool) of at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise InputError(name, f"expected an integer >= {low}, got {value!r}")


def check_propensity(name: str, value: np.ndarray | Tensor) -> None:
    """Probabilities (discrete actions) or densities (continuous ones) of the actions taken:
    positive and finite."""
    arr = value.numpy(force=True) if isinstance(value, Tensor) else np.asarray(value)
    if arr.size and not (arr.min() > 0.0 and all_finite(arr)):  # NaN fails both
        raise InputError(name, f"expected positive finite probabilities or densities, got "
                         f"values in [{arr.min()}, {arr.max()}]")


def check_flags(name: str, value: Any) -> None:
    """Episode-end flags: booleans, or numbers that are 0 or 1."""
    arr = value.numpy(force=True) if isinstance(value, Tensor) else np.asarray(value)
    if arr.dtype == np.bool_:
        return
    if arr.dtype.kind not in "biuf" or not np.logical_or(arr == 0, arr == 1).all():
        raise InputError(name, f"expected booleans (or 0 / 1), got {arr.dtype} values "
                         f"{np.unique(arr)[:5].tolist()}")


def in_range(values: np.ndarray, low: float, high: float, low_open: bool = False) -> bool:
    """Whether every value lies in [low, high] ((low, high] with ``low_open``); False for NaN.
    Tiny arrays (one step of a few envs) are checked in Python, faster than numpy there."""
    if values.size <= 8:
        items = values.ravel().tolist()
        if low_open:
            return all(low < v <= high for v in items)
        return all(low <= v <= high for v in items)
    above = values > low if low_open else values >= low
    return bool(np.all(above) and np.all(values <= high))


def check_step_values(action: Any, propensity: Any, n_actions: int | None,
                      terminated: Any = None, truncated: Any = None) -> None:
    """The values of one step a buffer stores (arrays or array-likes): actions of the action
    space (integers in ``[0, n_actions)`` for a discrete one, finite numbers otherwise),
    propensities (probabilities in (0, 1] for discrete actions, positive finite densities for
    continuous ones) and, where the buffer stores them, 0 / 1 episode-end flags."""
    action, propensity = np.asarray(action), np.asarray(propensity)
    for name, flags in (("terminated", terminated), ("truncated", truncated)):
        if flags is not None and not (type(flags) is np.ndarray and flags.dtype == np.bool_):
            check_flags(name, flags)
    if (n_actions is not None and action.size == 1 == propensity.size
            and action.dtype.kind in "iu"
            and 0 <= action.item() < n_actions and 0.0 < propensity.item() <= 1.0):
        return  # one discrete step of one env, the acting path: valid (NaN fails a comparison)
    if n_actions is not None:
        if action.dtype.kind not in "iu" or not in_range(action, 0, n_actions - 1):
            raise InputError("action", f"expected integers in [0, {n_actions}), got "
                             f"{action.dtype} {action.ravel()[:8].tolist()}")
    elif not all_finite(action):
        raise InputError("action", "contains NaN or inf")
    high = 1.0 if n_actions is not None else math.inf
    if not in_range(propensity, 0.0, high, low_open=True) or math.isinf(high) and not all_finite(
            propensity):
        what = "probabilities in (0, 1]" if n_actions is not None else "positive finite densities"
        raise InputError("propensity", f"expected {what}, got {propensity.ravel()[:8].tolist()}")


def check_batch(batch: Any) -> TransitionBatch:
    """A :class:`TransitionBatch` that learners can use: every field a tensor with the same
    leading dimension ``n >= 1``, numbers finite, flags 0 / 1, propensities positive, discounts
    in [0, 1], weights and bootstrap masks >= 0, integer actions >= 0."""
    if not isinstance(batch, TransitionBatch):
        raise InputError("batch", f"expected a nacre.data.TransitionBatch, got "
                         f"{type(batch).__name__}")
    n = None
    for f in fields(batch):
        value = getattr(batch, f.name)
        if value is None:
            continue
        if not isinstance(value, Tensor):
            raise InputError(f"batch.{f.name}", f"expected a tensor, got {type(value).__name__}")
        if value.ndim == 0 or (n is not None and value.shape[0] != n):
            raise InputError(f"batch.{f.name}", f"expected a leading dimension of {n or 'n'} "
                             f"rows, got shape {list(value.shape)}")
        n = int(value.shape[0])
    if not n:
        raise InputError("batch", "is empty")
    for name in _FINITE:
        value = getattr(batch, name)
        if value is not None:
            check_finite(f"batch.{name}", value)
    check_flags("batch.terminated", batch.terminated)
    if batch.propensity is not None:
        check_propensity("batch.propensity", batch.propensity)
    _check_range("batch.discount", batch.discount, 0.0, 1.0)
    _check_range("batch.weight", batch.weight, 0.0, math.inf)
    _check_range("batch.bootstrap", batch.bootstrap, 0.0, math.inf)
    if not batch.action.is_floating_point():
        _check_range("batch.action", batch.action, 0, math.inf)
    return batch


def _check_range(name: str, value: Tensor | None, low: float, high: float) -> None:
    if value is None or not value.numel():
        return
    lo, hi = (float(x) for x in value.aminmax())
    if not (lo >= low and hi <= high):
        raise InputError(name, f"expected values in [{low}, {high}], got [{lo}, {hi}]")


def available_memory() -> int:
    """Bytes of memory a new allocation may take (Linux: MemAvailable; else all of RAM)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_allocation(name: str, nbytes: float, what: str) -> None:
    """Refuse an allocation of ``nbytes`` (``what`` it is for) that the memory available cannot
    hold, before it is tried."""
    available = available_memory()
    if nbytes > available:
        raise InputError(name, f"{what} needs {nbytes / 2**30:.4g} GiB; "
                         f"{available / 2**30:.2f} GiB of memory are available")


Fn = TypeVar("Fn", bound=Callable[..., Any])


# Set while an agent learns from batches of its own buffer (see stored_batches).
_STORED: contextvars.ContextVar[bool] = contextvars.ContextVar("nacre_stored_batches",
                                                               default=False)


@contextlib.contextmanager
def stored_batches() -> Iterator[None]:
    """Within this block, learners' ``learn_batch`` does not run :func:`check_batch` again: for
    batches the agent draws from its own buffer, every value of which was checked when it was
    added (re-checking each sampled batch would cost ~5 % of a readable update)."""
    token = _STORED.set(True)
    try:
        yield
    finally:
        _STORED.reset(token)


def checked_batch(learn_batch: Fn) -> Fn:
    """Put :func:`check_batch` in front of a learner's ``learn_batch(batch)`` (except within
    :func:`stored_batches`), and turn what torch still refuses (an action index past the
    learner's action count, observations of another width) into an :class:`InputError`."""

    @functools.wraps(learn_batch)
    def wrapper(self: Any, batch: TransitionBatch) -> Any:
        if not _STORED.get():
            check_batch(batch)
        try:
            return learn_batch(self, batch)
        except torch.OutOfMemoryError:
            raise
        except (RuntimeError, IndexError) as exc:
            raise InputError("batch", f"does not fit {type(self).__name__}: {exc}") from exc

    return wrapper  # type: ignore[return-value]


__all__ = ["all_finite", "available_memory", "check_allocation", "check_batch", "check_count",
           "check_finite", "check_flags", "check_observations", "check_propensity",
           "check_step_values", "checked_batch", "in_range", "stored_batches"]
