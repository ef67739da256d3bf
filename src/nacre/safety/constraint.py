"""Reward-constrained learning: the safety module that holds the cost budget and its price.

:class:`RewardConstraint` sits in the agent's safety slot (it allows every action) and
:func:`nacre.build` hands it to an actor-critic learner (TD3, DDPG, SAC, PPO), which then also
learns a cost critic from the steps' costs (``info["cost"]``, e.g. :class:`nacre.envs.ActionCost`)
and ascends ``Q_r − λ Q_c`` instead of ``Q_r`` (RCPO, Tessler et al. 2019; Pearl's RCTD3/RCSAC).
After each policy step the multiplier ``λ`` moves by projected gradient
(:func:`nacre.losses.constraint.lagrange_step`) on the discounted cost rate
``(1 − γ) E[Σ γᵗ cᵗ]``: up while it exceeds ``threshold``, down to 0 while it is below.

Which rate moves ``λ`` (``rate_from``):

- ``"episodes"`` (the default): the rate *measured* on the last training episode to end
  (:meth:`RewardConstraint.record`, fed each step's costs by the agent), counted only for episodes
  that began after ``λ``'s first step (episodes acted before learning began do not count). It
  is the cost of
  the policy that acts, exploration included, from the episodes' start states: exactly the
  constrained quantity, where a cost critic's estimate is only as good as the critic on the
  states the policy reaches (on HalfCheetah it underestimated a trained policy's rate by 3× —
  docs/design/exploration-and-risk.md). Until an episode has been measured (or when learning
  from a fixed batch), the learner's estimate stands in. A truncated episode is measured as
  far as it went (no bootstrap), which understates the rate by up to ``γ^T``.
- ``"critic"``: the learner's estimate, ``(1 − γ) mean Q_c(s, π(s))`` over the batch (TD3, DDPG,
  SAC) or ``(1 − γ) mean`` cost λ-return over the rollout (PPO).

``λ``, the measured rate and the episodes in flight are part of the learner's checkpoint, so a
resumed run measures as the uninterrupted one does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
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
                 initial_lagrange: float = 0.0, critic_tau: float | None = None,
                 rate_from: Literal["episodes", "critic"] = "episodes", num_envs: int = 1
                 ) -> None:
        if not threshold >= 0:
            raise ValueError(f"threshold must be >= 0, got {threshold}")
        if not lagrange_lr > 0:
            raise ValueError(f"lagrange_lr must be > 0, got {lagrange_lr}")
        if not initial_lagrange >= 0:
            raise ValueError(f"initial_lagrange must be >= 0, got {initial_lagrange}")
        if critic_tau is not None and not 0 < critic_tau <= 1:
            raise ValueError(f"critic_tau must be in (0, 1], got {critic_tau}")
        if rate_from not in ("episodes", "critic"):
            raise ValueError(f"rate_from must be 'episodes' or 'critic', got {rate_from!r}")
        self.threshold = float(threshold)
        # the cost critic's Polyak rate (None: the learner's): a cost estimate that lags the
        # policy lets λ lag too
        self.critic_tau = critic_tau
        self.lagrange_lr = float(lagrange_lr)
        self.lagrange = torch.tensor(float(initial_lagrange))
        self.rate_from = rate_from
        self.gamma: float | None = None  # the learner's, told by it (use_discount)
        # the rate of the last counted episode (nan: none yet), and per acting env the running
        # Σ γᵗ cᵗ, γᵗ, and whether the episode began after λ's first step (it counts)
        self.measured = torch.tensor(float("nan"))
        self._learning = False
        self._sums = self._discounts = self._counted = np.zeros(0)
        self.new_episodes(num_envs)  # sized by the number of envs, as the checkpoint's tensors

    def use_discount(self, gamma: float) -> None:
        """The learner's ``γ``, which the measured rate discounts by."""
        self.gamma = float(gamma)

    def record(self, cost: Tensor, done: Tensor, valid: Tensor | None = None) -> None:
        """One step's costs ``[B]`` of the acting envs: add them to their episodes' discounted
        sums; an episode that ends (``done``) having begun after ``λ``'s first step sets the
        measured rate. Steps marked not ``valid`` (the reset step of an autoreset) are skipped.
        Nothing is recorded before the learner has told its ``γ`` (:meth:`use_discount`).

        Example:
            >>> c = RewardConstraint(threshold=0.1)
            >>> c.use_discount(0.5)
            >>> c.update(torch.tensor(0.0))  # learning began: the next episodes count
            tensor(0.)
            >>> c.new_episodes(1)  # the agent resets its one env
            >>> for cost, done in ((1.0, False), (1.0, True)):
            ...     c.record(torch.tensor([cost]), torch.tensor([done]))
            >>> c.measured  # (1 - 0.5) * (1 + 0.5 * 1)
            tensor(0.7500)
        """
        if self.rate_from != "episodes" or self.gamma is None:
            return
        # NumPy, not torch: a few operations on B numbers each step, where torch's per-call
        # overhead would cost more than the arithmetic
        costs = cost.detach().float().cpu().numpy().reshape(-1)
        if self._sums.shape != costs.shape:  # a new number of envs
            self.new_episodes(len(costs))
        step = (np.ones(len(costs), bool) if valid is None
                else valid.cpu().numpy().reshape(-1).astype(bool))
        self._sums[step] += self._discounts[step] * costs[step]
        self._discounts[step] *= self.gamma
        ended = done.cpu().numpy().reshape(-1).astype(bool) & step
        if ended.any():
            if (counted := ended & self._counted).any():
                self.measured = torch.tensor((1.0 - self.gamma) * self._sums[counted].mean())
            self._sums[ended], self._discounts[ended] = 0.0, 1.0
            self._counted[ended] = self._learning

    def new_episodes(self, num_envs: int) -> None:
        """Every env starts a new episode (the agent was reset): episodes cut short are not
        measured; the new ones count once learning has begun."""
        self._sums = np.zeros(num_envs, np.float32)
        self._discounts = np.ones(num_envs, np.float32)
        self._counted = np.full(num_envs, self._learning)

    def filter(self, state: Tensor, scores: Tensor, mask: Tensor | None) -> Tensor | None:
        """Every available action stays allowed: the constraint acts through learning."""
        return mask

    def update(self, rate: Tensor) -> Tensor:
        """One projected gradient step on ``λ`` by the measured rate (``rate_from="episodes"``,
        once an episode is measured) or else the learner's estimate ``rate``; the new ``λ``."""
        self._learning = True
        if self.rate_from == "episodes" and not bool(self.measured.isnan()):
            rate = self.measured.to(rate.device)
        self.lagrange = lagrange_step(self.lagrange.to(rate.device), rate.detach(),
                                      self.threshold, self.lagrange_lr)
        return self.lagrange

    def state_dict(self) -> dict[str, Tensor]:
        return {"lagrange": self.lagrange.detach().clone(), "measured": self.measured.clone(),
                "sums": torch.tensor(self._sums), "discounts": torch.tensor(self._discounts),
                "counted": torch.tensor(self._counted), "learning": torch.tensor(self._learning)}

    def load_state_dict(self, state: Mapping[str, Tensor]) -> None:
        self.lagrange = state["lagrange"].detach().clone()
        # checkpoints from before the measured rate hold none: measure afresh
        self.measured = state.get("measured", torch.tensor(float("nan"))).detach().clone()
        if "sums" in state:  # the episodes in flight continue where they were
            self._sums = state["sums"].float().numpy().copy()
            self._discounts = state["discounts"].float().numpy().copy()
            self._counted = state["counted"].bool().numpy().copy()
            self._learning = bool(state["learning"])
        else:  # older checkpoints: no episode counts before the next λ step
            self._learning = False
            self.new_episodes(0)


__all__ = ["RewardConstraint"]
