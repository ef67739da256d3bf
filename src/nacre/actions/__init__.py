"""Action representations: which features a learner scores for each candidate action."""

from __future__ import annotations

from torch import Tensor

from nacre.spaces import ActionSpace, AvailableActions, DiscreteActionSpace


class IdentityActionRepresentation:
    """Per-step candidate features if given, else the space's static features (or none)."""

    def represent(self, space: ActionSpace, available: AvailableActions | None) -> Tensor | None:
        if available is not None and available.features is not None:
            return available.features
        if isinstance(space, DiscreteActionSpace):
            return space.features
        return None


__all__ = ["IdentityActionRepresentation"]
