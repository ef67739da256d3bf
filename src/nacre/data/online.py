"""The online buffer: every transition is learned from exactly once, in arrival order.

Contextual bandits learn incrementally — an exact ridge posterior must see each decision once,
not a random replay of it. :class:`OnlineBuffer` holds the transitions observed since the last
learning round on preallocated storage and :meth:`OnlineBuffer.sample` hands all of them over,
so its memory stays fixed however long a run lasts. Where decisions choose from per-step
candidate sets, each row also keeps its set (mask and catalogue ids or features), which the
agent represents as when acting before the learner reads the chosen candidate's features.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nacre.data.batch import StepBatch, TransitionBatch
from nacre.data.candidates import Candidates
from nacre.data.validate import all_finite, as_batch_array, check_count, check_step_values
from nacre.errors import InputError
from nacre.kinds import BufferKind
from nacre.spaces import ActionSpace, AvailableActions, DiscreteActionSpace

_FIELDS = ("obs", "action", "reward", "propensity")
_SET_FIELDS = ("mask", "candidates")  # as far as the decisions' sets have them


class OnlineBuffer:
    """Pending transitions ``(obs, action, reward, propensity)`` until the next learning round.

    ``sample(n)`` returns every pending row, whatever ``n`` (the agent splits them into
    learning batches), and empties the buffer. ``capacity`` bounds the rows that may wait;
    adding beyond it raises instead of dropping data.

    Example:
        >>> import torch
        >>> from nacre.data import StepBatch
        >>> buf = OnlineBuffer(capacity=16)
        >>> buf.add(StepBatch(torch.zeros(2, 3), torch.tensor([0, 1]), torch.tensor([1.0, 0.0]),
        ...                   torch.zeros(2, 3), torch.tensor([True, True]),
        ...                   torch.tensor([False, False])))
        >>> len(buf), len(buf.sample(1)), len(buf)
        (2, 2, 0)
    """

    kind = BufferKind.ONLINE  # Agent.learn: each pending row once, not gradient_steps samples
    needs_next_action = False

    def __init__(self, capacity: int = 65_536, action_space: ActionSpace | None = None) -> None:
        check_count("capacity", capacity, 1)
        self.capacity = capacity
        self.n_actions = action_space.n if isinstance(action_space, DiscreteActionSpace) else None
        self._pending: list[tuple[np.ndarray, ...]] = []
        self._rows = 0
        self._sets: int | None = None  # set columns each row carries (fixed by the first row)

    def __len__(self) -> int:
        return self._rows

    @property
    def can_sample(self) -> bool:
        return self._rows > 0

    def mark_episodes_cut(self) -> None:
        """Nothing to mark: every transition of a one-step environment ends its episode."""

    def add(self, step: StepBatch) -> None:
        # Rows wait as small arrays until the next round (usually the very next step), which at
        # B = 1 costs less than writing them into preallocated storage and reading them back.
        # a copy: environments may reuse their arrays
        o = np.array(as_batch_array("obs", step.obs))
        a = as_batch_array("action", step.action)
        r = as_batch_array("reward", step.reward).astype(np.float32, copy=False)
        p = (np.ones(o.shape[0], np.float32) if step.propensity is None
             else as_batch_array("propensity", step.propensity).astype(np.float32, copy=False))
        if not all_finite(r):
            raise InputError("reward", "contains NaN or inf")
        if not all_finite(o):
            raise InputError("obs", "contains NaN or inf")
        check_step_values(a, p, self.n_actions)
        row = (o, a, r, p, *self._set_of(step.available, o.shape[0]))
        if step.valid is not None and not np.all(step.valid):
            keep = np.asarray(step.valid, dtype=np.bool_)
            row = tuple(column[keep] for column in row)
            o, a, r, p = row[:4]
        if not (o.shape[0] == a.shape[0] == r.shape[0] == p.shape[0]):
            raise InputError("buffer", f"batch sizes differ: obs {o.shape[0]}, action "
                             f"{a.shape[0]}, reward {r.shape[0]}, propensity {p.shape[0]}")
        if self._rows + o.shape[0] > self.capacity:
            raise InputError("buffer", f"{self._rows + o.shape[0]} transitions waiting exceed the "
                             f"online buffer's capacity {self.capacity}: learn more often "
                             "(train_freq) or raise buffer.capacity")
        self._pending.append(row)
        self._rows += o.shape[0]

    def _set_of(self, available: AvailableActions | None, b: int) -> tuple[np.ndarray, ...]:
        """The row's candidate set: ``(mask, ids or features)``, ``(mask,)`` for masks alone,
        ``()`` for a fixed action set; every row the same way as the first."""
        columns: tuple[np.ndarray, ...] = ()
        if available is not None:
            mask = as_batch_array("available.mask", available.mask).astype(np.bool_)
            if mask.shape[0] != b:
                raise InputError("available.mask", f"expected {b} rows, got {mask.shape[0]}")
            values = available.items if available.items is not None else available.features
            columns = (mask,) if values is None else (mask, as_batch_array("available", values))
        if self._sets is None:
            self._sets = len(columns)
        if len(columns) != self._sets:
            raise InputError("available", "every decision must report its candidate set the "
                             "same way as the first (none, a mask, or a mask with items or "
                             "features)")
        return columns

    def sample(self, batch_size: int) -> TransitionBatch:
        """Every pending transition (``batch_size`` is ignored); the buffer is emptied."""
        if self._rows == 0:
            raise InputError("buffer", "no transitions waiting: observe before learning")
        parts = self._pending
        fields = parts[0] if len(parts) == 1 else tuple(
            np.concatenate(column) for column in zip(*parts, strict=True))
        obs, action, reward, propensity, *sets = (torch.from_numpy(np.asarray(f))
                                                  for f in fields)
        self._pending, self._rows = [], 0
        mask, candidates = (*sets, None, None)[:2]
        return TransitionBatch(obs=obs, action=action, reward=reward, next_obs=obs,
                               terminated=torch.ones(reward.shape[0]), propensity=propensity,
                               mask=mask, candidates=candidates)

    def state_dict(self) -> dict[str, Any]:
        if not self._pending:
            return {}
        columns = zip(*self._pending, strict=True)
        names = _FIELDS + _SET_FIELDS[: self._sets or 0]
        return {k: torch.from_numpy(np.concatenate(c)) for k, c in zip(names, columns,
                                                                        strict=True)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._pending, self._rows, self._sets = [], 0, None
        if state and int(state["reward"].shape[0]):
            available = (Candidates(state["mask"], state.get("candidates")).available()
                         if "mask" in state else None)
            self.add(StepBatch(state["obs"], state["action"], state["reward"], state["obs"],
                               None, None, state["propensity"], available=available))


__all__ = ["OnlineBuffer"]
