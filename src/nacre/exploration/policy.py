"""Exploration for learners whose scores describe a stochastic policy (PPO, REINFORCE, SAC …).

Discrete policies score actions with logits ``[B, K]``; Gaussian policies with
``[B, 2, d]`` = (mean, log standard deviation) in the normalized action box. Sampling returns the
propensity of the sampled action: its probability, or for continuous actions its density at the
sampled (normalized, unclipped) action.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from nacre.losses.policy import gaussian_log_prob


class PolicySampling:
    """Sample from the policy: categorical over logits (masked actions get probability 0) or
    the diagonal Gaussian ``N(mean, exp(log_std))``."""

    def select(
        self, scores: Tensor, mask: Tensor | None, step: int, generator: Any
    ) -> tuple[Tensor, Tensor]:
        if scores.dim() == 3:
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


class MeanAction:
    """The deterministic choice for continuous policies: the mean of a Gaussian policy
    (``[B, 2, d]`` scores) or the action a deterministic actor outputs (``[B, d]``)."""

    def select(
        self, scores: Tensor, mask: Tensor | None, step: int, generator: Any
    ) -> tuple[Tensor, Tensor]:
        action = scores[:, 0] if scores.dim() == 3 else scores
        return action, torch.ones(action.shape[0], device=scores.device)
