"""A learned action filter: forbid the actions whose expected cost is over a threshold.

:class:`CostFilter` learns ``Q_c(s, a)``, the discounted cost of taking ``a`` in ``s`` and then
the safest allowed action, from the steps' costs (``info["cost"]``) in the replay batches the
learner learns from: ``y = c + γ_c (1 − terminated) min_{a' allowed} Q_c'(s', a')`` (with
``γ_c = 0``, the default, it is the expected immediate cost). An action is allowed where
``Q_c(s, a) ≤ threshold``; where none is, the one of least cost is, so a state never has no
action. As an :class:`~nacre.types.ActionFilter` it is kept by every explorer and by the TD
targets (:mod:`nacre.safety.filter`). It knows only the costs it has seen: until the first
catastrophe of a kind is in replay, nothing forbids it (a function filter, written from
knowledge of the task, forbids it from the first step).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from nacre.data.batch import TransitionBatch
from nacre.errors import ConfigError
from nacre.losses.td import masked_max, td_target
from nacre.networks.base import Encoder
from nacre.networks.mlp import MLP
from nacre.optim import Adam, polyak_update
from nacre.types import Metrics

NO_COST = ("safety 'cost_filter' learns from the steps' costs, and the environment reports "
           "none (info['cost']): report info['cost'] from your env (e.g. 1 on a catastrophe), "
           "or use an id that does (nacre/CliffWalking-Cost-v1, docs/safety.md)")


class CostFilter:
    """Allows the actions with ``Q_c(s, a) ≤ threshold`` (a learned cost critic over ``K``
    discrete actions)."""

    def __init__(self, encoder: Encoder, n_actions: int, threshold: float,
                 hidden: tuple[int, ...] = (64,), lr: float = 0.01, gamma: float = 0.0,
                 tau: float = 0.01, device: torch.device | str = "cpu") -> None:
        if not threshold >= 0:
            raise ValueError(f"threshold must be >= 0, got {threshold}")
        if not 0.0 <= gamma < 1.0:
            raise ValueError(f"gamma must be in [0, 1), got {gamma}")
        self.net = nn.Sequential(encoder, MLP(encoder.out_dim, hidden, n_actions)).to(device)
        self.target = copy.deepcopy(self.net).requires_grad_(False)
        self.optimizer = Adam(self.net.parameters(), lr)
        self.threshold, self.gamma, self.tau = float(threshold), float(gamma), float(tau)
        self.last_metrics: Metrics = {}

    def costs(self, state: Tensor) -> Tensor:
        """``Q_c(s, ·)`` ``[B, K]``."""
        out: Tensor = self.net(state)
        return out

    @torch.no_grad()
    def allowed(self, state: Tensor) -> Tensor:
        """``Q_c(s, a) ≤ threshold``, ``[B, K]``; the least costly action where none is."""
        costs = self.costs(state)
        allowed = costs <= self.threshold
        safest = torch.zeros_like(allowed).scatter_(1, costs.argmin(dim=1, keepdim=True), True)
        return allowed | (safest & ~allowed.any(dim=1, keepdim=True))

    def filter(self, state: Tensor, scores: Tensor, mask: Tensor | None) -> Tensor:
        allowed = self.allowed(state).to(scores.device)
        if mask is None:
            return allowed
        both = allowed & mask
        # where the env's mask and the filter share no action, keep the env's: it is binding
        return torch.where(both.any(dim=1, keepdim=True), both, mask)

    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        """One TD step of the cost critic on a replay batch (its costs, n-step discounted)."""
        if batch.cost is None:
            raise ConfigError(NO_COST)
        if batch.discount is not None:
            raise ConfigError("safety 'cost_filter' learns from one-step transitions; the "
                              "buffer builds n-step returns: set buffer.n_step: 1")
        with torch.no_grad():
            next_cost = -masked_max(-self.target(batch.next_obs), batch.next_mask)
            target = td_target(batch.cost, next_cost, batch.terminated,
                               batch.discount_or(self.gamma))
        q = self.costs(batch.obs).gather(1, batch.action.long().view(-1, 1)).squeeze(1)
        loss = (q - target).square().mean()
        self.optimizer.minimize(loss)
        polyak_update(self.target, self.net, self.tau)
        self.last_metrics = {"cost_filter_loss": loss.detach()}
        return self.last_metrics

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "target": self.target.state_dict(),
                "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])


__all__ = ["CostFilter"]
