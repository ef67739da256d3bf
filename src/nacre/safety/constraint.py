"""Reward-constrained learning: the safety module that holds the cost budget and its price.

:class:`RewardConstraint` sits in the agent's safety slot (it allows every action) and
:func:`nacre.build` hands it to an actor-critic learner (TD3, DDPG, SAC, PPO), which then also
learns a cost critic from the steps' costs (``info["cost"]``, e.g. :class:`nacre.envs.ActionCost`)
and ascends ``Q_r − λ Q_c`` instead of ``Q_r`` (RCPO, Tessler et al. 2019; Pearl's RCTD3/RCSAC).
After each policy step the learner reports its estimate of the discounted cost rate
``(1 − γ) E[Σ γᵗ cᵗ]`` and the multiplier ``λ`` moves by projected gradient
(:func:`nacre.losses.constraint.lagrange_step`): up while the estimate exceeds ``threshold``,
down to 0 while it is below. ``λ`` is part of the learner's checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from nacre.losses.constraint import lagrange_step


class RewardConstraint:
    """A budget ``threshold`` (α) on the discounted cost rate and its Lagrange multiplier ``λ``.

    Example:
        >>> import torch
        >>> c = RewardConstraint(threshold=0.1, lagrange_lr=0.5)
        >>> c.update(torch.tensor(0.3))  # over budget by 0.2: λ grows by 0.5 * 0.2
        tensor(0.1000)
    """

    def __init__(self, threshold: float, lagrange_lr: float = 0.01,
                 initial_lagrange: float = 0.0, critic_tau: float | None = None) -> None:
        if not threshold >= 0:
            raise ValueError(f"threshold must be >= 0, got {threshold}")
        if not lagrange_lr > 0:
            raise ValueError(f"lagrange_lr must be > 0, got {lagrange_lr}")
        if not initial_lagrange >= 0:
            raise ValueError(f"initial_lagrange must be >= 0, got {initial_lagrange}")
        if critic_tau is not None and not 0 < critic_tau <= 1:
            raise ValueError(f"critic_tau must be in (0, 1], got {critic_tau}")
        self.threshold = float(threshold)
        # the cost critic's Polyak rate (None: the learner's): a cost estimate that lags the
        # policy lets λ lag too
        self.critic_tau = critic_tau
        self.lagrange_lr = float(lagrange_lr)
        self.lagrange = torch.tensor(float(initial_lagrange))

    def filter(self, state: Tensor, scores: Tensor, mask: Tensor | None) -> Tensor | None:
        """Every available action stays allowed: the constraint acts through learning."""
        return mask

    def update(self, rate: Tensor) -> Tensor:
        """One projected gradient step on ``λ`` given the estimated cost rate; the new ``λ``."""
        self.lagrange = lagrange_step(self.lagrange.to(rate.device), rate.detach(),
                                      self.threshold, self.lagrange_lr)
        return self.lagrange

    def state_dict(self) -> dict[str, Tensor]:
        return {"lagrange": self.lagrange.detach().clone()}

    def load_state_dict(self, state: Mapping[str, Tensor]) -> None:
        self.lagrange = state["lagrange"].detach().clone()


__all__ = ["RewardConstraint"]
