"""Ready-made action filters for well-known environments (what ``safety: {name: action_filter,
allowed: "nacre.safety.examples:<name>"}`` names), and examples to write your own from."""

from __future__ import annotations

import torch
from torch import Tensor

# Gymnasium's CliffWalking: 4 × 12 cells, index = 12·row + column; actions up, right, down,
# left; the cliff is row 3, columns 1–10, and the start is (3, 0)
_CLIFF_ROW_ABOVE = range(12 * 2 + 1, 12 * 2 + 11)
_START, _RIGHT, _DOWN = 12 * 3, 1, 2


def cliff_walking_allowed(state: Tensor) -> Tensor:
    """Every action of Gymnasium's ``CliffWalking-v1`` but those that step into the cliff (down
    from the cells above it, right from the start): ``[B]`` cell indices → ``[B, 4]``.

    Example:
        >>> import torch
        >>> cliff_walking_allowed(torch.tensor([36, 25, 0]))
        tensor([[ True, False,  True,  True],
                [ True,  True, False,  True],
                [ True,  True,  True,  True]])
    """
    cell = state.long().reshape(-1)
    allowed = torch.ones(cell.shape[0], 4, dtype=torch.bool, device=state.device)
    above = (cell >= _CLIFF_ROW_ABOVE.start) & (cell < _CLIFF_ROW_ABOVE.stop)
    allowed[:, _DOWN] &= ~above
    allowed[:, _RIGHT] &= cell != _START
    return allowed


__all__ = ["cliff_walking_allowed"]
