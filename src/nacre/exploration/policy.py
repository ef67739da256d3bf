"""Exploration for learners whose scores describe a stochastic policy (PPO, REINFORCE, SAC …).

Discrete policies score actions with logits ``[B, K]``; Gaussian policies with
``[B, 2, d]`` = (mean, log standard deviation) in the normalized action box. Sampling returns the
propensity of the sampled action: its probability, or for continuous actions its density at the
sampled (normalized, unclipped) action.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from nacre.kinds import ScoresKind
from nacre.losses.policy import gaussian_log_prob, squashed_gaussian_log_prob


class PolicySampling:
    """Sample from the policy: categorical over logits (masked actions get probability 0) or
    the diagonal Gaussian ``N(mean, exp(log_std))``."""

    accepts = frozenset({ScoresKind.LOGITS, ScoresKind.GAUSSIAN})

    def select(
        self, scores: Tensor, mask: Tensor | None, step: int, generator: Any
    ) -> tuple[Tensor, Tensor]:
        if scores.dim() == 3:
            if scores.shape[1] != 2:
                raise ValueError("PolicySampling needs logits [B, K] or Gaussian scores "
                                 f"[B, 2, d], got shape {tuple(scores.shape)}")
            mean, log_std = scores[:, 0], scores[:, 1]
            noise = torch.randn(mean.shape, generator=generator, device=mean.device)
            action = mean + log_std.exp() * noise
            return action, gaussian_log_prob(mean, log_std, action).exp()
        logits = scores if mask is None else scores.masked_fill(~mask, float("-inf"))
        probs = torch.softmax(logits, dim=1)
        u = torch.rand(probs.shape[0], 1, generator=generator, device=probs.device)
        # inverse CDF: the first action whose cumulative probability exceeds u
        action = (probs.cumsum(dim=1) <= u).sum(dim=1).clamp_(max=probs.shape[1] - 1)
        if mask is not None:  # rounding can land on a masked tail action: take the last valid
            last_valid = mask.shape[1] - 1 - mask.flip(1).to(torch.int8).argmax(dim=1)
            action = torch.where(mask.gather(1, action[:, None]).squeeze(1), action, last_valid)
        return action, probs.gather(1, action[:, None]).squeeze(1)


class FactoredSampling:
    """Sample each choice of a MultiDiscrete / MultiBinary action from its own categorical
    (``[B, k, K_max]`` logits, −inf where a choice has fewer values); the propensity is the
    product of the choices' probabilities."""

    accepts = frozenset({ScoresKind.FACTORED})

    def select(
        self, scores: Tensor, mask: Tensor | None, step: int, generator: Any
    ) -> tuple[Tensor, Tensor]:
        probs = torch.softmax(scores, dim=2)
        u = torch.rand(probs.shape[0], probs.shape[1], 1, generator=generator,
                       device=probs.device)
        # inverse CDF per choice; rounding past a choice's last value is clamped back to it
        action = (probs.cumsum(dim=2) <= u).sum(dim=2)
        action = torch.minimum(action, (scores > float("-inf")).sum(dim=2) - 1)
        propensity = probs.gather(2, action[:, :, None]).squeeze(2).prod(dim=1)
        # a product of many choices' probabilities can fall below float32's smallest normal
        # number (0.5 ** 128), which flushes to 0: the nearest positive value stands for it
        return action, propensity.clamp_min(torch.finfo(propensity.dtype).tiny)


class FactoredMode:
    """The most probable value of each choice of a factored policy; propensity 1."""

    accepts = frozenset({ScoresKind.FACTORED})

    def select(
        self, scores: Tensor, mask: Tensor | None, step: int, generator: Any
    ) -> tuple[Tensor, Tensor]:
        return scores.argmax(dim=2), torch.ones(scores.shape[0], device=scores.device)


class MeanAction:
    """The deterministic choice for continuous policies: the mean of a Gaussian policy
    (``[B, 2, d]`` scores) or the action a deterministic actor outputs (``[B, d]``)."""

    accepts = frozenset({ScoresKind.GAUSSIAN, ScoresKind.ACTION, ScoresKind.SQUASHED})

    def select(
        self, scores: Tensor, mask: Tensor | None, step: int, generator: Any
    ) -> tuple[Tensor, Tensor]:
        action = scores[:, 0] if scores.dim() == 3 else scores
        return action, torch.ones(action.shape[0], device=scores.device)


class GaussianNoise:
    """Deterministic actions plus Gaussian noise, ``a = clip(μ(s) + σ ε, −1, 1)`` in the
    normalized action box (Fujimoto et al. 2018 use σ = 0.1). The propensity is the density of
    ``N(μ(s), σ²)`` at the sampled action before clipping (the stored action is the clipped one).
    """

    accepts = frozenset({ScoresKind.ACTION})

    def __init__(self, std: float = 0.1) -> None:
        if std <= 0:
            raise ValueError(f"std must be > 0, got {std}")
        self.std = std

    def select(
        self, scores: Tensor, mask: Tensor | None, step: int, generator: Any
    ) -> tuple[Tensor, Tensor]:
        mean = scores[:, 0] if scores.dim() == 3 else scores
        noise = torch.randn(mean.shape, generator=generator, device=mean.device)
        raw = mean + self.std * noise
        log_std = torch.full_like(mean, math.log(self.std))
        return raw.clamp(-1.0, 1.0), gaussian_log_prob(mean, log_std, raw).exp()


def uniform_box(scores: Tensor, generator: Any) -> tuple[Tensor, Tensor]:
    """Uniform actions in ``[-1, 1]^d`` (density ``2^-d``) for ``[B, d]`` or ``[B, 2, d]``
    scores."""
    mean = scores[:, 0] if scores.dim() == 3 else scores
    action = torch.rand(mean.shape, generator=generator, device=mean.device) * 2.0 - 1.0
    return action, torch.full((mean.shape[0],), 0.5 ** mean.shape[1], device=mean.device)


class SquashedGaussianSampling:
    """Sample ``a = tanh(u)``, ``u ~ N(μ, σ²)``, from ``[B, 3, d]`` scores (tanh(μ), μ, log σ)
    of a squashed Gaussian policy (SAC); the propensity is the density of ``a`` (tanh-corrected).
    """

    accepts = frozenset({ScoresKind.SQUASHED})

    def select(
        self, scores: Tensor, mask: Tensor | None, step: int, generator: Any
    ) -> tuple[Tensor, Tensor]:
        if scores.dim() != 3 or scores.shape[1] != 3:
            raise ValueError("SquashedGaussianSampling needs [B, 3, d] scores (tanh(μ), μ, log σ)"
                             f", got shape {tuple(scores.shape)}")
        mean, log_std = scores[:, 1], scores[:, 2]
        noise = torch.randn(mean.shape, generator=generator, device=mean.device)
        u = mean + log_std.exp() * noise
        return torch.tanh(u), squashed_gaussian_log_prob(mean, log_std, u).exp()
