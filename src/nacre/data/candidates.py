"""Per-step candidate sets in replay storage, each stored once and unpadded by the catalogue.

A dynamic action set (Pearl's "dynamic action space") offers ``K`` slots per decision, which
are available or not (a ``[K]`` mask) and may each hold a catalogue item (``[K]`` ids, whose
features live once in :attr:`nacre.spaces.DiscreteActionSpace.catalogue`) or carry their own
features (``[K, d_a]``). Pearl stores every transition's current *and* next candidate features
padded to the largest action count, so replay memory grows with ``K × d_a`` twice per transition
(Pearl issue #72). Here each ring row keeps its step's set once, as ids where there is a
catalogue: a transition's next set is the following row of the same environment (time-major
ring), and the set after the newest row waits in one pending slot until the next step is
written. Features are looked up (``catalogue[ids]``) only for the rows a learner samples.

One exception: where an episode was truncated, the next row belongs to the next episode, yet
the transition bootstraps from its own final observation. The set there
(:attr:`ActionResult.final_available <nacre.envs.base.ActionResult>`) is kept aside for that
row, one small entry per truncation, and used in place of the next row's.

Nothing is allocated until the first step reports a set, so buffers of fixed-action tasks
store nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.data.validate import as_batch_array
from nacre.errors import InputError
from nacre.spaces import AvailableActions


@dataclass(frozen=True)
class Candidates:
    """Gathered sets of ``n`` sampled rows: ``mask`` ``[n, K]`` bool and ``features`` (``[n, K]``
    int64 catalogue ids, ``[n, K, d_a]`` float32 features, or None when only masks are kept)."""

    mask: Tensor
    features: Tensor | None

    def available(self) -> AvailableActions:
        """As the act path sees a set (ids as ``items``, float features as ``features``)."""
        f = self.features
        if f is not None and not f.is_floating_point():
            return AvailableActions(self.mask, items=f)
        return AvailableActions(self.mask, features=f)


class CandidateColumn:
    """The candidate sets of the ring's rows ``[T, B, K]``, allocated on the first write."""

    def __init__(self) -> None:
        self.mask: np.ndarray | None = None  # [T, B, K] bool
        self.values: np.ndarray | None = None  # [T, B, K] int32 ids or [T, B, K, d] float32
        self._pending_mask: np.ndarray | None = None  # [B, K]: the set after the newest row
        self._pending_values: np.ndarray | None = None
        self._pending_of: AvailableActions | None = None  # what the pending arrays were made of
        # flat row (t · B + b) of a truncated transition -> the set at its final observation
        self._finals: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}

    @property
    def stored(self) -> bool:
        return self.mask is not None

    @property
    def nbytes(self) -> int:
        arrays = (self.mask, self.values, self._pending_mask, self._pending_values)
        return sum(a.nbytes for a in arrays if a is not None)

    def write(self, pos: int, current: AvailableActions | None, following: AvailableActions | None,
              t_rows: int, num_envs: int, final: AvailableActions | None = None,
              truncated: np.ndarray | None = None) -> None:
        """Store row ``pos``'s set (``current``, at its observation) and hold ``following`` (at
        the next observation) until row ``pos + 1`` is written; ``final`` (at the final
        observations) is kept for the row's ``truncated`` transitions. None: every slot."""
        if self.mask is None:
            if current is None and following is None:
                return  # a fixed action set: nothing to keep
            if current is None:  # sets begin with the next step: this one offered every slot
                assert following is not None
                if following.items is not None or following.features is not None:
                    raise InputError("available", "the step has no candidate set but the next "
                                     "one has: give agent.reset(obs, action_space, available) "
                                     "the environment's first set (env.available)")
                current = AvailableActions(torch.ones_like(torch.as_tensor(following.mask)))
        if current is not None and current is self._pending_of:  # checked as the last `following`
            mask, values = self._pending_mask, self._pending_values
        else:
            mask, values = self._arrays(current, num_envs)
        if self.mask is None:
            assert mask is not None
            self._allocate(mask, values, t_rows, num_envs)
        assert self.mask is not None
        self.mask[pos] = mask
        if self.values is not None:
            self.values[pos] = values
        self._pending_mask, self._pending_values = self._arrays(following, num_envs)
        self._pending_of = following
        if self._finals:  # the row's old transitions are overwritten
            for b in range(num_envs):
                self._finals.pop(pos * num_envs + b, None)
        if final is not None and truncated is not None and np.any(truncated):
            final_mask, final_values = self._arrays(final, num_envs)
            for b in np.flatnonzero(np.asarray(truncated)).tolist():
                self._finals[pos * num_envs + b] = (
                    final_mask[b].copy(), None if final_values is None else final_values[b].copy())

    def cut(self, row: int, num_envs: int) -> None:
        """Row ``row``'s transitions were cut (marked truncated after the fact): their final
        sets are the pending ones, the sets at their next observations."""
        if self._pending_mask is None:
            return
        for b in range(num_envs):
            self._finals.setdefault(row * num_envs + b, (
                self._pending_mask[b].copy(),
                None if self._pending_values is None else self._pending_values[b].copy()))

    def _arrays(self, available: AvailableActions | None, num_envs: int
                ) -> tuple[np.ndarray, np.ndarray | None]:
        if available is None:
            if self.values is not None:
                raise InputError("available", "this buffer stores candidate items or features: "
                                 "every step must report its candidate set")
            k = 1 if self.mask is None else self.mask.shape[2]
            return np.ones((num_envs, k), np.bool_), None
        mask = as_batch_array("available.mask", available.mask).astype(np.bool_, copy=False)
        if mask.ndim != 2 or mask.shape[0] != num_envs:
            raise InputError("available.mask", f"expected shape ({num_envs}, K), got "
                             f"{mask.shape}")
        if self.mask is not None and mask.shape[1] != self.mask.shape[2]:
            raise InputError("available.mask", f"expected {self.mask.shape[2]} slots per step "
                             f"(as before), got {mask.shape[1]}")
        values = None
        if available.items is not None:
            values = as_batch_array("available.items", available.items).astype(np.int32)
        elif available.features is not None:
            values = as_batch_array("available.features", available.features).astype(
                np.float32, copy=False)
        if values is not None and values.shape[:2] != mask.shape:
            raise InputError("available", f"items/features of shape {values.shape} do not "
                             f"match the mask's {mask.shape}")
        if values is not None and self.mask is not None and self.values is None:
            raise InputError("available", "candidate items or features after steps that had "
                             "masks only: every step must report its set the same way")
        return mask, values

    def _allocate(self, mask: np.ndarray, values: np.ndarray | None, t_rows: int,
                  num_envs: int) -> None:
        self.mask = np.ones((t_rows, num_envs, mask.shape[1]), np.bool_)  # earlier rows: all
        if values is not None:
            self.values = np.zeros((t_rows, *values.shape), values.dtype)

    def attach(self, batch: TransitionBatch, t: Tensor, b: Tensor, end: Tensor, pos: int
               ) -> TransitionBatch:
        """``batch`` (rows ``t`` of columns ``b``, whose next observations are those of rows
        ``end``) with its candidate sets: ``mask`` and ``candidates`` at the observations,
        ``next_mask`` and ``next_candidates`` at the next ones (ids or features as stored)."""
        if self.mask is None:
            return batch
        current, following = self.at(t, b), self.after(end, b, pos)
        next_mask = following.mask if batch.next_mask is None else following.mask & batch.next_mask
        return replace(batch, mask=current.mask, candidates=current.features,
                       next_mask=next_mask, next_candidates=following.features)

    def after(self, t: Tensor, b: Tensor, pos: int) -> Candidates:
        """The sets at the next observations of rows ``t`` of columns ``b``: the next rows',
        the pending set where that row is not written yet (``pos`` is the next row to write),
        and a truncated transition's own final set."""
        assert self.mask is not None
        after = torch.remainder(t + 1, self.mask.shape[0])
        following = self.at(after, b)
        pending = after == pos
        if bool(pending.any()):
            assert self._pending_mask is not None
            cols = b[pending]
            following.mask[pending] = torch.from_numpy(self._pending_mask)[cols]
            if following.features is not None and self._pending_values is not None:
                following.features[pending] = torch.from_numpy(self._pending_values)[cols].to(
                    following.features.dtype)
        if self._finals:
            rows = (t * self.mask.shape[1] + b).tolist()
            for i, saved in enumerate(self._finals.get(row) for row in rows):
                if saved is not None:
                    following.mask[i] = torch.from_numpy(saved[0])
                    if following.features is not None and saved[1] is not None:
                        following.features[i] = torch.from_numpy(saved[1])
        return following

    def at(self, t: Tensor, b: Tensor) -> Candidates:
        assert self.mask is not None
        mask = torch.from_numpy(self.mask)[t, b]  # advanced indexing: a copy
        if self.values is None:
            return Candidates(mask, None)
        values = torch.from_numpy(self.values)[t, b]
        return Candidates(mask, values if values.is_floating_point() else values.long())

    def state(self, rows: int) -> dict[str, Tensor]:
        if self.mask is None:
            return {}
        saved = {"candidate_mask": torch.from_numpy(self.mask[:rows].copy()),
                 "pending_mask": torch.from_numpy(np.array(self._pending_mask))}
        if self.values is not None:
            saved["candidate_values"] = torch.from_numpy(self.values[:rows].copy())
            saved["pending_values"] = torch.from_numpy(np.array(self._pending_values))
        if self._finals:
            keys = sorted(self._finals)
            saved["final_rows"] = torch.tensor(keys, dtype=torch.int64)
            saved["final_mask"] = torch.from_numpy(np.stack([self._finals[k][0] for k in keys]))
            if self.values is not None:
                saved["final_values"] = torch.from_numpy(np.stack(
                    [np.asarray(self._finals[k][1]) for k in keys]))
        return saved

    def load(self, saved: dict[str, Any], t_rows: int, num_envs: int) -> None:
        self.mask = self.values = self._pending_mask = self._pending_values = None
        self._pending_of, self._finals = None, {}
        if "candidate_mask" not in saved:
            return
        mask = saved["candidate_mask"].numpy()
        values = saved.get("candidate_values")
        self.mask = np.ones((t_rows, num_envs, mask.shape[2]), np.bool_)
        self.mask[: mask.shape[0]] = mask
        self._pending_mask = saved["pending_mask"].numpy().copy()
        if values is not None:
            self.values = np.zeros((t_rows, *values.shape[1:]), values.numpy().dtype)
            self.values[: values.shape[0]] = values.numpy()
            self._pending_values = saved["pending_values"].numpy().copy()
        if "final_rows" in saved:
            final_values = saved.get("final_values")
            for i, row in enumerate(saved["final_rows"].tolist()):
                self._finals[int(row)] = (saved["final_mask"][i].numpy().copy(), None
                                          if final_values is None else
                                          final_values[i].numpy().copy())


__all__ = ["CandidateColumn", "Candidates"]
