"""TD3: twin delayed deep deterministic policy gradient (Fujimoto et al. 2018).

Each update regresses both critics on ``y = r + γ (1 − terminated) min_i Q'_i(s', ã')`` with the
target action smoothed, ``ã' = clip(μ'(s') + clip(ε, −c, c), −1, 1)``, ``ε ~ N(0, σ̃²)``; every
``policy_delay`` updates the actor ascends ``Q_1(s, μ(s))`` and the target networks move by
Polyak averaging. Actions live in the normalized box ``[-1, 1]^d``.

With a cost critic (``safety: reward_constrained``, :mod:`nacre.learners.policy.costs`) it is
RCTD3: the cost critic learns from the batch's costs, the actor ascends ``Q_1 − λ Q_c`` and
``λ`` moves after each actor step.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.data.validate import checked_batch
from nacre.errors import check_config
from nacre.kinds import LearnerKind, ScoresKind
from nacre.learners.policy.costs import CostCritic, cost_state, load_cost
from nacre.losses.actor_critic import critic_loss, deterministic_actor_loss, smoothed_target_action
from nacre.losses.td import td_target
from nacre.networks.continuous import DeterministicActor, TwinQCritic
from nacre.optim import Adam, polyak_update
from nacre.types import Metrics


@dataclass(frozen=True)
class TD3Config:
    """Hyper-parameters of TD3 (defaults: the paper's and Stable-Baselines3's).

    Attributes:
        lr: Adam learning rate of the actor and the critics.
        gamma: discount factor.
        tau: Polyak rate of the target networks.
        policy_delay: critic updates per actor (and target) update.
        target_noise: std of the target-policy smoothing noise (normalized action units).
        target_noise_clip: clip of that noise.
    """

    lr: float = 1e-3
    # a non-finite gradient: skip the update (counted, logged) or raise NonFiniteUpdateError
    nonfinite: Literal["skip", "raise"] = "skip"
    gamma: float = 0.99
    tau: float = 0.005
    policy_delay: int = 2
    target_noise: float = 0.2
    target_noise_clip: float = 0.5

    def __post_init__(self) -> None:
        check_config(self, positive=("lr", "policy_delay"), unit_interval=("gamma", "tau"))


class TD3:
    """TD3 over a :class:`~nacre.networks.DeterministicActor` and a
    :class:`~nacre.networks.TwinQCritic`; ``scores`` are the actor's actions ``[B, d]``, to pair
    with :class:`~nacre.exploration.GaussianNoise`."""

    kind = LearnerKind.REPLAY
    scores_kind = ScoresKind.ACTION
    needs_next_action = False

    def __init__(self, actor: DeterministicActor, critic: TwinQCritic,
                 config: TD3Config | None = None, seed: int = 0,
                 cost: CostCritic | None = None) -> None:
        self.config = config or TD3Config()
        self.cost = cost  # reward-constrained: the cost critic and λ (safety reward_constrained)
        self.actor, self.critic = actor, critic
        self.actor_target = copy.deepcopy(actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(critic).requires_grad_(False)
        nonfinite = self.config.nonfinite
        self.actor_optimizer = Adam(actor.parameters(), self.config.lr, nonfinite=nonfinite)
        self.critic_optimizer = Adam(critic.parameters(), self.config.lr, nonfinite=nonfinite)
        self.generator = torch.Generator(device=next(actor.parameters()).device)
        self.generator.manual_seed(seed)  # target-policy smoothing noise
        self.updates = 0

    @property
    def gamma(self) -> float:
        return self.config.gamma

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        out: Tensor = self.actor(state)
        return out

    def update_target(self) -> None:
        """Nothing on the loop's schedule: the targets move by Polyak averaging inside the
        update, every ``policy_delay`` updates."""

    def critic_update(self, batch: TransitionBatch) -> tuple[Metrics, Tensor]:
        """Both critics one step toward ``y``; ``(metrics, μ'(s'))``, the target policy's next
        action (unsmoothed)."""
        cfg = self.config
        with torch.no_grad():
            next_action = self.actor_target(batch.next_obs)
            noise = torch.randn(next_action.shape, generator=self.generator,
                                device=next_action.device)
            smoothed = smoothed_target_action(next_action, noise, cfg.target_noise,
                                              cfg.target_noise_clip)
            next_q = self.critic_target(batch.next_obs, smoothed).min(dim=0).values
            target = td_target(batch.reward, next_q, batch.terminated,
                               batch.discount_or(cfg.gamma))
        q = self.critic(batch.obs, batch.action)
        loss = critic_loss(q, target)
        self.critic_optimizer.minimize(loss)
        self.updates += 1
        return {"critic_loss": loss.detach(), "q_mean": q[0].detach().mean()}, next_action

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        cfg = self.config
        metrics, next_action = self.critic_update(batch)
        if self.cost is not None:  # the cost of the target policy itself, without smoothing
            metrics.update(self.cost.learn(batch, next_action))
        if self.updates % cfg.policy_delay == 0:
            action = self.actor(batch.obs)
            value = self.critic.q1(batch.obs, action)
            if self.cost is not None:
                value, policy_cost = self.cost.penalized(value, batch.obs, action)
            actor_loss = deterministic_actor_loss(value)
            self.actor_optimizer.minimize(actor_loss)
            polyak_update(self.critic_target, self.critic, cfg.tau)
            polyak_update(self.actor_target, self.actor, cfg.tau)
            metrics["actor_loss"] = actor_loss.detach()
            if self.cost is not None:
                metrics.update(self.cost.step_lagrange(policy_cost))
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
            "actor_target": self.actor_target.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "generator": self.generator.get_state(), "updates": self.updates,
            **cost_state(self.cost),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.actor_target.load_state_dict(state["actor_target"])
        self.critic_target.load_state_dict(state["critic_target"])
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        self.generator.set_state(state["generator"])
        self.updates = int(state["updates"])
        load_cost(self.cost, state)
