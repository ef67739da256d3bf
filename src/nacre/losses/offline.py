"""Losses of the offline learners (pure functions).

Behaviour cloning; CQL's conservative penalty (Kumar et al. 2020), discrete and continuous;
IQL's expectile value loss and advantage-weighted actor (Kostrikov et al. 2022, after Peng et al.
2019's AWR); TD3+BC's actor (Fujimoto & Gu 2021). The TD targets are
:func:`nacre.losses.td.td_target` of the values below.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def bc_discrete_loss(logits: Tensor, action: Tensor) -> Tensor:
    """Cross-entropy ``−mean log softmax(logits)[a]`` of the logged actions ``[N]`` under
    logits ``[N, K]``."""
    return F.cross_entropy(logits, action.long())


def bc_continuous_loss(predicted: Tensor, action: Tensor) -> Tensor:
    """``mean (μ(s) − a)²`` over rows and action dimensions."""
    return (predicted - action).square().mean()


def conservative_penalty(q_all: Tensor, q_taken: Tensor) -> Tensor:
    """Discrete CQL(H): ``mean(log Σ_a exp Q(s, a) − Q(s, a_data))`` for ``q_all [N, K]`` —
    pushes down the values of every action, up those the data took."""
    return (torch.logsumexp(q_all, dim=-1) - q_taken).mean()


def sampled_logsumexp(q: Tensor, log_density: Tensor) -> Tensor:
    """Continuous CQL(H)'s importance-sampled ``log ∫ exp Q(s, a) da``: ``log Σ_j exp(Q(s,
    a_j) − log p(a_j))`` over ``M`` sampled actions, for ``q`` and ``log_density`` ``[..., N,
    M]`` → ``[..., N]``. Like Kumar et al.'s code (and d3rlpy), without the ``−log M`` of a
    mean: a constant for the gradient, but it shifts the gap a Lagrange threshold is set
    against."""
    return torch.logsumexp(q - log_density, dim=-1)


def uniform_log_density(action_dim: int) -> float:
    """``log p`` of the uniform distribution on ``[-1, 1]^d``: ``−d log 2``."""
    return -action_dim * math.log(2.0)


def expectile_loss(diff: Tensor, expectile: float) -> Tensor:
    """``mean |τ − 1(u < 0)| u²`` of ``u = Q(s, a) − V(s)``: with ``τ > ½``, ``V`` regresses
    toward an upper expectile of the values of the data's actions (IQL's in-sample max)."""
    weight = torch.where(diff < 0, 1.0 - expectile, expectile)
    return (weight * diff.square()).mean()


def awr_weights(advantage: Tensor, beta: float, max_weight: float) -> Tensor:
    """``min(exp(β A), w_max)`` (detached): how strongly each logged action is imitated."""
    return torch.exp(beta * advantage.detach()).clamp(max=max_weight)


def weighted_log_likelihood_loss(log_prob: Tensor, weight: Tensor) -> Tensor:
    """``−mean w · log π(a|s)``: advantage-weighted regression on the data's actions."""
    return -(weight * log_prob).mean()


def td3_bc_actor_loss(q: Tensor, policy_action: Tensor, action: Tensor, alpha: float
                      ) -> Tensor:
    """``−λ mean Q(s, π(s)) + mean ‖π(s) − a‖²`` with ``λ = α / mean|Q|`` (detached), which
    keeps the two terms on one scale whatever the rewards' scale."""
    lam = alpha / q.abs().mean().detach().clamp(min=1e-6)
    return -lam * q.mean() + (policy_action - action).square().mean()


__all__ = [
    "awr_weights",
    "bc_continuous_loss",
    "bc_discrete_loss",
    "conservative_penalty",
    "expectile_loss",
    "sampled_logsumexp",
    "td3_bc_actor_loss",
    "uniform_log_density",
    "weighted_log_likelihood_loss",
]
