"""Conservative Q-learning (Kumar et al. 2020), discrete and continuous.

Offline, a Q-learner's targets query actions the data never took, whose values nothing
corrects; CQL adds to the TD loss ``α (log Σ_a exp Q(s, a) − Q(s, a_data))`` (CQL(H)), which
lowers every action's value and raises the data's, so that the learned values bound the true
ones from below where the data is thin.

:class:`DiscreteCQL` is Double DQN with that term (the variant of Kumar et al.'s Atari runs and
d3rlpy's DiscreteCQL). :class:`CQL` is SAC with it: the log-sum-exp over continuous actions is
importance-sampled from uniform actions and the policy's own, at ``s`` and ``s'``; with
``lagrange_threshold`` set, ``α`` is a Lagrange multiplier keeping the gap near the threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from nacre.data.batch import TransitionBatch
from nacre.data.validate import checked_batch
from nacre.errors import check_config
from nacre.learners.policy.sac import SAC, SACConfig
from nacre.learners.value.dqn import DoubleDQN, DQNConfig
from nacre.losses.actor_critic import critic_loss, sac_actor_loss
from nacre.losses.offline import conservative_penalty, sampled_logsumexp, uniform_log_density
from nacre.losses.td import td_loss
from nacre.networks.continuous import SquashedGaussianActor, TwinQCritic
from nacre.networks.q import QNetwork
from nacre.optim import Adam, polyak_update
from nacre.types import Metrics


@dataclass(frozen=True)
class DiscreteCQLConfig(DQNConfig):
    """Double DQN's hyper-parameters and CQL's ``alpha`` (the penalty's weight; d3rlpy: 1)."""

    alpha: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_config(self, positive=("alpha",))


class DiscreteCQL(DoubleDQN):
    """Double DQN plus the conservative penalty on the Q network's outputs."""

    config: DiscreteCQLConfig

    def __init__(self, q_network: QNetwork, config: DiscreteCQLConfig | None = None) -> None:
        super().__init__(q_network, config or DiscreteCQLConfig())

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        target = self.td_targets(batch)
        q_all = self.q(batch.obs)
        q = q_all.gather(1, batch.action.long().unsqueeze(1)).squeeze(1)
        loss = td_loss(q, target, self.config.loss, batch.weight)
        penalty = conservative_penalty(q_all, q)
        self.optimizer.minimize(loss + self.config.alpha * penalty)
        return {"loss": loss.detach(), "cql_penalty": penalty.detach(),
                "q_mean": q.detach().mean()}


@dataclass(frozen=True)
class CQLConfig(SACConfig):
    """SAC's hyper-parameters (``lr`` is the critics') and CQL's.

    Attributes:
        actor_lr: Adam learning rate of the actor and the temperature (d3rlpy: 1e-4).
        conservative_weight: weight of the penalty (d3rlpy: 5; Kumar et al.'s MuJoCo runs: 5
            or 10).
        n_action_samples: actions sampled per source (uniform, π at s, π at s') for the
            log-sum-exp.
        lagrange_threshold: with a value, ``α ≥ 0`` is learned (at ``alpha_lr``) so that the
            weighted gap stays near it (Kumar et al.'s Lagrange variant; d3rlpy: 10); None:
            a fixed weight.
        alpha_lr: learning rate of that multiplier.
        init_cql_alpha: its initial value.
    """

    lr: float = 3e-4
    actor_lr: float = 1e-4
    conservative_weight: float = 5.0
    n_action_samples: int = 10
    lagrange_threshold: float | None = None
    alpha_lr: float = 1e-4
    init_cql_alpha: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_config(self, positive=("actor_lr", "conservative_weight", "n_action_samples",
                                     "alpha_lr", "init_cql_alpha"))


class CQL(SAC):
    """SAC whose critics carry the conservative penalty (continuous actions)."""

    config: CQLConfig

    def __init__(self, actor: SquashedGaussianActor, critic: TwinQCritic,
                 config: CQLConfig | None = None, seed: int = 0) -> None:
        cfg = config or CQLConfig()
        super().__init__(actor, critic, cfg, seed)
        self.actor_optimizer = Adam(actor.parameters(), cfg.actor_lr, nonfinite=cfg.nonfinite)
        if self.alpha_optimizer is not None:
            self.alpha_optimizer = Adam([self.log_alpha], cfg.actor_lr, nonfinite=cfg.nonfinite)
        device = next(actor.parameters()).device
        self.log_cql_alpha = nn.Parameter(torch.tensor(math.log(cfg.init_cql_alpha),
                                                       device=device))
        self.cql_alpha_optimizer = Adam([self.log_cql_alpha], cfg.alpha_lr,
                                        nonfinite=cfg.nonfinite)

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        cfg = self.config
        action, log_prob = self.actor.sample(batch.obs, self.generator)
        alpha, metrics = self.temperature_step(log_prob)  # SAC's
        target, _ = self.soft_td_target(batch, alpha)  # SAC's
        q = self.critic(batch.obs, batch.action)
        loss = critic_loss(q, target)  # Σ_j MSE_j, as Kumar et al. and d3rlpy (SAC halves it)
        gap = (self.logsumexp_q(batch) - q).mean(dim=-1)  # [critics]: the CQL(H) gap of each
        penalty = cfg.conservative_weight * gap.sum()
        if cfg.lagrange_threshold is not None:  # α ≥ 0 grows while the gap exceeds the threshold
            cql_alpha = self.log_cql_alpha.exp().clamp(0.0, 1e6)
            excess = cfg.conservative_weight * gap.detach() - cfg.lagrange_threshold
            self.cql_alpha_optimizer.minimize(-(cql_alpha * excess).sum())
            penalty = cql_alpha.detach() * (penalty - cfg.lagrange_threshold * len(gap))
            metrics["cql_alpha"] = cql_alpha.detach()
        self.critic_optimizer.minimize(loss + penalty)
        value = self.critic(batch.obs, action).min(dim=0).values
        actor_loss = sac_actor_loss(value, log_prob, alpha)
        self.actor_optimizer.minimize(actor_loss)
        polyak_update(self.critic_target, self.critic, cfg.tau)
        metrics.update({"critic_loss": loss.detach(), "cql_gap": gap.detach().mean(),
                        "actor_loss": actor_loss.detach(), "alpha": alpha})
        return metrics

    def logsumexp_q(self, batch: TransitionBatch) -> Tensor:
        """``log ∫ exp Q_j(s, a) da`` per critic ``[critics, N]``, importance-sampled from
        uniform actions and the policy's actions at ``s`` and ``s'`` (densities detached)."""
        n, m = batch.obs.shape[0], self.config.n_action_samples
        obs = batch.obs.repeat_interleave(m, dim=0)
        dim = self.actor.action_dim
        uniform = torch.rand(n * m, dim, generator=self.generator, device=obs.device) * 2 - 1
        with torch.no_grad():
            now, log_now = self.actor.sample(obs, self.generator)
            later, log_later = self.actor.sample(batch.next_obs.repeat_interleave(m, dim=0),
                                                 self.generator)
        actions = torch.cat([uniform, now, later])
        q = self.critic(obs.repeat(3, *([1] * (obs.dim() - 1))), actions)  # [critics, 3 n m]
        log_density = torch.cat([torch.full_like(log_now, uniform_log_density(dim)), log_now,
                                 log_later])
        q = q.view(q.shape[0], 3, n, m).permute(0, 2, 1, 3).reshape(q.shape[0], n, 3 * m)
        log_density = log_density.view(3, n, m).permute(1, 0, 2).reshape(n, 3 * m)
        return sampled_logsumexp(q, log_density)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "log_cql_alpha": self.log_cql_alpha.detach().clone(),
                "cql_alpha_optimizer": self.cql_alpha_optimizer.state_dict()}

    def load_state_dict(self, state: Any) -> None:
        super().load_state_dict(state)
        with torch.no_grad():
            self.log_cql_alpha.copy_(state["log_cql_alpha"])
        self.cql_alpha_optimizer.load_state_dict(state["cql_alpha_optimizer"])
