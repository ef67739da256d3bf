"""Per-step costs in replay storage (safe RL: a cost critic learns from them).

An environment reports a step's cost in ``info["cost"]`` (e.g. :class:`nacre.envs.ActionCost`);
the adapters carry it into :attr:`ActionResult.cost <nacre.envs.base.ActionResult>` and the
agent hands it to the buffer with the step. Most tasks have no cost, so the column is allocated
only when the first cost arrives: a buffer without costs stores nothing more, and the steps
stored before the first cost count as cost 0, as a copy that reports none does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from nacre.data.validate import all_finite, as_batch_array
from nacre.errors import InputError


class CostColumn:
    """The costs of the ring's rows ``[T, B]``, allocated on the first :meth:`write`."""

    def __init__(self) -> None:
        self.array: np.ndarray | None = None
        self.flat: Tensor | None = None  # [T * B] view of ``array``

    @property
    def nbytes(self) -> int:
        return 0 if self.array is None else self.array.nbytes

    def write(self, pos: int, cost: Any, t_rows: int, num_envs: int) -> None:
        """Store row ``pos``'s costs (``[B]``; None: 0, or nothing before the first cost)."""
        if cost is None:
            if self.array is not None:
                self.array[pos] = 0.0
            return
        values = as_batch_array("cost", cost).astype(np.float32, copy=False)
        if values.shape != (num_envs,):
            raise InputError("cost", f"expected shape ({num_envs},), got {values.shape}")
        if not all_finite(values):
            raise InputError("cost", "contains NaN or inf")
        if self.array is None:
            self.allocate(t_rows, num_envs)
        assert self.array is not None
        self.array[pos] = values

    def allocate(self, t_rows: int, num_envs: int) -> None:
        self.array = np.zeros((t_rows, num_envs), dtype=np.float32)
        self.flat = torch.from_numpy(self.array).view(-1)

    def gather(self, flat_index: Tensor) -> Tensor | None:
        """The costs at flat row indices (any shape); None when no cost was ever stored."""
        return None if self.flat is None else self.flat[flat_index]

    def state(self, rows: int) -> Tensor | None:
        return None if self.array is None else torch.from_numpy(self.array[:rows].copy())

    def load(self, saved: Tensor | None, t_rows: int, num_envs: int) -> None:
        self.array = self.flat = None
        if saved is not None:
            self.allocate(t_rows, num_envs)
            assert self.array is not None
            self.array[: saved.shape[0]] = saved.numpy()


__all__ = ["CostColumn"]
