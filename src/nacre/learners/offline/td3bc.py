"""TD3+BC (Fujimoto & Gu 2021): TD3 whose actor also imitates the data.

The critics learn exactly as TD3's (:meth:`TD3.critic_update`); every ``policy_delay`` updates
the actor minimizes ``−λ mean Q_1(s, π(s)) + mean (π(s) − a)²`` with ``λ = α / mean |Q_1|``,
the behaviour-cloning term keeping the policy on the data's actions. The paper also
standardizes observations with the dataset's mean and standard deviation: ``env.normalize.obs:
true`` in an offline run config does it (:mod:`nacre.train.offline`).
"""

from __future__ import annotations

from dataclasses import dataclass

from nacre.data.batch import TransitionBatch
from nacre.data.validate import checked_batch
from nacre.errors import check_config
from nacre.learners.policy.td3 import TD3, TD3Config
from nacre.losses.offline import td3_bc_actor_loss
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
        metrics, _ = self.critic_update(batch)  # TD3's
        if self.updates % cfg.policy_delay == 0:
            action = self.actor(batch.obs)
            actor_loss = td3_bc_actor_loss(self.critic.q1(batch.obs, action), action,
                                           batch.action, cfg.alpha)
            self.actor_optimizer.minimize(actor_loss)
            polyak_update(self.critic_target, self.critic, cfg.tau)
            polyak_update(self.actor_target, self.actor, cfg.tau)
            metrics["actor_loss"] = actor_loss.detach()
        return metrics
