"""TD3+BC (Fujimoto & Gu 2021): TD3 whose actor also imitates the data.

The critics learn exactly as TD3's; every ``policy_delay`` updates the actor minimizes
``−λ mean Q_1(s, π(s)) + mean (π(s) − a)²`` with ``λ = α / mean |Q_1|``, the behaviour-cloning
term keeping the policy on the data's actions. The paper also standardizes observations with
the dataset's mean and standard deviation: ``dataset.normalize_observations: true`` in a run
config does it (:mod:`nacre.train.offline`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nacre.data.batch import TransitionBatch
from nacre.data.validate import checked_batch
from nacre.errors import check_config
from nacre.learners.policy.td3 import TD3, TD3Config
from nacre.losses.actor_critic import critic_loss, smoothed_target_action
from nacre.losses.offline import td3_bc_actor_loss
from nacre.losses.td import td_target
from nacre.networks.continuous import DeterministicActor, TwinQCritic
from nacre.optim import polyak_update
from nacre.types import Metrics


@dataclass(frozen=True)
class TD3BCConfig(TD3Config):
    """TD3's hyper-parameters (the paper's: lr 3e-4) and ``alpha``, the weight of the
    Q term against behaviour cloning (2.5)."""

    lr: float = 3e-4
    alpha: float = 2.5

    def __post_init__(self) -> None:
        super().__post_init__()
        check_config(self, positive=("alpha",))


class TD3BC(TD3):
    """TD3 with the behaviour-cloning actor loss (its networks, targets and state as TD3's)."""

    config: TD3BCConfig

    def __init__(self, actor: DeterministicActor, critic: TwinQCritic,
                 config: TD3BCConfig | None = None, seed: int = 0) -> None:
        super().__init__(actor, critic, config or TD3BCConfig(), seed)

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
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
        metrics = {"critic_loss": loss.detach(), "q_mean": q[0].detach().mean()}
        if self.updates % cfg.policy_delay == 0:
            action = self.actor(batch.obs)
            actor_loss = td3_bc_actor_loss(self.critic.q1(batch.obs, action), action,
                                           batch.action, cfg.alpha)
            self.actor_optimizer.minimize(actor_loss)
            polyak_update(self.critic_target, self.critic, cfg.tau)
            polyak_update(self.actor_target, self.actor, cfg.tau)
            metrics["actor_loss"] = actor_loss.detach()
        return metrics
