"""Exploration over discrete actions. Every module returns the propensity of its choice.

The propensity is the probability with which the behaviour policy picked the logged action; it
feeds off-policy evaluation and the decision log, so it is computed exactly, including ties with
the greedy action under ε-greedy (Sutton & Barto 2018, §2.2–2.3 and §5.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from nacre.exploration.policy import FactoredMode, MeanAction, uniform_box
from nacre.kinds import ScoresKind
from nacre.spaces import ActionSpace, BoxActionSpace, MultiDiscreteActionSpace
from nacre.types import ActionDistribution, Exploration


def means(scores: Tensor) -> Tensor:
    """The mean scores ``[B, K]``: the scores themselves, or channel 0 (``μ``) of posterior
    scores ``[B, K, 2]`` (``[μ, σ]`` from :mod:`nacre.learners.bandits`)."""
    return scores[..., 0] if scores.ndim == 3 else scores


def masked_means(scores: Tensor, mask: Tensor | None) -> Tensor:
    """The mean scores with unavailable actions at ``-inf`` (for an argmax)."""
    scores = means(scores)
    return scores if mask is None else scores.masked_fill(~mask, float("-inf"))


def available(scores: Tensor, mask: Tensor | None) -> Tensor:
    """The available actions ``[B, K]`` bool: ``mask``, or all of them."""
    if mask is None:
        return torch.ones(scores.shape[:2], dtype=torch.bool, device=scores.device)
    return mask


def sample(probs: Tensor, generator: Any) -> tuple[Tensor, Tensor]:
    """One action per row drawn from ``probs [B, K]``, with its probability (float32)."""
    action = torch.multinomial(probs, 1, generator=generator).squeeze(1)
    return action, probs.gather(1, action[:, None]).squeeze(1).float()


def _uniform(
    scores: Tensor, mask: Tensor | None, generator: torch.Generator | None
) -> tuple[Tensor, Tensor | float]:
    b, k = scores.shape[:2]
    if mask is None:
        return torch.randint(k, (b,), generator=generator, device=scores.device), 1.0 / k
    weights = mask.to(torch.float32)
    action = torch.multinomial(weights, 1, generator=generator).squeeze(1)
    return action, 1.0 / weights.sum(dim=1)


def uniform_valid(
    scores: Tensor, mask: Tensor | None, generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    """A uniformly random available action per row, with propensity ``1 / #available``."""
    action, p = _uniform(scores, mask, generator)
    if isinstance(p, float):
        p = torch.full(action.shape, p, device=scores.device)
    return action, p


@dataclass(frozen=True)
class LinearSchedule:
    """Linear interpolation from ``start`` to ``end`` over ``steps`` steps, then constant."""

    start: float
    end: float
    steps: int

    def __call__(self, step: int) -> float:
        if self.steps <= 0 or step >= self.steps:
            return self.end
        return self.start + (self.end - self.start) * (step / self.steps)


# score kinds an argmax over actions fits (posterior scores: over their means)
_DISCRETE = frozenset({ScoresKind.VALUES, ScoresKind.LOGITS, ScoresKind.POSTERIOR,
                       ScoresKind.ENSEMBLE})


class Greedy:
    """Always the best available action; propensity 1."""

    accepts = _DISCRETE

    def select(
        self, scores: Tensor, mask: Tensor | None, step: int, generator: Any
    ) -> tuple[Tensor, Tensor]:
        action = masked_means(scores, mask).argmax(dim=1)
        return action, torch.ones(action.shape[0], device=scores.device)

    def distribution(self, scores: Tensor, mask: Tensor | None, step: int) -> Tensor:
        """The probability of every action ``[B, K]`` (one-hot on the greedy one)."""
        return torch.nn.functional.one_hot(masked_means(scores, mask).argmax(dim=1),
                                           scores.shape[1]).float()


def exploit_for(space: ActionSpace | None) -> Exploration:
    """The deterministic choice in ``space`` (what ``exploit=True`` takes): the mean of a
    continuous policy, each choice's mode for MultiDiscrete, else the greedy action."""
    if isinstance(space, BoxActionSpace):
        return MeanAction()
    return FactoredMode() if isinstance(space, MultiDiscreteActionSpace) else Greedy()


class EpsilonGreedy:
    """With probability ε a uniformly random available action, else the greedy one.

    Example:
        >>> import torch
        >>> explore = EpsilonGreedy(LinearSchedule(1.0, 0.1, 100))
        >>> a, p = explore.select(torch.tensor([[0.0, 1.0]]), None, step=100, generator=None)
        >>> round(float(p[0]), 3) if int(a[0]) == 1 else round(float(p[0]), 3)  # doctest: +SKIP
    """

    accepts = _DISCRETE

    def __init__(self, epsilon: LinearSchedule | float) -> None:
        self.epsilon = epsilon if isinstance(epsilon, LinearSchedule) else LinearSchedule(
            float(epsilon), float(epsilon), 0
        )

    def select(
        self, scores: Tensor, mask: Tensor | None, step: int, generator: Any
    ) -> tuple[Tensor, Tensor]:
        eps = self.epsilon(step)
        scores = means(scores)
        if mask is None and scores.shape[0] == 1 and scores.device.type == "cpu":
            return self._select_one(scores, eps, generator)
        greedy = masked_means(scores, mask).argmax(dim=1)
        random, p_random = _uniform(scores, mask, generator)
        explore = torch.rand(greedy.shape[0], generator=generator, device=scores.device) < eps
        action = torch.where(explore, random, greedy)
        # P(a) = ε/|A| for every available a, plus (1-ε) when a is the greedy action.
        if isinstance(p_random, float):
            propensity = torch.where(action == greedy, 1.0 - eps + eps * p_random, eps * p_random)
        else:
            propensity = (action == greedy).to(torch.float32).mul_(1.0 - eps).add_(p_random * eps)
        return action, propensity

    def distribution(self, scores: Tensor, mask: Tensor | None, step: int) -> Tensor:
        """ε spread uniformly over the available actions, ``1 − ε`` more on the greedy one."""
        eps = self.epsilon(step)
        avail = available(scores, mask).float()
        probs = avail * (eps / avail.sum(1, keepdim=True))
        greedy = masked_means(scores, mask).argmax(dim=1, keepdim=True)
        return probs.scatter_add_(1, greedy, torch.full_like(probs[:, :1], 1.0 - eps))

    @staticmethod
    def _select_one(
        scores: Tensor, eps: float, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor]:
        # One decision (a single live system): the same distribution with Python scalars,
        # which costs half as much as the batched tensor path at B = 1.
        u_explore, u_action = torch.rand(2, generator=generator).tolist()
        k = scores.shape[1]
        greedy_t = scores.argmax(dim=1)
        if u_explore >= eps:
            return greedy_t, torch.full((1,), 1.0 - eps + eps / k)
        action = min(int(u_action * k), k - 1)
        p = eps / k + (1.0 - eps if action == int(greedy_t) else 0.0)
        return torch.full((1,), action, dtype=torch.int64), torch.full((1,), p)


class Boltzmann:
    """Sample ``a ∝ exp(Q(s, a) / τ)`` over the available actions."""

    accepts = _DISCRETE

    def __init__(self, temperature: float = 1.0) -> None:
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def select(
        self, scores: Tensor, mask: Tensor | None, step: int, generator: Any
    ) -> tuple[Tensor, Tensor]:
        return sample(self.distribution(scores, mask, step), generator)

    def distribution(self, scores: Tensor, mask: Tensor | None, step: int) -> Tensor:
        """``softmax(Q / τ)`` over the available actions."""
        return torch.softmax(masked_means(scores, mask).float() / self.temperature, dim=1)


class Warmup:
    """Uniformly random available actions for the first ``steps`` steps, then ``inner``
    (``continuous``: uniform in the normalized action box ``[-1, 1]^d``)."""

    def __init__(self, inner: Exploration, steps: int, continuous: bool = False) -> None:
        self.inner = inner
        self.steps = steps
        self.continuous = continuous

    @property
    def accepts(self) -> frozenset[ScoresKind]:
        """What the inner explorer accepts (the warm-up ignores the scores)."""
        return self.inner.accepts

    def select(
        self, scores: Tensor, mask: Tensor | None, step: int, generator: Any
    ) -> tuple[Tensor, Tensor]:
        if step < self.steps:
            if self.continuous:
                return uniform_box(scores, generator)
            return uniform_valid(scores, mask, generator)
        return self.inner.select(scores, mask, step, generator)

    def distribution(self, scores: Tensor, mask: Tensor | None, step: int) -> Tensor:
        """Uniform over the available actions during warm-up, then the inner explorer's."""
        if step < self.steps and not self.continuous:
            avail = available(scores, mask).float()
            return avail / avail.sum(1, keepdim=True)
        if self.continuous or not isinstance(self.inner, ActionDistribution):
            raise NotImplementedError(f"{type(self.inner).__name__} has no action distribution")
        return self.inner.distribution(scores, mask, step)
