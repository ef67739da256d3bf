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


def gae(
    rewards: Tensor,
    values: Tensor,
    next_values: Tensor,
    terminated: Tensor,
    ends: Tensor,
    gamma: float,
    lam: float,
    block: int = 64,
) -> tuple[Tensor, Tensor]:
    """Generalized advantage estimation (Schulman et al. 2016) over a time-major rollout.

    ``δ_t = r_t + γ (1 − terminated_t) V(s'_t) − V(s_t)`` and
    ``A_t = δ_t + γλ (1 − ends_t) A_{t+1}``, where ``s'_t`` is the true next observation (the
    final one where an episode was truncated, so truncation bootstraps) and ``ends_t`` marks the
    last step of an episode (terminated or truncated): advantages never flow across episodes.
    The last step of the rollout bootstraps from ``V(s'_{T-1})`` through ``δ``.

    No Python loop runs per step: within blocks of ``block`` steps the sums are one batched
    product with the matrix ``W[t, k] = (γλ)^{k−t}`` (zero where an episode ends in between),
    and only the carry between blocks is sequential (``T / block`` iterations).

    Args:
        rewards, values, next_values: ``[T, B]`` float.
        terminated, ends: ``[T, B]`` bool.
        gamma, lam: discount and GAE λ (λ = 1: Monte-Carlo returns minus the baseline; λ = 0:
            one-step TD errors).

    Returns:
        ``(advantages, returns)``, both ``[T, B]``; ``returns = advantages + values`` are the
        λ-returns the value function regresses on.
    """
    if rewards.dim() != 2:
        raise ValueError(f"gae expects time-major [T, B] tensors, got shape {tuple(rewards.shape)}")
    steps, envs = rewards.shape
    dtype = rewards.dtype
    delta = rewards + gamma * (~terminated).to(dtype) * next_values - values
    advantages = torch.empty_like(delta)
    carry = torch.zeros(envs, dtype=dtype, device=rewards.device)  # A at the block's end + 1
    gl = gamma * lam
    for stop in range(steps, 0, -block):
        start = max(0, stop - block)
        d = delta[start:stop].t()  # [B, L]
        e = ends[start:stop].t()
        length = stop - start
        # episode index of each step within the block: steps t and k (t <= k) are linked iff no
        # episode ends at t..k-1, i.e. iff the number of ends before t equals that before k.
        before = torch.cumsum(e.to(torch.int32), dim=1) - e.to(torch.int32)  # [B, L]
        idx = torch.arange(length, device=rewards.device)
        gap = (idx[None, :] - idx[:, None]).to(dtype)  # k - t
        linked = (before[:, :, None] == before[:, None, :]) & (gap >= 0)[None]
        weights = torch.where(linked, gl ** gap.clamp(min=0)[None], torch.zeros((), dtype=dtype))
        block_adv = torch.bmm(weights, d.unsqueeze(2)).squeeze(2)  # [B, L]
        # the carry reaches step t with factor (γλ)^{L−t} if no episode ends at t..L-1
        open_to_end = (before == (before[:, -1:] + e[:, -1:].to(torch.int32)))  # no end in t..L-1
        reach = gl ** (length - idx).to(dtype)
        block_adv = block_adv + torch.where(open_to_end, reach[None] * carry[:, None], 0.0)
        advantages[start:stop] = block_adv.t()
        carry = block_adv[:, 0]
    return advantages, advantages + values
