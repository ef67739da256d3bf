"""Policy-gradient losses and action log-densities (pure functions).

PPO's clipped surrogate (Schulman et al. 2017), its value loss with optional clipping (as in the
OpenAI baselines PPO2 implementation), and the log-densities of the Gaussian and tanh-squashed
Gaussian policies (Haarnoja et al. 2018, appendix C).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

_LOG_2PI = math.log(2.0 * math.pi)


def ppo_clip_loss(
    log_prob: Tensor, old_log_prob: Tensor, advantages: Tensor, clip: float
) -> tuple[Tensor, Tensor, Tensor]:
    """``−E[min(ρ A, clip(ρ, 1 − ε, 1 + ε) A)]`` with ``ρ = π(a|s) / π_old(a|s)``.

    Returns ``(loss, clip_fraction, approx_kl)``; ``approx_kl`` is the low-variance estimator
    ``E[(ρ − 1) − log ρ]`` of KL(π_old ‖ π) (both metrics detached).
    """
    log_ratio = log_prob - old_log_prob
    ratio = log_ratio.exp()
    surrogate = torch.min(ratio * advantages, ratio.clamp(1.0 - clip, 1.0 + clip) * advantages)
    with torch.no_grad():
        clip_fraction = ((ratio - 1.0).abs() > clip).float().mean()
        approx_kl = ((ratio - 1.0) - log_ratio).mean()
    return -surrogate.mean(), clip_fraction, approx_kl


def policy_gradient_loss(log_prob: Tensor, advantage: Tensor) -> Tensor:
    """``−mean(log π(a|s) · A)``: the score-function (REINFORCE) estimator's surrogate, whose
    gradient is the policy gradient for fixed advantages ``A`` (Williams 1992)."""
    return -(log_prob * advantage).mean()


def value_loss(
    values: Tensor, returns: Tensor, old_values: Tensor | None = None, clip: float | None = None
) -> Tensor:
    """Mean squared error to the returns; with ``clip``, the larger of the errors of the new
    value and of the old value moved by at most ``clip`` (PPO2's value clipping)."""
    error = (values - returns).square()
    if clip is None or old_values is None:
        return error.mean()
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    return torch.max(error, (clipped - returns).square()).mean()


def gaussian_log_prob(mean: Tensor, log_std: Tensor, x: Tensor) -> Tensor:
    """Log-density of ``x`` under a diagonal Gaussian, summed over the last dimension."""
    z = (x - mean) * torch.exp(-log_std)
    return (-0.5 * z.square() - log_std - 0.5 * _LOG_2PI).sum(dim=-1)


def gaussian_entropy(log_std: Tensor) -> Tensor:
    """Entropy of a diagonal Gaussian, summed over the last dimension."""
    return (log_std + 0.5 * (1.0 + _LOG_2PI)).sum(dim=-1)


def squashed_gaussian_log_prob(mean: Tensor, log_std: Tensor, pre_tanh: Tensor) -> Tensor:
    """Log-density of ``a = tanh(u)`` for ``u ~ N(mean, std)``, given ``u`` (``pre_tanh``).

    ``log p(a) = log N(u) − Σ log(1 − tanh²(u))``, with ``log(1 − tanh²(u))`` written as
    ``2 (log 2 − u − softplus(−2u))``, which stays finite where ``tanh(u)`` rounds to ±1.
    """
    correction = 2.0 * (math.log(2.0) - pre_tanh - F.softplus(-2.0 * pre_tanh))
    return gaussian_log_prob(mean, log_std, pre_tanh) - correction.sum(dim=-1)


UNAVAILABLE_LOGIT = -1e9  # far below any logit; finite, so p · log p stays 0 where p = 0


def masked_logits(logits: Tensor, mask: Tensor | None) -> Tensor:
    """``logits`` ``[B, K]`` with the actions ``mask`` marks unavailable (False) pushed to
    :data:`UNAVAILABLE_LOGIT`: a softmax gives them probability 0, so log-probabilities,
    entropies and soft values run over the available actions only (Huang & Ontañón 2022,
    "A closer look at invalid action masking in policy gradient algorithms"). A finite value
    rather than −inf keeps ``0 · log 0`` terms at 0 instead of NaN."""
    if mask is None:
        return logits
    return logits.masked_fill(~mask, UNAVAILABLE_LOGIT)


def categorical_log_prob(logits: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
    """``(log π(a|s), entropy)`` of a categorical policy given its logits ``[B, K]``."""
    log_p = torch.log_softmax(logits, dim=-1)
    entropy = -(log_p.exp() * log_p).sum(dim=-1)
    return log_p.gather(-1, action.long().unsqueeze(-1)).squeeze(-1), entropy


def factored_log_prob(logits: Tensor, action: Tensor, nvec: Sequence[int]
                      ) -> tuple[Tensor, Tensor]:
    """``(log π(a|s), entropy)`` of a factored categorical policy: ``logits [B, Σ nvec]`` hold
    one block per choice, ``action [B, k]`` one index per choice. The choices are independent
    given the state, so log-probabilities and entropies add up."""
    parts = [categorical_log_prob(block, action[:, i])
             for i, block in enumerate(torch.split(logits, list(nvec), dim=-1))]
    return (torch.stack([lp for lp, _ in parts]).sum(dim=0),
            torch.stack([h for _, h in parts]).sum(dim=0))


def block_log_softmax(logits: Tensor, nvec: Sequence[int]) -> Tensor:
    """Log-probabilities of a factored categorical policy, ``[B, Σ nvec]``: a log-softmax over
    each choice's block of logits (one block of ``K``: the plain categorical)."""
    if len(nvec) == 1:
        return torch.log_softmax(logits, dim=-1)
    return torch.cat([torch.log_softmax(block, dim=-1)
                      for block in torch.split(logits, list(nvec), dim=-1)], dim=-1)


def pad_factored_logits(logits: Tensor, nvec: Sequence[int]) -> Tensor:
    """``[B, Σ nvec]`` logits as ``[B, k, max(nvec)]``, padded with −inf (probability 0)."""
    out = logits.new_full((logits.shape[0], len(nvec), max(nvec)), float("-inf"))
    for i, block in enumerate(torch.split(logits, list(nvec), dim=-1)):
        out[:, i, : block.shape[1]] = block
    return out
