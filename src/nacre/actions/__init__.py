"""Action representations: which features a learner scores for each candidate action.

- :class:`IdentityActionRepresentation` — the features the space or the environment gives (per
  step candidate features first), or none: the action is its index.
- :class:`OneHotActionRepresentation` — ``e_a`` in ``R^K``: every action its own parameters.
- :class:`BinaryActionRepresentation` — the ``⌈log₂ K⌉`` bits of the index as ±1: actions
  share parameters through common bits, ``K`` actions in ``log K`` dimensions (Pearl's binary
  action representation for large action sets). ±1 rather than 0/1, so that no action's code
  is the zero vector (a linear model could never score or learn that action).
- :class:`EmbeddingActionRepresentation` — each action's id (its catalogue item where per-step
  candidates hold items, else its index), for a network that learns an embedding per id end to
  end with its own loss (``network.head: two_tower``): a representation with parameters belongs
  to the learner that trains them, so this one only says which row of the table to read.

:class:`CandidateBatches` applies the representation to the candidate sets stored with sampled
transitions (:mod:`nacre.data.candidates`), so a learner scores the same features it acted on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import torch
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.data.candidates import Candidates
from nacre.data.rollout import Rollout
from nacre.errors import SpaceError
from nacre.spaces import ActionSpace, AvailableActions, DiscreteActionSpace


class IdentityActionRepresentation:
    """Per-step candidate features if given, else the space's static features (or none)."""

    def represent(self, space: ActionSpace, available: AvailableActions | None) -> Tensor | None:
        if available is not None:
            features = available.features_in(space)
            if features is not None:
                return features
        if isinstance(space, DiscreteActionSpace):
            return space.features
        return None


class _IndexCode:
    """A fixed code ``[K, d_a]`` of each action's index, made once per action count."""

    def __init__(self) -> None:
        self._cache: dict[int, Tensor] = {}

    def code(self, n: int) -> Tensor:
        raise NotImplementedError

    def represent(self, space: ActionSpace, available: AvailableActions | None) -> Tensor:
        if not isinstance(space, DiscreteActionSpace):
            raise TypeError(f"{type(self).__name__} needs a discrete action space")
        if space.n not in self._cache:
            self._cache[space.n] = self.code(space.n)
        return self._cache[space.n]


class OneHotActionRepresentation(_IndexCode):
    """``e_a``: the identity matrix ``[K, K]``."""

    def code(self, n: int) -> Tensor:
        return torch.eye(n)


class BinaryActionRepresentation(_IndexCode):
    """The bits of the index, least significant first, as ±1: ``[K, max(1, ⌈log₂ K⌉)]``."""

    def code(self, n: int) -> Tensor:
        bits = max(1, math.ceil(math.log2(n)))
        index = torch.arange(n)[:, None]
        return ((index >> torch.arange(bits)) & 1).float() * 2.0 - 1.0


class EmbeddingActionRepresentation:
    """Action ids for a learned embedding table of ``rows`` entries: the per-step ``items``
    (``[B, K]``) where there are some, else the indices ``[K]``."""

    def __init__(self, rows: int) -> None:
        self.rows = rows

    def represent(self, space: ActionSpace, available: AvailableActions | None) -> Tensor:
        if not isinstance(space, DiscreteActionSpace):
            raise SpaceError("the embedding action representation needs discrete actions")
        if available is not None and available.items is not None:
            return available.items.long()
        return torch.arange(space.n)


def on_device(x: Tensor | None, device: torch.device) -> Tensor | None:
    """``x`` on ``device`` (None stays None)."""
    return None if x is None else x.to(device)


Represent = Callable[[ActionSpace, AvailableActions | None], Tensor | None]


class CandidateBatches:
    """What the agent does to each sampled batch before its learner sees it: the stored
    candidate sets represented as when acting (``represent``, for the action space set in
    :attr:`space`), then ``then`` (a safety module's restriction of the targets), if any."""

    def __init__(self, represent: Represent,
                 then: Callable[[TransitionBatch], TransitionBatch] | None = None) -> None:
        self.represent = represent
        self.then = then
        self.space: ActionSpace | None = None

    def __call__(self, batch: TransitionBatch) -> TransitionBatch:
        if batch.candidates is not None and self.space is not None:
            batch = replace(batch, candidates=self._rows(batch.mask, batch.candidates),
                            next_candidates=self._rows(batch.next_mask, batch.next_candidates))
        return batch if self.then is None else self.then(batch)

    def rollout(self, rollout: Rollout) -> Rollout:
        """``rollout`` with its candidate sets represented (``[T, B, K, d]`` or ids)."""
        if rollout.candidates is None or rollout.mask is None or self.space is None:
            return rollout
        steps, envs, k = rollout.mask.shape
        rows = self._rows(rollout.mask.reshape(steps * envs, k),
                          rollout.candidates.reshape(steps * envs, *rollout.candidates.shape[2:]))
        assert rows is not None
        return replace(rollout, candidates=rows.reshape(steps, envs, *rows.shape[1:]))

    def _rows(self, mask: Tensor | None, stored: Tensor | None) -> Tensor | None:
        """One representation per row: ``[n, K, d]`` features or ``[n, K]`` ids."""
        if stored is None or mask is None:
            return stored
        assert self.space is not None
        out = self.represent(self.space, Candidates(mask, stored).available())
        if out is None:
            return None
        out = out.to(mask.device)  # a catalogue may stay on the CPU while the batch moved
        if out.ndim == (3 if out.is_floating_point() else 2):
            return out
        return out.unsqueeze(0).expand(mask.shape[0], *out.shape)  # a code shared by all rows


__all__ = [
    "BinaryActionRepresentation",
    "CandidateBatches",
    "EmbeddingActionRepresentation",
    "IdentityActionRepresentation",
    "OneHotActionRepresentation",
    "on_device",
]
