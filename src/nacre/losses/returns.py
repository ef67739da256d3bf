"""Multi-step returns (Sutton & Barto 2018, §7.1)."""

from __future__ import annotations

import torch
from torch import Tensor


def n_step_returns(
    rewards: Tensor, stops: Tensor, available: Tensor, gamma: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Discounted sums of up to ``n`` rewards per row.

    Args:
        rewards: ``[N, n]`` rewards ``r_t, r_{t+1}, ...``.
        stops: ``[N, n]`` bool, True where the episode ended (terminated or truncated) at that step.
        available: ``[N, n]`` bool, False where the step has not been recorded yet.
            Column 0 must be all True.
        gamma: discount factor.

    Returns:
        ``(ret, last, steps)``: the return ``Σ_k γ^k r_{t+k}`` over the steps included, the index of
        the last step included (whose next observation and ``terminated`` flag bootstrap the
        target), and how many steps were included (the bootstrap discount is ``γ**steps``).
    """
    n = rewards.shape[1]
    # A step is included if it is recorded and no earlier step in the row ended the episode.
    ended_before = torch.cumsum(stops.to(torch.int32), dim=1) - stops.to(torch.int32)
    missing_before = torch.cumsum((~available).to(torch.int32), dim=1)
    included = (ended_before == 0) & (missing_before == 0)
    powers = gamma ** torch.arange(n, dtype=rewards.dtype, device=rewards.device)
    ret = (rewards * powers * included.to(rewards.dtype)).sum(dim=1)
    steps = included.sum(dim=1)
    return ret, steps - 1, steps
