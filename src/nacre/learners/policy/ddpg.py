"""DDPG: deep deterministic policy gradient (Lillicrap et al. 2016).

One critic regressed on ``y = r + γ (1 − terminated) Q'(s', μ'(s'))``, an actor ascending
``Q(s, μ(s))`` every update, Polyak-averaged targets. TD3 (:mod:`nacre.learners.policy.td3`)
adds twin critics, target-policy smoothing and a delayed actor on top of this update.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from nacre.data.batch import TransitionBatch
from nacre.data.validate import checked_batch
from nacre.errors import check_config
from nacre.learners.policy.costs import CostCritic
from nacre.learners.policy.td3 import TD3, TD3Config
from nacre.losses.actor_critic import critic_loss, deterministic_actor_loss
from nacre.losses.td import td_target
from nacre.networks.continuous import DeterministicActor, TwinQCritic
from nacre.optim import polyak_update
from nacre.types import Metrics


@dataclass(frozen=True)
class DDPGConfig:
    """Hyper-parameters of DDPG (``lr`` for actor and critic, ``gamma``, Polyak ``tau``)."""

    lr: float = 1e-3
    # a non-finite gradient: skip the update (counted, logged) or raise NonFiniteUpdateError
    nonfinite: Literal["skip", "raise"] = "skip"
    gamma: float = 0.99
    tau: float = 0.005

    def __post_init__(self) -> None:
        check_config(self, positive=("lr",), unit_interval=("gamma", "tau"))


class DDPG(TD3):
    """DDPG over a :class:`~nacre.networks.DeterministicActor` and a one-critic
    :class:`~nacre.networks.TwinQCritic` (``n_critics=1``); same acting and checkpoint state as
    :class:`~nacre.learners.TD3`, its own update."""

    def __init__(self, actor: DeterministicActor, critic: TwinQCritic,
                 config: DDPGConfig | None = None, seed: int = 0,
                 cost: CostCritic | None = None) -> None:
        cfg = config or DDPGConfig()
        if len(critic.critics) != 1:
            raise ValueError(f"DDPG uses one critic, got {len(critic.critics)} "
                             "(network.n_critics: 1)")
        base = TD3Config(lr=cfg.lr, gamma=cfg.gamma, tau=cfg.tau, policy_delay=1,
                         nonfinite=cfg.nonfinite)
        super().__init__(actor, critic, base, seed, cost)
        self.ddpg_config = cfg

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        cfg = self.ddpg_config
        with torch.no_grad():
            next_action = self.actor_target(batch.next_obs)
            next_q = self.critic_target.q1(batch.next_obs, next_action)
            target = td_target(batch.reward, next_q, batch.terminated,
                               batch.discount_or(cfg.gamma))
        q = self.critic.q1(batch.obs, batch.action)
        loss = critic_loss(q.unsqueeze(0), target)
        self.critic_optimizer.minimize(loss)
        metrics: Metrics = {}
        if self.cost is not None:
            metrics.update(self.cost.learn(batch, next_action))
        action = self.actor(batch.obs)
        value = self.critic.q1(batch.obs, action)
        if self.cost is not None:  # RCDDPG: ascend Q − λ Q_c
            value, policy_cost = self.cost.penalized(value, batch.obs, action)
        actor_loss = deterministic_actor_loss(value)
        self.actor_optimizer.minimize(actor_loss)
        if self.cost is not None:
            metrics.update(self.cost.step_lagrange(policy_cost))
        polyak_update(self.critic_target, self.critic, cfg.tau)
        polyak_update(self.actor_target, self.actor, cfg.tau)
        self.updates += 1
        return {**metrics, "critic_loss": loss.detach(), "actor_loss": actor_loss.detach(),
                "q_mean": q.detach().mean()}
