"""What :meth:`nacre.Agent.predict` does to observations before acting on them: the same as the
training environment does — Dict and Tuple observations flattened (:mod:`nacre.spaces`), then
normalized with the run's statistics when the run normalizes observations — so that a user's
own loop can hand the agent exactly what their Gymnasium env returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from nacre.errors import InputError
from nacre.spaces import StructuredBox, observation_batch


class Observations:
    """Raw observations (one, or a batch ``[B, ...]``) → ``(batch array, was_single)``.

    ``space`` is the space the agent's observations are stored in (a
    :class:`~nacre.spaces.StructuredBox` for Dict / Tuple observations); ``normalize`` maps a
    batch to its normalized values (None: none).
    """

    def __init__(self, space: gym.Space[Any] | None,
                 normalize: Callable[[np.ndarray], np.ndarray] | None = None,
                 shape: tuple[int, ...] | None = None) -> None:
        self.raw = space.source if isinstance(space, StructuredBox) else space
        self.normalize = normalize
        self.shape = shape

    @classmethod
    def of_shape(cls, shape: tuple[int, ...] | None) -> Observations:
        """Arrays taken as they are: one observation if of ``shape``, else a batch."""
        return cls(None, shape=shape)

    def __call__(self, obs: Any) -> tuple[np.ndarray, bool]:
        if self.raw is None:  # an agent composed by hand: no space to convert to
            arr = np.asarray(obs)
            if self.shape is None:
                raise InputError("obs", "the agent does not know the shape of one observation, "
                                 "so it cannot tell one from a batch: give Agent(..., "
                                 "observation_shape=...) or call agent.reset(obs, space) first")
            return (arr[None], True) if arr.shape == self.shape else (arr, False)
        single = _is_single(self.raw, obs)
        try:
            batch = observation_batch(self.raw, obs, batched=not single)
        except (KeyError, IndexError, TypeError, ValueError, AssertionError) as exc:
            raise InputError("obs", f"does not fit the observation space {self.raw}: "
                             f"{type(exc).__name__}: {exc}") from exc
        return (batch if self.normalize is None else self.normalize(batch)), single


def _is_single(space: gym.Space[Any], obs: Any) -> bool:
    """One observation of ``space`` (else a batch of them), judged by its first part's rank."""
    if isinstance(space, gym.spaces.Dict):
        if not isinstance(obs, dict) or not obs:
            raise InputError("obs", f"expected a dict with keys {list(space.spaces)}, got "
                             f"{type(obs).__name__}")
        key = next(iter(space.spaces))
        if key not in obs:
            raise InputError("obs", f"missing key {key!r} of {list(space.spaces)}")
        return _is_single(space.spaces[key], obs[key])
    if isinstance(space, gym.spaces.Tuple):
        if not isinstance(obs, tuple | list) or not obs:
            raise InputError("obs", f"expected a tuple of {len(space.spaces)} parts, got "
                             f"{type(obs).__name__}")
        return _is_single(space.spaces[0], obs[0])
    return np.ndim(obs) == len(space.shape or ())


__all__ = ["Observations"]
