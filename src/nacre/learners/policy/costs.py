"""The cost critics of reward-constrained learners (RCPO, Tessler et al. 2019).

A learner handed a :class:`~nacre.types.CostConstraint` (``safety: reward_constrained``) learns,
next to its reward critic, the discounted cost of its policy from the steps' costs
(``batch.cost``, n-step discounted like the rewards):

- :class:`CostCritic` (TD3, DDPG, SAC): twin ``Q_c(s, a)`` (the larger counts) regressed on
  ``y_c = c + γ (1 − terminated) Q_c'(s', a')`` with the learner's own next action ``a'``;
  the actor then ascends ``Q_r − λ Q_c`` and the estimate ``(1 − γ) mean Q_c(s, π(s))`` of the
  cost rate moves ``λ``.
- :class:`CostValue` (PPO): ``V_c(s)`` regressed on the cost λ-returns of each rollout, whose
  cost advantages are subtracted, ``λ``-weighted, from the reward advantages.

Both checkpoint their networks, optimizer and the constraint's ``λ``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Literal

import torch
from torch import Tensor, nn

from nacre.data.batch import TransitionBatch
from nacre.data.rollout import Rollout
from nacre.errors import CheckpointError, ConfigError
from nacre.losses.actor_critic import critic_loss
from nacre.losses.constraint import cost_rate, penalized
from nacre.losses.returns import gae
from nacre.losses.td import td_target
from nacre.networks.base import Encoder
from nacre.networks.continuous import TwinQCritic
from nacre.networks.mlp import MLP
from nacre.optim import Adam, polyak_update
from nacre.types import CostConstraint, Metrics

NO_COST = ("safety 'reward_constrained' learns from the steps' costs, and the environment "
           "reports none (info['cost']): wrap it in nacre.envs.ActionCost (env.wrappers), use a "
           "nacre/...-Cost id (docs/safety.md), or report info['cost'] from your env")


def require_cost(cost: Tensor | None) -> Tensor:
    """The batch's costs, or a ConfigError saying where costs come from."""
    if cost is None:
        raise ConfigError(NO_COST)
    return cost


def cost_critics_like(critic: TwinQCritic, encoder: Encoder, n_critics: int = 2
                      ) -> TwinQCritic:
    """Freshly initialized critics shaped like ``critic``'s first one, over ``encoder``."""
    first = critic.critics[0]
    assert isinstance(first, MLP)
    linears = first.linears()
    hidden = [lin.out_features for lin in linears[:-1]]
    action_dim = linears[0].in_features - critic.encoder.out_dim
    device = linears[0].weight.device
    return TwinQCritic(encoder, action_dim, hidden, first.activation, n_critics).to(device)


def cost_state(cost: CostCritic | CostValue | None) -> dict[str, Any]:
    """The ``cost`` entry of a learner's checkpoint (empty without a constraint)."""
    return {} if cost is None else {"cost": cost.state_dict()}


def load_cost(cost: CostCritic | CostValue | None, state: Mapping[str, Any]) -> None:
    """Restore a constrained learner's cost critic and ``λ`` from its checkpoint."""
    if cost is None:
        return
    if "cost" not in state:
        raise CheckpointError("the checkpoint holds no cost critic: it was written by a learner "
                              "without safety 'reward_constrained'")
    cost.load_state_dict(state["cost"])


def lagrange_metrics(constraint: CostConstraint, rate: Tensor) -> Metrics:
    """Step ``λ`` (by the measured rate or the learner's estimate ``rate``, as the constraint is
    set) and report both rates and the new ``λ``."""
    lagrange = constraint.update(rate).clone()
    metrics: Metrics = {"cost_rate": rate, "lagrange": lagrange}
    if not bool(constraint.measured.isnan()):
        metrics["episode_cost_rate"] = constraint.measured.clone()
    return metrics


class CostCritic:
    """``Q_c(s, a)`` for the off-policy actor-critics: the larger of twin critics, each with a
    Polyak-averaged target.

    The actor *minimizes* ``λ Q_c`` over its actions, so it seeks the actions whose cost the
    critic underestimates, as it seeks those whose reward it overestimates; TD3 answers the
    latter with the smaller of two critics, and the cost critic mirrors it with the larger of
    two, in its targets, in the actor's penalty and in the cost rate that moves ``λ``.
    """

    def __init__(self, critic: TwinQCritic, constraint: CostConstraint, gamma: float,
                 lr: float, tau: float, nonfinite: Literal["skip", "raise"] = "skip") -> None:
        self.critic, self.constraint = critic, constraint
        constraint.use_discount(gamma)
        self.target = copy.deepcopy(critic).requires_grad_(False)
        self.optimizer = Adam(critic.parameters(), lr, nonfinite=nonfinite)
        self.gamma, self.tau = gamma, tau

    @property
    def lagrange(self) -> Tensor:
        return self.constraint.lagrange

    def value(self, obs: Tensor, action: Tensor) -> Tensor:
        """``max_j Q_c,j(s, a)`` ``[B]`` (differentiable in ``action``: the actor's penalty)."""
        costs: Tensor = self.critic(obs, action)
        return costs.max(dim=0).values

    def penalized(self, value: Tensor, obs: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        """``Q_r − λ Q_c(s, a)`` (what the actor ascends) and ``Q_c(s, a)``, for the reward
        critic's ``value`` of the policy's ``action``."""
        policy_cost = self.value(obs, action)
        return penalized(value, policy_cost, self.lagrange), policy_cost

    def learn(self, batch: TransitionBatch, next_action: Tensor) -> Metrics:
        """One TD step on the batch's costs, bootstrapping from ``Q_c'(s', next_action)``."""
        cost = require_cost(batch.cost)
        with torch.no_grad():
            next_cost = self.target(batch.next_obs, next_action).max(dim=0).values
            target = td_target(cost, next_cost, batch.terminated, batch.discount_or(self.gamma))
        q = self.critic(batch.obs, batch.action)
        loss = critic_loss(q, target)
        self.optimizer.minimize(loss)
        polyak_update(self.target, self.critic, self.tau)
        return {"cost_critic_loss": loss.detach(), "cost_q_mean": q.detach().mean()}

    def step_lagrange(self, policy_cost: Tensor) -> Metrics:
        """Move ``λ`` by the cost rate of the policy's actions, ``(1 − γ) mean Q_c(s, π(s))``."""
        rate = cost_rate(policy_cost.detach(), self.gamma)
        return lagrange_metrics(self.constraint, rate)

    def state_dict(self) -> dict[str, Any]:
        return {"critic": self.critic.state_dict(), "target": self.target.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "constraint": self.constraint.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.critic.load_state_dict(state["critic"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.constraint.load_state_dict(state["constraint"])


class CostValue:
    """``V_c(s)`` for PPO: cost advantages by GAE, regressed on the cost λ-returns."""

    def __init__(self, encoder: Encoder, hidden: tuple[int, ...], constraint: CostConstraint,
                 gamma: float, gae_lambda: float, lr: float, device: torch.device,
                 activation: str = "tanh", nonfinite: Literal["skip", "raise"] = "skip"
                 ) -> None:
        self.net = nn.Sequential(encoder, MLP(encoder.out_dim, hidden, 1, activation)).to(device)
        self.constraint = constraint
        constraint.use_discount(gamma)
        self.optimizer = Adam(self.net.parameters(), lr, nonfinite=nonfinite)
        self.gamma, self.gae_lambda = gamma, gae_lambda

    @property
    def lagrange(self) -> Tensor:
        return self.constraint.lagrange

    def value(self, obs: Tensor) -> Tensor:
        out: Tensor = self.net(obs).squeeze(-1)
        return out

    @torch.no_grad()
    def advantages(self, rollout: Rollout) -> tuple[Tensor, Tensor]:
        """Cost advantages and cost λ-returns ``[T, B]`` of the rollout."""
        cost = require_cost(rollout.cost).float()
        flat = rollout.flat()
        steps, envs = rollout.steps, rollout.num_envs
        return gae(cost, self.value(flat.obs).view(steps, envs),
                   self.value(flat.next_obs).view(steps, envs), rollout.terminated,
                   rollout.ends, self.gamma, self.gae_lambda)

    def learn(self, obs: Tensor, returns: Tensor, epochs: int, batch_size: int,
              generator: torch.Generator) -> Metrics:
        """``epochs`` passes of shuffled minibatches regressing ``V_c`` on ``returns``, then one
        step of ``λ`` by the rollout's cost rate ``(1 − γ) mean G_c``."""
        loss = torch.zeros(())
        for _ in range(epochs):
            order = torch.randperm(len(returns), generator=generator, device=generator.device)
            for idx in torch.split(order.to(returns.device), batch_size):
                loss = (self.value(obs[idx]) - returns[idx]).square().mean()
                self.optimizer.minimize(loss)
        return {"cost_value_loss": loss.detach(),
                **lagrange_metrics(self.constraint, cost_rate(returns, self.gamma))}

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "constraint": self.constraint.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.constraint.load_state_dict(state["constraint"])


__all__ = ["CostCritic", "CostValue", "cost_critics_like", "cost_state", "lagrange_metrics",
           "load_cost", "require_cost"]
