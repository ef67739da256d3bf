"""Replay with bootstrap masks: which of ``M`` ensemble members learn from each transition.

Bootstrapped DQN (Osband et al. 2016, §3) trains each head on its own bootstrap sample of the
data. Resampling the buffer per head would cost ``M`` samples per batch; instead each
transition draws, once when it is stored, a mask ``m ∈ {0, 1}^M`` with ``P(m_k = 1) = p``, kept
in the ring next to it (``M`` bytes per transition), and every sample carries its rows' masks
(:attr:`TransitionBatch.bootstrap <nacre.data.TransitionBatch>`) for the learner to weight each
head's loss with. ``p = 1`` shares all data with every head; ``p = 0.5`` is the paper's
double-or-nothing bootstrap.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nacre.data.batch import StepBatch, TransitionBatch
from nacre.data.replay import ReplayBuffer
from nacre.errors import InputError
from nacre.spaces import ActionFeatures, ActionSpace


class BootstrapReplayBuffer(ReplayBuffer):
    """Uniform replay whose transitions carry bootstrap masks for ``members`` ensemble members.

    Args:
        capacity, n_step, gamma, seed, action_space, window, marked, actions: as
            :class:`~nacre.data.ReplayBuffer`.
        members: the ensemble's size ``M``.
        p: the probability that a member learns from a transition.

    Example:
        >>> import torch
        >>> from nacre.data import StepBatch
        >>> buf = BootstrapReplayBuffer(capacity=8, members=4, p=0.5, seed=0)
        >>> for t in range(8):
        ...     buf.add(StepBatch(torch.zeros(1, 3), torch.tensor([1]), torch.tensor([1.0]),
        ...                       torch.zeros(1, 3), torch.tensor([False]), torch.tensor([False])))
        >>> buf.sample(5).bootstrap.shape
        torch.Size([5, 4])
    """

    def __init__(
        self, capacity: int, n_step: int = 1, gamma: float | None = None,
        seed: int | None = None, action_space: ActionSpace | None = None, window: int = 1,
        marked: bool = False, actions: ActionFeatures | None = None, members: int = 10,
        p: float = 0.5,
    ) -> None:
        super().__init__(capacity, n_step, gamma, seed, action_space, window, marked, actions)
        if isinstance(members, bool) or not isinstance(members, int) or members < 1:
            raise InputError("members", f"must be an integer >= 1, got {members!r}")
        if not 0.0 < p <= 1.0:
            raise InputError("p", f"must be in (0, 1], got {p!r}")
        self.members, self.p = members, float(p)
        self.mask_generator = torch.Generator()  # its own stream: sampling stays as in replay
        self.mask_generator.manual_seed(0 if seed is None else seed + 7919)
        self._masks = np.zeros((0, 0, members), np.uint8)
        self._flat_masks = torch.zeros(0, members, dtype=torch.uint8)

    def _allocate(self, arrays: dict[str, np.ndarray], num_envs: int) -> None:
        super()._allocate(arrays, num_envs)
        self._masks = np.zeros((self._t_rows, num_envs, self.members), np.uint8)
        self._flat_masks = torch.from_numpy(self._masks).view(-1, self.members)

    @property
    def nbytes(self) -> int:
        return super().nbytes + self._masks.nbytes

    def add(self, step: StepBatch) -> None:
        """Store one step of ``B`` transitions, each with a fresh bootstrap mask."""
        super().add(step)
        row = (self._pos - 1) % self._t_rows
        draw = torch.rand(self._num_envs, self.members, generator=self.mask_generator)
        self._masks[row] = (draw < self.p).numpy()

    def _gather(self, t: Tensor, b: Tensor) -> TransitionBatch:
        batch = super()._gather(t, b)
        masks = self._flat_masks[t * self._num_envs + b].float()
        return replace(batch, bootstrap=masks)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["tensors"]["bootstrap"] = torch.from_numpy(self._masks[: self._rows].copy())
        state["mask_generator"] = self.mask_generator.get_state()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state["tensors"].get("bootstrap")
        if saved is not None and saved.shape[-1] != self.members:  # before anything changes
            raise InputError("bootstrap", f"the checkpoint's masks are for {saved.shape[-1]} "
                             f"members; the buffer has {self.members}")
        super().load_state_dict(state)
        self.mask_generator.set_state(state["mask_generator"])
        if saved is not None and self._arrays:
            self._masks[: self._rows] = saved.numpy()


__all__ = ["BootstrapReplayBuffer"]
