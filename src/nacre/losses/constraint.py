"""Reward-constrained learning (RCPO, Tessler et al. 2019): the pure maths of the Lagrangian.

The constrained problem is ``max_π J_r(π)`` subject to ``J_c(π) ≤ α``, where
``J_c = (1 − γ) E[Σ_t γᵗ cᵗ]`` is the discounted cost *rate* (the cost per step, in the units
of one step's cost, so that ``α`` reads as "at most this much cost per step"). Its Lagrangian
``J_r − λ (J_c − α)`` is a saddle point problem: the policy ascends ``Q_r − λ Q_c`` while the
multiplier ``λ ≥ 0`` ascends the constraint violation by projected gradient, on a slower
timescale.
"""

from __future__ import annotations

import torch
from torch import Tensor


def cost_rate(cost_values: Tensor, gamma: float) -> Tensor:
    """``(1 − γ) · mean V_c``: the discounted cost rate estimated from the cost values of the
    states (and the policy's actions) in a batch.

    Example:
        >>> cost_rate(torch.tensor([10.0, 30.0]), gamma=0.9)
        tensor(2.)
    """
    return (1.0 - gamma) * cost_values.mean()


def lagrange_step(lagrange: Tensor, rate: Tensor, threshold: float, lr: float) -> Tensor:
    """One projected gradient ascent step of the multiplier,
    ``λ ← max(0, λ + lr · (J_c − α))``: it grows while the constraint is violated and decays
    back to 0 while it holds with room to spare.

    Example:
        >>> lagrange_step(torch.tensor(0.5), torch.tensor(0.1), threshold=0.3, lr=1.0)
        tensor(0.3000)
        >>> lagrange_step(torch.tensor(0.1), torch.tensor(0.0), threshold=0.3, lr=1.0)
        tensor(0.)
    """
    return torch.clamp(lagrange + lr * (rate - threshold), min=0.0)


def penalized(reward_value: Tensor, cost_value: Tensor, lagrange: Tensor | float) -> Tensor:
    """``Q_r − λ Q_c`` (or advantages ``A_r − λ A_c``): what the policy of the Lagrangian
    ascends for a fixed ``λ``."""
    return reward_value - lagrange * cost_value


__all__ = ["cost_rate", "lagrange_step", "penalized"]
