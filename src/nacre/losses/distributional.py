"""Quantile regression for distributional value learning (Dabney et al. 2018, "Distributional
Reinforcement Learning with Quantile Regression", QR-DQN).

A return distribution is held as ``N`` quantiles ``θ_1 … θ_N`` at the midpoints
``τ̂_i = (2i − 1) / (2N)`` of ``N`` equal slices of probability, so each stands for mass ``1/N``.
The risk measures of :mod:`nacre.safety.risk` read values off them; this module holds the TD
target and the loss that trains them.
"""

from __future__ import annotations

import torch
from torch import Tensor


def quantile_midpoints(n: int, device: torch.device | str | None = None,
                       dtype: torch.dtype = torch.float32) -> Tensor:
    """``τ̂_i = (2i − 1) / (2n)``, i = 1 … n: the levels QR-DQN's quantiles estimate."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return (torch.arange(n, device=device, dtype=dtype) + 0.5) / n


def action_quantiles(quantiles: Tensor, action: Tensor) -> Tensor:
    """The quantiles ``[B, N]`` of each row's ``action`` out of every action's ``[B, K, N]``."""
    index = action.long().view(-1, 1, 1).expand(-1, 1, quantiles.shape[-1])
    return quantiles.gather(1, index).squeeze(1)


def quantile_td_target(reward: Tensor, next_quantiles: Tensor, terminated: Tensor,
                       discount: float | Tensor) -> Tensor:
    """The target distribution ``r + γ (1 − d) θ'_j`` for each of the ``M`` next-state
    quantiles ``next_quantiles`` ``[B, M]`` → ``[B, M]`` (``discount``: γ, or ``γ^k`` per row
    from n-step returns)."""
    keep = (1.0 - terminated.to(reward.dtype)) * torch.as_tensor(discount, dtype=reward.dtype,
                                                                 device=reward.device)
    return reward.unsqueeze(-1) + keep.unsqueeze(-1) * next_quantiles


def quantile_huber_loss(quantiles: Tensor, target: Tensor, taus: Tensor, kappa: float = 1.0,
                        weight: Tensor | None = None) -> Tensor:
    """The quantile Huber loss of ``quantiles`` ``[B, N]`` (at levels ``taus``: ``[N]``, or
    ``[B, N]`` when each row has its own, as IQN's sampled levels) against
    the samples ``target`` ``[B, M]`` of the target distribution (Dabney et al. 2018, eq. 10).

    With ``u_ij = target_j − θ_i``::

        ρ_κ(τ_i, u) = |τ_i − 1{u < 0}| · L_κ(u) / κ,   L_κ: Huber with threshold κ
        loss        = mean_b  w_b · Σ_i  mean_j  ρ_κ(τ_i, u_bij)

    Summing over the quantiles and averaging over the target samples is the paper's estimator
    (sb3-contrib's ``sum_over_quantiles=True``). ``weight`` ``[B]``: importance weights from
    prioritized replay. The target carries no gradient.
    """
    if kappa <= 0:
        raise ValueError(f"kappa must be > 0, got {kappa}")
    u = target.detach().unsqueeze(-2) - quantiles.unsqueeze(-1)  # [B, N, M]
    magnitude = u.abs()
    huber = torch.where(magnitude <= kappa, 0.5 * u * u, kappa * (magnitude - 0.5 * kappa))
    asymmetry = (taus.unsqueeze(-1) - (u < 0).to(u.dtype)).abs()
    per_row = (asymmetry * huber / kappa).mean(dim=-1).sum(dim=-1)  # [B]
    return per_row.mean() if weight is None else (per_row * weight).mean()


__all__ = ["action_quantiles", "quantile_huber_loss", "quantile_midpoints",
           "quantile_td_target"]
