"""Prioritized experience replay, proportional variant (Schaul et al. 2016, arXiv 1511.05952).

Transition ``i`` is sampled with probability ``P(i) = p_i^α / Σ_k p_k^α`` where the priority
``p_i = |δ_i| + ε`` is its last TD error's magnitude; a new transition gets the largest priority
seen so far, so each is replayed at least once soon. The bias this brings is corrected by
importance weights ``w_i = (N · P(i))^−β / max_k w_k`` in :attr:`TransitionBatch.weight`, with β
annealed linearly from ``β0`` to 1 over the run. Since ``max_k w_k`` belongs to the smallest
priority, ``w_i = (p_i^α / min_k p_k^α)^−β`` — N cancels.

The priorities live in a :class:`~nacre.data.sumtree.SumTree` over the slots of the ring
storage (slot ``t · B + b``: row ``t``, env ``b``); Gymnasium's NEXT_STEP reset steps, which are
not transitions, get priority 0 and are never drawn. Samples carry their slots in
:attr:`TransitionBatch.index`; :func:`nacre.learners.engine.learn_replay` hands the learner's TD
errors back through :meth:`PrioritizedReplayBuffer.update_priorities` after every update.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nacre.data.batch import StepBatch, TransitionBatch
from nacre.data.replay import ReplayBuffer
from nacre.data.sumtree import SumTree
from nacre.errors import InputError
from nacre.spaces import ActionFeatures, ActionSpace


class PrioritizedReplayBuffer(ReplayBuffer):
    """Replay sampled in proportion to TD-error priorities, with importance weights.

    Args:
        capacity, n_step, gamma, seed, action_space: as :class:`~nacre.data.ReplayBuffer`.
        alpha: how much prioritization is used (0: uniform sampling).
        beta0: the importance-sampling exponent β at the start of the run; it grows linearly
            to 1 as the run progresses (:meth:`anneal`).
        epsilon: added to ``|δ|`` so no transition's probability is ever 0.

    Example:
        >>> import torch
        >>> from nacre.data import StepBatch
        >>> buf = PrioritizedReplayBuffer(capacity=8, seed=0)
        >>> for t in range(8):
        ...     buf.add(StepBatch(torch.zeros(1, 3), torch.tensor([1]), torch.tensor([1.0]),
        ...                       torch.zeros(1, 3), torch.tensor([False]), torch.tensor([False])))
        >>> batch = buf.sample(4)
        >>> buf.update_priorities(batch.index, torch.tensor([0.0, 1.0, 2.0, 3.0]))
        >>> batch.weight.shape, buf.max_priority
        (torch.Size([4]), 3.000001)
    """

    def __init__(
        self, capacity: int, n_step: int = 1, gamma: float | None = None,
        seed: int | None = None, action_space: ActionSpace | None = None,
        alpha: float = 0.6, beta0: float = 0.4, epsilon: float = 1e-6, window: int = 1,
        marked: bool = False, actions: ActionFeatures | None = None,
    ) -> None:
        super().__init__(capacity, n_step, gamma, seed, action_space, window, marked,
                         actions)
        if not (math.isfinite(alpha) and alpha >= 0):
            raise InputError("alpha", f"must be a finite number >= 0, got {alpha}")
        if not 0.0 <= beta0 <= 1.0:
            raise InputError("beta0", f"must be in [0, 1], got {beta0}")
        if not (math.isfinite(epsilon) and epsilon > 0):
            raise InputError("epsilon", f"must be a finite number > 0, got {epsilon}")
        self.alpha, self.beta0, self.epsilon = alpha, beta0, epsilon
        self.beta = beta0
        self.max_priority = 1.0  # the largest p = |δ| + ε seen (new transitions get it)
        self.tree = SumTree(1)  # sized with the storage, at the first add
        self._pending = 0  # rows added whose priorities are not in the tree yet

    def _allocate(self, arrays: dict[str, np.ndarray], num_envs: int) -> None:
        super()._allocate(arrays, num_envs)
        self.tree = SumTree(self._t_rows * num_envs)

    @property
    def nbytes(self) -> int:
        return super().nbytes + self.tree.sums.nbytes + self.tree.mins.nbytes

    def add(self, step: StepBatch) -> None:
        """Store one step of ``B`` transitions, each with the largest priority seen so far.

        Their priorities reach the tree at the next :meth:`sample`, :meth:`update_priorities`
        or :meth:`state_dict` — one batched tree update per round instead of one per env step
        (the same priorities: the largest one only changes in :meth:`update_priorities`)."""
        super().add(step)
        self._pending = min(self._pending + 1, self._t_rows)

    def _flush(self) -> None:
        """Give the rows added since the last flush the largest priority seen."""
        if not self._pending:
            return
        rows = (self._pos - self._pending + np.arange(self._pending)) % self._t_rows
        b = self._num_envs
        slots = (rows[:, None] * b + np.arange(b)).reshape(-1)
        priority = np.full(slots.shape, self.max_priority ** self.alpha)
        if self._valid is not None:  # Gymnasium's NEXT_STEP reset steps are not transitions
            priority[~self._valid[rows].reshape(-1)] = 0.0
        self.tree.update(slots, priority)
        self._pending = 0

    def anneal(self, progress: float) -> None:
        """Set β for the run's ``progress`` ∈ [0, 1]: ``β0 + (1 − β0) · progress``."""
        if not 0.0 <= progress <= 1.0:
            raise InputError("progress", f"expected a fraction in [0, 1], got {progress!r}")
        self.beta = self.beta0 + (1.0 - self.beta0) * progress

    def sample(self, batch_size: int) -> TransitionBatch:
        """``batch_size`` transitions drawn ∝ ``p^α`` (one per stratum of the total priority),
        with their importance weights and storage slots."""
        if self._rows < 1:
            raise InputError("batch_size", f"cannot sample: the buffer holds {len(self)} steps")
        self._flush()
        uniform = torch.rand(batch_size, generator=self.generator, dtype=torch.float64)
        slots = self.tree.stratified(uniform.numpy())
        weight = (self.tree.priorities(slots) / self.tree.min) ** -self.beta
        index = torch.from_numpy(slots)
        t = torch.div(index, self._num_envs, rounding_mode="floor")
        batch = self._gather(t, index - t * self._num_envs)
        return replace(batch, weight=torch.from_numpy(weight.astype(np.float32)), index=index)

    def update_priorities(self, index: Tensor, td_error: Tensor) -> None:
        """Set the priorities of the slots ``index`` to ``(|δ| + ε)^α``. A non-finite ``δ``
        (an update the learner skipped) gets the largest priority seen instead."""
        if index.shape != td_error.shape or index.dim() != 1:
            raise InputError("td_error", f"expected shape {tuple(index.shape)} like the "
                             f"indices, got {tuple(td_error.shape)}")
        self._flush()
        priority = np.abs(td_error.numpy(force=True).astype(np.float64)) + self.epsilon
        finite = np.isfinite(priority)
        self.max_priority = max(self.max_priority, float(priority.max(initial=0.0, where=finite)))
        priority[~finite] = self.max_priority
        self.tree.update(index.numpy(force=True), priority ** self.alpha)

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, Any]:
        """The replay state plus every slot's priority, the largest priority seen and β."""
        self._flush()
        state = super().state_dict()
        if self._arrays:
            state["tensors"]["priority"] = torch.from_numpy(
                self.tree.priorities(np.arange(self.tree.capacity)))
        state["max_priority"] = self.max_priority
        state["beta"] = self.beta
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.max_priority = float(state["max_priority"])
        self.beta = float(state["beta"])
        self._pending = 0
        priority = state["tensors"].get("priority")
        if priority is None:
            self.tree = SumTree(1)
        else:
            self.tree.assign(priority.numpy())


__all__ = ["PrioritizedReplayBuffer"]
