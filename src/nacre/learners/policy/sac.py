"""Soft actor-critic for continuous actions (Haarnoja et al. 2018, with automatic temperature).

Each update, in Stable-Baselines3's order: sample ``a ~ π(·|s)`` (reparameterized) and move the
temperature toward the target entropy, ``L(α) = −log α · (log π(a|s) + H̄)``; regress both critics
on ``y = r + γ (1 − terminated) (min_i Q'_i(s', a') − α log π(a'|s'))`` with ``a' ~ π(·|s')``; then
the actor minimizes ``α log π(a|s) − min_i Q_i(s, a)``; the target critics move by Polyak
averaging. Actions live in the normalized box ``[-1, 1]^d`` (tanh-squashed).

With a cost critic (``safety: reward_constrained``) it is RCSAC: the cost critic bootstraps from
the same sampled ``a'`` (the cost of the stochastic policy, without the entropy bonus) and the
actor's objective uses ``min_i Q_i − λ Q_c``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from nacre.data.batch import TransitionBatch
from nacre.data.validate import checked_batch
from nacre.errors import check_config
from nacre.kinds import LearnerKind, ScoresKind
from nacre.learners.policy.costs import CostCritic, cost_state, load_cost
from nacre.losses.actor_critic import critic_loss, sac_actor_loss, soft_value, temperature_loss
from nacre.losses.td import td_target
from nacre.networks.continuous import SquashedGaussianActor, TwinQCritic
from nacre.optim import Adam, polyak_update
from nacre.types import Metrics


@dataclass(frozen=True)
class SACConfig:
    """Hyper-parameters of SAC (defaults: Stable-Baselines3's).

    Attributes:
        lr: Adam learning rate of the actor, the critics and the temperature.
        gamma: discount factor.
        tau: Polyak rate of the target critics.
        init_alpha: initial temperature α.
        target_entropy: the entropy α is tuned toward (None: −dim(A)).
        learn_alpha: tune α automatically (else it stays ``init_alpha``).
    """

    lr: float = 3e-4
    # a non-finite gradient: skip the update (counted, logged) or raise NonFiniteUpdateError
    nonfinite: Literal["skip", "raise"] = "skip"
    gamma: float = 0.99
    tau: float = 0.005
    init_alpha: float = 1.0
    target_entropy: float | None = None
    learn_alpha: bool = True

    def __post_init__(self) -> None:
        check_config(self, positive=("lr", "init_alpha"), unit_interval=("gamma", "tau"))


class SAC:
    """SAC over a :class:`~nacre.networks.SquashedGaussianActor` and a
    :class:`~nacre.networks.TwinQCritic`; pair it with
    :class:`~nacre.exploration.SquashedGaussianSampling`."""

    kind = LearnerKind.REPLAY
    scores_kind = ScoresKind.SQUASHED
    needs_next_action = False

    def __init__(self, actor: SquashedGaussianActor, critic: TwinQCritic,
                 config: SACConfig | None = None, seed: int = 0,
                 cost: CostCritic | None = None) -> None:
        self.config = cfg = config or SACConfig()
        self.cost = cost  # reward-constrained: the cost critic and λ (safety reward_constrained)
        self.actor, self.critic = actor, critic
        self.critic_target = copy.deepcopy(critic).requires_grad_(False)
        device = next(actor.parameters()).device
        self.log_alpha = nn.Parameter(torch.tensor(math.log(cfg.init_alpha), device=device),
                                      requires_grad=cfg.learn_alpha)
        self.target_entropy = (-float(actor.action_dim) if cfg.target_entropy is None
                               else cfg.target_entropy)
        self.actor_optimizer = Adam(actor.parameters(), cfg.lr, nonfinite=cfg.nonfinite)
        self.critic_optimizer = Adam(critic.parameters(), cfg.lr, nonfinite=cfg.nonfinite)
        self.alpha_optimizer = (Adam([self.log_alpha], cfg.lr, nonfinite=cfg.nonfinite)
                                if cfg.learn_alpha else None)
        self.generator = torch.Generator(device=device)  # the actions sampled in updates
        self.generator.manual_seed(seed)

    @property
    def gamma(self) -> float:
        return self.config.gamma

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        out: Tensor = self.actor(state)
        return out

    def update_target(self) -> None:
        """Nothing on the loop's schedule: the target critics move by Polyak averaging inside
        every update."""

    def temperature_step(self, log_prob: Tensor) -> tuple[Tensor, Metrics]:
        """``α`` as it was, and one step of it toward the target entropy (when learned)."""
        alpha = self.log_alpha.detach().exp()
        metrics: Metrics = {}
        if self.alpha_optimizer is not None:
            alpha_loss = temperature_loss(self.log_alpha, log_prob.detach() + self.target_entropy)
            self.alpha_optimizer.minimize(alpha_loss)
            metrics["alpha_loss"] = alpha_loss.detach()
        return alpha, metrics

    @torch.no_grad()
    def soft_td_target(self, batch: TransitionBatch, alpha: Tensor) -> tuple[Tensor, Tensor]:
        """``(y, a')``: ``y = r + γ (1 − terminated) (min_i Q'_i(s', a') − α log π(a'|s'))``
        with ``a' ~ π(·|s')``."""
        next_action, next_log_prob = self.actor.sample(batch.next_obs, self.generator)
        next_q = self.critic_target(batch.next_obs, next_action).min(dim=0).values
        target = td_target(batch.reward, soft_value(next_q, next_log_prob, alpha),
                           batch.terminated, batch.discount_or(self.config.gamma))
        return target, next_action

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        cfg = self.config
        action, log_prob = self.actor.sample(batch.obs, self.generator)
        alpha, metrics = self.temperature_step(log_prob)
        target, next_action = self.soft_td_target(batch, alpha)
        q = self.critic(batch.obs, batch.action)
        loss = critic_loss(q, target, scale=0.5)
        self.critic_optimizer.minimize(loss)
        if self.cost is not None:
            metrics.update(self.cost.learn(batch, next_action))
        # the actor ascends the critics as they are after their step
        value = self.critic(batch.obs, action).min(dim=0).values
        if self.cost is not None:  # RCSAC: ascend Q − λ Q_c
            value, policy_cost = self.cost.penalized(value, batch.obs, action)
        actor_loss = sac_actor_loss(value, log_prob, alpha)
        self.actor_optimizer.minimize(actor_loss)
        if self.cost is not None:
            metrics.update(self.cost.step_lagrange(policy_cost))
        polyak_update(self.critic_target, self.critic, cfg.tau)
        metrics.update({"critic_loss": loss.detach(), "actor_loss": actor_loss.detach(),
                        "alpha": alpha, "entropy": -log_prob.detach().mean()})
        return metrics

    def state_dict(self) -> dict[str, Any]:
        out = {
            "actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "generator": self.generator.get_state(),
        }
        if self.alpha_optimizer is not None:
            out["alpha_optimizer"] = self.alpha_optimizer.state_dict()
        return {**out, **cost_state(self.cost)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        if self.alpha_optimizer is not None:
            self.alpha_optimizer.load_state_dict(state["alpha_optimizer"])
        self.generator.set_state(state["generator"])
        load_cost(self.cost, state)
