"""Validation of the actions an agent hands to an environment adapter."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nacre.errors import InputError
from nacre.spaces import ActionSpace, BoxActionSpace, DiscreteActionSpace, MultiDiscreteActionSpace


class ActionCheck:
    """Validates a batch of actions against the action space (cheap, vectorized); returns them as
    a NumPy array (MultiDiscrete / MultiBinary ones in ``dtype``, the env's: Gymnasium's
    MultiBinary checks it)."""

    def __init__(self, space: ActionSpace, num_envs: int, dtype: np.dtype | None = None) -> None:
        self.space = space
        self.dtype = dtype if isinstance(space, MultiDiscreteActionSpace) else None
        self.num_envs = num_envs
        self.discrete = isinstance(space, DiscreteActionSpace)
        if isinstance(space, BoxActionSpace):
            self.low, self.high = space.low.numpy(), space.high.numpy()
        if isinstance(space, MultiDiscreteActionSpace):  # one upper bound per choice
            self.low = np.zeros(len(space.nvec), np.int64)
            self.high = np.array(space.nvec, np.int64) - 1

    def __call__(self, action: Any) -> np.ndarray:
        arr = action.numpy(force=True) if isinstance(action, torch.Tensor) else np.asarray(action)
        if arr.ndim == 0 or arr.shape[0] != self.num_envs:
            raise InputError("action", f"expected a batch of {self.num_envs} actions, got shape "
                             f"{arr.shape}")
        if self.discrete:
            assert isinstance(self.space, DiscreteActionSpace)
            if arr.ndim != 1 or arr.dtype.kind not in "iu" or arr.min() < 0 or (
                arr.max() >= self.space.n
            ):
                raise InputError("action", f"expected integers in [0, {self.space.n}) with shape "
                                 f"[{self.num_envs}], got {arr!r}")
        elif isinstance(self.space, MultiDiscreteActionSpace) and arr.dtype.kind not in "iu":
            raise InputError("action", f"expected integers with shape [{self.num_envs}, "
                             f"{len(self.space.nvec)}] below {list(self.space.nvec)}, got "
                             f"{arr!r}")
        elif arr.shape[1:] != self.low.shape or not (
            np.all(arr >= self.low) and np.all(arr <= self.high)
        ):
            raise InputError("action", f"expected shape [{self.num_envs}, *{self.low.shape}] "
                             f"within [{self.low}, {self.high}], got {arr!r}")
        return arr if self.dtype is None else arr.astype(self.dtype, copy=False)


__all__ = ["ActionCheck"]
