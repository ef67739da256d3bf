"""The online buffer: every transition is learned from exactly once, in arrival order.

Contextual bandits learn incrementally — an exact ridge posterior must see each decision once,
not a random replay of it. :class:`OnlineBuffer` holds the transitions observed since the last
learning round on preallocated storage and :meth:`OnlineBuffer.sample` hands all of them over,
so its memory stays fixed however long a run lasts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.errors import InputError

_FIELDS = ("obs", "action", "reward", "propensity")


def _array(name: str, value: Any) -> np.ndarray:
    arr = value.numpy(force=True) if isinstance(value, Tensor) else np.asarray(value)
    if arr.ndim == 0:
        raise InputError(name, "expected a batch with a leading dimension B, got a scalar")
    return arr


class OnlineBuffer:
    """Pending transitions ``(obs, action, reward, propensity)`` until the next learning round.

    ``sample(n)`` returns every pending row, whatever ``n`` (the agent splits them into
    learning batches), and empties the buffer. ``capacity`` bounds the rows that may wait;
    adding beyond it raises instead of dropping data.

    Example:
        >>> import torch
        >>> buf = OnlineBuffer(capacity=16)
        >>> buf.add(torch.zeros(2, 3), torch.tensor([0, 1]), torch.tensor([1.0, 0.0]),
        ...         torch.zeros(2, 3), torch.tensor([True, True]), torch.tensor([False, False]))
        >>> len(buf), len(buf.sample(1)), len(buf)
        (2, 2, 0)
    """

    needs_next_action = False

    def __init__(self, capacity: int = 65_536) -> None:
        if capacity < 1:
            raise InputError("capacity", f"must be >= 1, got {capacity}")
        self.capacity = capacity
        self._arrays: dict[str, np.ndarray] = {}
        self._rows = 0

    def __len__(self) -> int:
        return self._rows

    @property
    def can_sample(self) -> bool:
        return self._rows > 0

    def add(
        self,
        obs: Any,
        action: Any,
        reward: Any,
        next_obs: Any,
        terminated: Any,
        truncated: Any,
        propensity: Any = None,
        valid: Any = None,
    ) -> None:
        values = {"obs": _array("obs", obs), "action": _array("action", action),
                  "reward": _array("reward", reward)}
        b = values["obs"].shape[0]
        values["propensity"] = (np.ones(b, np.float32) if propensity is None
                                else _array("propensity", propensity))
        if not np.isfinite(values["reward"]).all():
            raise InputError("reward", "contains NaN or inf")
        keep = None if valid is None else np.asarray(valid, dtype=np.bool_)
        if keep is not None and not keep.all():
            values = {k: v[keep] for k, v in values.items()}
            b = int(keep.sum())
        if not self._arrays:
            self._arrays = {k: np.zeros((self.capacity, *v.shape[1:]), dtype=v.dtype)
                            for k, v in values.items()}
        if self._rows + b > self.capacity:
            raise InputError("buffer", f"{self._rows + b} transitions waiting exceed the online "
                             f"buffer's capacity {self.capacity}: learn more often (train_freq) "
                             "or raise buffer.capacity")
        for k, v in values.items():
            self._arrays[k][self._rows : self._rows + b] = v
        self._rows += b

    def sample(self, batch_size: int) -> TransitionBatch:
        """Every pending transition (``batch_size`` is ignored); the buffer is emptied."""
        if self._rows == 0:
            raise InputError("buffer", "no transitions waiting: observe before learning")
        n = self._rows
        rows = {k: torch.from_numpy(v[:n].copy()) for k, v in self._arrays.items()}
        self._rows = 0
        obs = rows["obs"]
        return TransitionBatch(obs=obs, action=rows["action"], reward=rows["reward"],
                               next_obs=obs, terminated=torch.ones(n),
                               propensity=rows["propensity"])

    def state_dict(self) -> dict[str, Any]:
        return {k: torch.from_numpy(v[: self._rows].copy()) for k, v in self._arrays.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._rows = 0
        if state and int(state["reward"].shape[0]):
            self.add(state["obs"], state["action"], state["reward"], state["obs"], None, None,
                     state["propensity"])


__all__ = ["OnlineBuffer"]
