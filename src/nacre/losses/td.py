"""Temporal-difference targets (Sutton & Barto 2018, ch. 6; van Hasselt et al. 2016 for Double-Q).

``terminated`` means the episode truly ended: no bootstrap. A truncated episode (time limit) still
bootstraps from the value of its true final observation, so truncation never appears here.
``discount`` is either a float ``gamma`` or a per-sample tensor ``gamma**k`` from n-step returns.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor


def td_target(
    reward: Tensor, next_value: Tensor, terminated: Tensor, discount: float | Tensor
) -> Tensor:
    """``r + discount * (1 - terminated) * V(s')``."""
    return reward + discount * (1.0 - terminated.to(reward.dtype)) * next_value


def masked_max(q: Tensor, mask: Tensor | None) -> Tensor:
    """Max over the last dim, ignoring unavailable actions (rows with none available give 0)."""
    if mask is None:
        return q.max(dim=-1).values
    masked = q.masked_fill(~mask, float("-inf")).max(dim=-1).values
    return torch.where(mask.any(dim=-1), masked, torch.zeros_like(masked))


def masked_argmax(values: Tensor, mask: Tensor | None) -> Tensor:
    """The index of the highest value over the last dim among the available ones."""
    if mask is not None:
        values = values.masked_fill(~mask, float("-inf"))
    return values.argmax(dim=-1)


def ends(terminated: Tensor, next_mask: Tensor | None) -> Tensor:
    """``terminated``, and also 1 where the next state offers no available action (nothing to
    bootstrap from: the value there is 0)."""
    if next_mask is None:
        return terminated
    return torch.maximum(terminated, (~next_mask.any(dim=-1)).to(terminated.dtype))


def q_learning_target(
    reward: Tensor,
    next_q: Tensor,
    terminated: Tensor,
    discount: float | Tensor,
    next_mask: Tensor | None = None,
) -> Tensor:
    """Q-learning target ``r + γ (1 - d) max_a' Q_target(s', a')``."""
    return td_target(reward, masked_max(next_q, next_mask), terminated, discount)


def double_q_target(
    reward: Tensor,
    next_q_online: Tensor,
    next_q_target: Tensor,
    terminated: Tensor,
    discount: float | Tensor,
    next_mask: Tensor | None = None,
) -> Tensor:
    """Double-Q target: the online net picks ``a'``, the target net evaluates it."""
    best = masked_argmax(next_q_online, next_mask).unsqueeze(-1)
    next_value = next_q_target.gather(-1, best).squeeze(-1)
    if next_mask is not None:  # rows with no available action have no next value
        next_value = torch.where(next_mask.any(dim=-1), next_value, torch.zeros_like(next_value))
    return td_target(reward, next_value, terminated, discount)


def sarsa_target(
    reward: Tensor,
    next_q: Tensor,
    next_action: Tensor,
    terminated: Tensor,
    discount: float | Tensor,
    next_mask: Tensor | None = None,
) -> Tensor:
    """SARSA target ``r + γ (1 - d) Q(s', a')`` with ``a'`` the action actually taken next.

    Rows with ``next_action = -1`` (no action was taken at ``s'``: the episode was truncated
    there) bootstrap from ``max_a' Q(s', a')`` over the available actions.
    """
    known = next_action >= 0
    taken = next_q.gather(-1, next_action.long().clamp(min=0).unsqueeze(-1)).squeeze(-1)
    next_value = torch.where(known, taken, masked_max(next_q, next_mask))
    return td_target(reward, next_value, terminated, discount)


def td_loss(
    q: Tensor,
    target: Tensor,
    kind: Literal["huber", "mse"] = "huber",
    weight: Tensor | None = None,
) -> Tensor:
    """The regression loss of Q-values on their TD targets, averaged over the batch.

    ``huber`` is the smooth L1 loss with δ = 1 (Mnih et al. 2015 clip the TD error's gradient
    to [-1, 1], which is the same thing); ``mse`` the squared error. ``weight`` ([N]) are
    per-row importance weights (prioritized replay): ``mean(w · ρ(q − y))``.
    """
    each = elementwise_td_loss(q, target, kind)
    return each.mean() if weight is None else (each * weight).mean()


def elementwise_td_loss(q: Tensor, target: Tensor,
                        kind: Literal["huber", "mse"] = "huber") -> Tensor:
    """``ρ(q − y)`` for every element (Huber with δ = 1, or the squared error)."""
    return (F.smooth_l1_loss if kind == "huber" else F.mse_loss)(q, target, reduction="none")


def ensemble_q_target(
    reward: Tensor,
    next_q: Tensor,
    terminated: Tensor,
    discount: float | Tensor,
    next_mask: Tensor | None = None,
) -> Tensor:
    """Each ensemble member's own Q-learning target ``r + γ (1 − d) max_a' Q_m(s', a')``:
    ``next_q`` ``[n, M, K]`` → ``[n, M]`` (Osband et al. 2016: each head bootstraps from
    itself)."""
    mask = None if next_mask is None else next_mask.unsqueeze(1)
    column = discount.unsqueeze(1) if isinstance(discount, Tensor) else discount
    return td_target(reward.unsqueeze(1), masked_max(next_q, mask), terminated.unsqueeze(1),
                     column)


def bootstrapped_td_loss(
    q: Tensor,
    target: Tensor,
    bootstrap: Tensor | None = None,
    kind: Literal["huber", "mse"] = "huber",
    weight: Tensor | None = None,
) -> Tensor:
    """The TD loss of ``M`` ensemble members ``q`` ``[n, M]`` on their targets, each row
    counted for the members its bootstrap mask ``[n, M]`` (0/1, or any weights) gives it:
    ``mean_n w_n · mean_m b_nm ρ(q_nm − y_nm)`` (None: every member sees every row)."""
    each = elementwise_td_loss(q, target, kind)
    per_row = (each if bootstrap is None else each * bootstrap).mean(dim=1)
    return per_row.mean() if weight is None else (per_row * weight).mean()
