"""Observation windows cut from time-major ring storage at sample time.

A learner that reads the last ``k`` observations (a stacking or sequence summarizer of
:mod:`nacre.history`) needs, for each sampled transition, the window of observations that ends at
it. Storing that window with every transition multiplies replay memory by ``k`` (Pearl keeps the
whole history in each transition); here each observation is stored once and the windows are
gathered from the ring when a batch is drawn, so memory does not grow with ``k``.

A window never crosses an episode boundary or reaches past the oldest row still stored: those
positions are zero and masked out (``mask`` False), as at the start of an episode while acting.
"""

from __future__ import annotations

import torch
from torch import Tensor


def window_rows(t: Tensor, k: int, t_rows: int, stored_back: Tensor, stops: Tensor) -> tuple[
        Tensor, Tensor]:
    """Rows and mask of the ``k``-long windows ending at rows ``t`` (``[N]``) of one column each.

    ``stored_back`` (``[N]``): how many rows before ``t`` are still stored in the ring;
    ``stops`` (``[N, k - 1]``): whether the row ``j + 1`` steps before ``t`` ended its episode
    (terminated or truncated), for ``j = 0 … k - 2``. Returns ``rows`` ``[N, k]`` (oldest
    first, the last one ``t``) and ``mask`` ``[N, k]`` (True where the row belongs to ``t``'s
    episode and is stored).
    """
    back = torch.arange(k - 1, -1, -1, device=t.device)  # k-1 … 0 steps back
    rows = torch.remainder(t[:, None] - back, t_rows)
    # a position is in the episode if no row between it and t (it included) ended an episode
    ended = torch.cumsum(stops.to(torch.int64), dim=1) > 0  # [N, k-1]: j+1 back or nearer
    inside = torch.cat([~ended.flip(1), torch.ones_like(t, dtype=torch.bool)[:, None]], dim=1)
    stored = back[None, :] <= stored_back[:, None]
    return rows, inside & stored


def gather_windows(flat: Tensor, rows: Tensor, b: Tensor, mask: Tensor,
                   num_envs: int) -> Tensor:
    """``flat[rows * num_envs + b]`` as ``[N, k, *obs]`` with masked positions zero."""
    out = flat[rows * num_envs + b[:, None]]
    return out * mask.view(*mask.shape, *([1] * (out.dim() - 2))).to(out.dtype)


def mark_steps(windows: Tensor, mask: Tensor) -> Tensor:
    """``[N, k, D]`` windows with the mask appended as one more feature: ``[N, k, D + 1]``."""
    return torch.cat([windows.float(), mask[..., None].float()], dim=2)


__all__ = ["gather_windows", "mark_steps", "window_rows"]
