"""Risk measures: how a return distribution becomes the value an action is chosen by.

A distributional learner (:class:`~nacre.learners.QRDQN`) holds ``N`` quantiles of each action's
return; a risk measure turns them into one number per action. It sits in the agent's safety slot
(it allows every action: its ``filter`` changes nothing) and :func:`nacre.build` hands it to the
learner, which uses it twice, as Pearl's risk-sensitive safety modules do (Zhu et al. 2023,
§3.3): for the scores the agent acts on and for the action its TD target bootstraps from, so the
learned distribution is that of the risk-sensitive policy itself.

The quantiles stand for equal slices of probability ``1/N`` (:mod:`nacre.losses.distributional`),
so the quantile function is a step function and these measures are computed exactly on it.
"""

from __future__ import annotations

import torch
from torch import Tensor


class _AllowsEverything:
    """A risk measure restricts no action (what the safety slot's ``filter`` asks)."""

    def filter(self, state: Tensor, scores: Tensor, mask: Tensor | None) -> Tensor | None:
        return mask


class RiskNeutral(_AllowsEverything):
    """The mean of the distribution: ``E[Z]`` (what DQN maximizes)."""

    def value(self, quantiles: Tensor) -> Tensor:
        """``[..., N]`` quantiles → ``[...]`` values."""
        return quantiles.mean(dim=-1)


class MeanVariance(_AllowsEverything):
    """``E[Z] − β · Var[Z]``: a mean penalized by the spread of the return (Markowitz).

    Example:
        >>> import torch
        >>> MeanVariance(beta=1.0).value(torch.tensor([[1.0, 3.0], [2.0, 2.0]]))
        tensor([1., 2.])
    """

    def __init__(self, beta: float) -> None:
        if not beta >= 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        self.beta = float(beta)

    def value(self, quantiles: Tensor) -> Tensor:
        mean = quantiles.mean(dim=-1)
        variance = (quantiles - mean.unsqueeze(-1)).square().mean(dim=-1)
        return mean - self.beta * variance


class CVaR(_AllowsEverything):
    """Conditional value at risk: the mean of the worst ``α`` fraction of returns,
    ``(1/α) ∫₀^α F⁻¹(u) du``; ``α = 1`` is the mean.

    The quantiles are sorted first: a learned quantile function need not be monotone
    (quantile crossing), and CVaR is defined on the sorted one.

    Example:
        >>> import torch
        >>> CVaR(alpha=0.5).value(torch.tensor([4.0, 0.0, 2.0, 6.0]))
        tensor(1.)
    """

    def __init__(self, alpha: float) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.alpha = float(alpha)

    def value(self, quantiles: Tensor) -> Tensor:
        n = quantiles.shape[-1]
        lower = torch.arange(n, device=quantiles.device, dtype=quantiles.dtype) / n
        # the probability mass of each slice [i/N, (i+1)/N) that lies below α
        mass = (torch.clamp(self.alpha - lower, min=0.0).clamp(max=1.0 / n))
        ordered = quantiles.sort(dim=-1).values
        return (ordered * mass).sum(dim=-1) / self.alpha


__all__ = ["CVaR", "MeanVariance", "RiskNeutral"]
