"""REINFORCE (Williams 1992) with discounted reward-to-go and an optional learned baseline.

One gradient step per rollout on ``−mean(log π(a_t|s_t) · (G_t − b(s_t)))``, where ``G_t`` is the
discounted reward-to-go within the episode (Sutton & Barto 2018, §13.3–13.4). A rollout may cut
an episode (its last step, or a time-limit truncation): ``G_t`` then bootstraps from the critic's
value of the next observation when the baseline is on, and from 0 without one (pure Monte Carlo
over what was observed). With the baseline, the critic regresses on ``G_t`` in the same step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.data.rollout import Rollout
from nacre.data.validate import checked_batch
from nacre.errors import check_config
from nacre.kinds import LearnerKind, ScoresKind
from nacre.losses.policy import policy_gradient_loss, value_loss
from nacre.losses.returns import gae
from nacre.networks.actor_critic import ActorCritic
from nacre.optim import Adam
from nacre.types import Metrics


@dataclass(frozen=True)
class ReinforceConfig:
    """Hyper-parameters of REINFORCE.

    Attributes:
        lr: Adam learning rate.
        gamma: discount factor.
        baseline: subtract the learned state value (the actor–critic's critic) from the return.
        value_coef: weight of the critic's loss (with ``baseline``).
        entropy_coef: weight of the entropy bonus.
        normalize_advantage: standardize ``G − b`` over the rollout.
        max_grad_norm: gradient-norm clip (None: none).
    """

    lr: float = 1e-3
    # a non-finite gradient: skip the update (counted, logged) or raise NonFiniteUpdateError
    nonfinite: Literal["skip", "raise"] = "skip"
    gamma: float = 0.99
    baseline: bool = True
    value_coef: float = 0.5
    entropy_coef: float = 0.0
    normalize_advantage: bool = False
    max_grad_norm: float | None = None

    def __post_init__(self) -> None:
        check_config(self, positive=("lr", "max_grad_norm"), unit_interval=("gamma",))


class REINFORCE:
    """Monte-Carlo policy gradient over an :class:`~nacre.networks.ActorCritic` (its critic is
    the baseline); pair it with :class:`~nacre.exploration.PolicySampling` and a
    :class:`~nacre.data.RolloutBuffer`."""

    kind = LearnerKind.ROLLOUT
    needs_next_action = False

    @property
    def scores_kind(self) -> ScoresKind:
        return self.net.scores_kind

    @property
    def gamma(self) -> float:
        return self.config.gamma

    def __init__(self, net: ActorCritic, config: ReinforceConfig | None = None) -> None:
        self.config = config or ReinforceConfig()
        self.net = net
        params = [p for name, p in net.named_parameters()
                  if self.config.baseline or not name.startswith("critic.")]
        self.optimizer = Adam(params, self.config.lr, max_grad_norm=self.config.max_grad_norm,
                              nonfinite=self.config.nonfinite)

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        return self.net.scores(state, action_features)

    def update_target(self) -> None:
        """No target network: the value targets are Monte-Carlo returns."""

    def learn_rollout(self, rollout: Rollout, batch_size: int, progress: float = 0.0) -> Metrics:
        """One gradient step on the whole rollout (``batch_size`` is not used)."""
        metrics = self.learn_batch(self.process(rollout))
        metrics["updates"] = torch.tensor(1)
        return metrics

    @torch.no_grad()
    def process(self, rollout: Rollout) -> TransitionBatch:
        """Reward-to-go (bootstrapped where the rollout cut an episode) for every valid step."""
        steps, envs = rollout.steps, rollout.num_envs
        flat = rollout.flat()
        values = next_values = torch.zeros(steps, envs, device=rollout.reward.device)
        if self.config.baseline:
            values = self.net.value(flat.obs).view(steps, envs)
            next_values = self.net.value(flat.next_obs).view(steps, envs)
        # With λ = 1, GAE's λ-return is the discounted reward-to-go within the episode,
        # bootstrapped from V(s') only where the rollout cut the episode (the value terms of
        # the steps in between cancel); with V = 0 it is the plain Monte-Carlo sum.
        _, returns = gae(rollout.reward.float(), values, next_values, rollout.terminated,
                         rollout.ends, self.config.gamma, 1.0)
        return replace(flat, returns=returns.reshape(-1)).select(rollout.valid.reshape(-1))

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        """One step on rows with ``returns`` (the reward-to-go) set, as :meth:`process` makes."""
        if batch.returns is None:
            raise ValueError("REINFORCE.learn_batch needs rows with returns: use learn_rollout "
                             "or REINFORCE.process(rollout)")
        cfg = self.config
        log_prob, entropy = self.net.log_prob(batch.obs, batch.action, batch.mask,
                                              batch.candidates)
        v_loss = torch.zeros(())
        advantage = batch.returns
        if cfg.baseline:
            values = self.net.value(batch.obs)
            v_loss = value_loss(values, batch.returns)
            advantage = batch.returns - values.detach()
        if cfg.normalize_advantage and advantage.numel() > 1:
            std, mean = torch.std_mean(advantage)
            advantage = (advantage - mean) / (std + 1e-8)
        policy_loss = policy_gradient_loss(log_prob, advantage)
        entropy_mean = entropy.mean()
        loss = policy_loss + cfg.value_coef * v_loss - cfg.entropy_coef * entropy_mean
        self.optimizer.minimize(loss)
        return {"loss": loss.detach(), "policy_loss": policy_loss.detach(),
                "value_loss": v_loss.detach(), "entropy": entropy_mean.detach()}

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
