"""Action representations: which features a learner scores for each candidate action.

- :class:`IdentityActionRepresentation` — the features the space or the environment gives (per
  step candidate features first), or none: the action is its index.
- :class:`OneHotActionRepresentation` — ``e_a`` in ``R^K``: every action its own parameters.
- :class:`BinaryActionRepresentation` — the ``⌈log₂ K⌉`` bits of the index as ±1: actions
  share parameters through common bits, ``K`` actions in ``log K`` dimensions (Pearl's binary
  action representation for large action sets). ±1 rather than 0/1, so that no action's code
  is the zero vector (a linear model could never score or learn that action).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

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


__all__ = [
    "BinaryActionRepresentation",
    "IdentityActionRepresentation",
    "OneHotActionRepresentation",
]
