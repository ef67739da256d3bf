"""Safety modules: restrict the actions an agent may take."""

from __future__ import annotations

from torch import Tensor


class NoSafety:
    """Allows every available action (the null default)."""

    def filter(self, state: Tensor, scores: Tensor, mask: Tensor | None) -> Tensor | None:
        return mask


__all__ = ["NoSafety"]
