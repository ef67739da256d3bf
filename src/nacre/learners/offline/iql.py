"""Implicit Q-learning (Kostrikov, Nair & Levine 2022).

IQL never evaluates an action the data did not take. A value network ``V(s)`` regresses on an
upper expectile ``τ`` of ``Q(s, a)`` over the data's actions (an in-sample stand-in for
``max_a Q``); the twin critics regress on ``r + γ (1 − terminated) V(s')``; the policy is
extracted by advantage-weighted regression, maximizing ``exp(β (Q(s, a) − V(s))) log π(a|s)``
on the logged actions. Each update, in the paper's order: value, actor, critics, then Polyak
averaging of the target critics.

The actor is a :class:`~nacre.networks.SquashedGaussianActor` whose log-likelihood of the
logged actions is that of ``N(tanh μ(s), σ(s))`` (the paper's and d3rlpy's Gaussian around a
squashed mean); acting greedily takes ``tanh μ(s)``, and online fine-tuning samples it with
:class:`~nacre.exploration.SquashedGaussianSampling`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from nacre.data.batch import TransitionBatch
from nacre.data.validate import checked_batch
from nacre.errors import check_config
from nacre.kinds import LearnerKind, ScoresKind
from nacre.losses.actor_critic import critic_loss
from nacre.losses.offline import awr_weights, expectile_loss, weighted_log_likelihood_loss
from nacre.losses.policy import gaussian_log_prob
from nacre.losses.td import td_target
from nacre.networks.continuous import SquashedGaussianActor, TwinQCritic
from nacre.optim import Adam, polyak_update
from nacre.types import Metrics


@dataclass(frozen=True)
class IQLConfig:
    """Hyper-parameters of IQL (defaults: the paper's MuJoCo settings, also d3rlpy's).

    Attributes:
        lr: Adam learning rate of the actor, the critics and the value network.
        gamma: discount factor.
        tau: Polyak rate of the target critics.
        expectile: ``τ`` of the value's expectile regression (0.5: the mean; → 1: the max).
        beta: inverse temperature of the advantage weights.
        max_weight: clip of the advantage weights.
        min_log_std: floor of the actor's log σ in the likelihood (the paper's −5): without
            it σ collapses on the logged actions and the likelihood's scale runs away.
    """

    lr: float = 3e-4
    # a non-finite gradient: skip the update (counted, logged) or raise NonFiniteUpdateError
    nonfinite: Literal["skip", "raise"] = "skip"
    gamma: float = 0.99
    tau: float = 0.005
    expectile: float = 0.7
    beta: float = 3.0
    max_weight: float = 100.0
    min_log_std: float = -5.0

    def __post_init__(self) -> None:
        check_config(self, positive=("lr", "beta", "max_weight"),
                     unit_interval=("gamma", "tau", "expectile"))


class IQL:
    """IQL over a squashed-Gaussian actor, a twin critic and a state-value network ``V(s)``
    (any module mapping observations ``[N, ...]`` to ``[N, 1]``)."""

    kind = LearnerKind.REPLAY
    scores_kind = ScoresKind.SQUASHED
    needs_next_action = False

    def __init__(self, actor: SquashedGaussianActor, critic: TwinQCritic, value: nn.Module,
                 config: IQLConfig | None = None) -> None:
        self.config = cfg = config or IQLConfig()
        self.actor, self.critic, self.value = actor, critic, value
        self.critic_target = copy.deepcopy(critic).requires_grad_(False)
        self.actor_optimizer = Adam(actor.parameters(), cfg.lr, nonfinite=cfg.nonfinite)
        self.critic_optimizer = Adam(critic.parameters(), cfg.lr, nonfinite=cfg.nonfinite)
        self.value_optimizer = Adam(value.parameters(), cfg.lr, nonfinite=cfg.nonfinite)

    @property
    def gamma(self) -> float:
        return self.config.gamma

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        out: Tensor = self.actor(state)
        return out

    def update_target(self) -> None:
        """Nothing on the loop's schedule: the target critics move inside every update."""

    def v(self, obs: Tensor) -> Tensor:
        out: Tensor = self.value(obs).squeeze(-1)
        return out

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        cfg = self.config
        with torch.no_grad():
            q_data = self.critic_target(batch.obs, batch.action).min(dim=0).values
        value = self.v(batch.obs)
        value_loss = expectile_loss(q_data - value, cfg.expectile)
        self.value_optimizer.minimize(value_loss)
        with torch.no_grad():  # the advantage under the value after its step (the paper's)
            advantage = q_data - self.v(batch.obs)
        weight = awr_weights(advantage, cfg.beta, cfg.max_weight)
        mean, log_std = self.actor.distribution(batch.obs)
        log_prob = gaussian_log_prob(torch.tanh(mean), log_std.clamp(min=cfg.min_log_std),
                                     batch.action)
        actor_loss = weighted_log_likelihood_loss(log_prob, weight)
        self.actor_optimizer.minimize(actor_loss)
        with torch.no_grad():
            target = td_target(batch.reward, self.v(batch.next_obs), batch.terminated,
                               batch.discount_or(cfg.gamma))
        q = self.critic(batch.obs, batch.action)
        loss = critic_loss(q, target)
        self.critic_optimizer.minimize(loss)
        polyak_update(self.critic_target, self.critic, cfg.tau)
        return {"critic_loss": loss.detach(), "value_loss": value_loss.detach(),
                "actor_loss": actor_loss.detach(), "v_mean": value.detach().mean(),
                "weight_mean": weight.mean()}

    def state_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
            "value": self.value.state_dict(), "critic_target": self.critic_target.state_dict(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "value_optimizer": self.value_optimizer.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.value.load_state_dict(state["value"])
        self.critic_target.load_state_dict(state["critic_target"])
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        self.value_optimizer.load_state_dict(state["value_optimizer"])
