"""TD3: twin delayed deep deterministic policy gradient (Fujimoto et al. 2018).

Each update regresses both critics on ``y = r + γ (1 − terminated) min_i Q'_i(s', ã')`` with the
target action smoothed, ``ã' = clip(μ'(s') + clip(ε, −c, c), −1, 1)``, ``ε ~ N(0, σ̃²)``; every
``policy_delay`` updates the actor ascends ``Q_1(s, μ(s))`` and the target networks move by
Polyak averaging. Actions live in the normalized box ``[-1, 1]^d``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.errors import check_positive, check_unit_interval
from nacre.learners.optim import Adam, flatten, module_order, polyak_update, renumber_state
from nacre.learners.policy.fused_ac import (
    FusedTD3Step,
    fusable_actor,
    fusable_critic,
    learn_in_parts,
)
from nacre.networks.continuous import DeterministicActor, TwinQCritic
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
        fused: hand-derived gradients for flat-input ReLU MLP actors and critics (same result,
            faster; see :mod:`nacre.learners.policy.fused_ac`); other networks use autograd.
    """

    lr: float = 1e-3
    gamma: float = 0.99
    tau: float = 0.005
    policy_delay: int = 2
    target_noise: float = 0.2
    target_noise_clip: float = 0.5
    fused: bool = True

    def __post_init__(self) -> None:
        check_positive("learner.lr", self.lr)
        check_unit_interval("learner.gamma", self.gamma)
        check_unit_interval("learner.tau", self.tau)
        check_positive("learner.policy_delay", self.policy_delay)


class TD3:
    """TD3 over a :class:`~nacre.networks.DeterministicActor` and a
    :class:`~nacre.networks.TwinQCritic`; ``scores`` are the actor's actions ``[B, d]``, to pair
    with :class:`~nacre.exploration.GaussianNoise`."""

    scores_kind = "action"  # what exploration must accept

    def __init__(self, actor: DeterministicActor, critic: TwinQCritic,
                 config: TD3Config | None = None, seed: int = 0) -> None:
        self.config = config or TD3Config()
        self.actor, self.critic = actor, critic
        self.actor_target = copy.deepcopy(actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(critic).requires_grad_(False)
        fused = self.config.fused and fusable_actor(actor) and fusable_critic(critic)
        self.actor_optimizer = Adam(actor.parameters(), self.config.lr, flat=fused)
        self.critic_optimizer = Adam(critic.optimizer_parameters(), self.config.lr, flat=fused)
        self._critic_order = module_order(self.critic_optimizer, critic)  # checkpoint order
        # the fused update keeps the target networks in flat buffers (one-kernel Polyak update)
        self.target_flats: tuple[Tensor, ...] = (
            flatten(list(self.actor_target.parameters())),
            flatten(self.critic_target.optimizer_parameters())) if fused else ()
        self._fused = FusedTD3Step(self) if fused else None
        self.generator = torch.Generator(device=next(actor.parameters()).device)
        self.generator.manual_seed(seed)  # target-policy smoothing noise
        self.updates = 0

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        out: Tensor = self.actor(state)
        return out

    def learn_batches(self, batch: TransitionBatch, batch_size: int) -> Metrics:
        """``len(batch) / batch_size`` consecutive updates (metrics: the last one's)."""
        return learn_in_parts(self, batch, batch_size)

    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        if self._fused is not None and batch.obs.is_floating_point():  # the step casts it
            return self._fused(batch)
        cfg = self.config
        with torch.no_grad():
            next_action = self.actor_target(batch.next_obs)
            noise = torch.randn(next_action.shape, generator=self.generator,
                                device=next_action.device)
            noise = (noise * cfg.target_noise).clamp(-cfg.target_noise_clip,
                                                     cfg.target_noise_clip)
            next_q = self.critic_target(batch.next_obs, (next_action + noise).clamp(-1.0, 1.0))
            discount = cfg.gamma if batch.discount is None else batch.discount
            target = batch.reward + discount * (1.0 - batch.terminated) * next_q.min(dim=0).values
        q = self.critic(batch.obs, batch.action)
        critic_loss = sum(F.mse_loss(q_i, target) for q_i in q)
        assert isinstance(critic_loss, Tensor)
        self.critic_optimizer.minimize(critic_loss)
        self.updates += 1
        metrics = {"critic_loss": critic_loss.detach(), "q_mean": q[0].detach().mean()}
        if self.updates % cfg.policy_delay == 0:
            actor_loss = -self.critic.q1(batch.obs, self.actor(batch.obs)).mean()
            self.actor_optimizer.minimize(actor_loss)
            polyak_update(self.critic_target, self.critic, cfg.tau)
            polyak_update(self.actor_target, self.actor, cfg.tau)
            metrics["actor_loss"] = actor_loss.detach()
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
            "actor_target": self.actor_target.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": renumber_state(self.critic_optimizer.state_dict(),
                                               self._critic_order),
            "generator": self.generator.get_state(), "updates": self.updates,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.actor_target.load_state_dict(state["actor_target"])
        self.critic_target.load_state_dict(state["critic_target"])
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        inverse = [0] * len(self._critic_order)
        for i, j in enumerate(self._critic_order):
            inverse[j] = i
        self.critic_optimizer.load_state_dict(renumber_state(state["critic_optimizer"], inverse))
        self.generator.set_state(state["generator"])
        self.updates = int(state["updates"])
