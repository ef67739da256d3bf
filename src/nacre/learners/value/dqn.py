"""Deep Q-learning: DQN (Mnih et al. 2015), Double DQN (van Hasselt et al. 2016) and deep SARSA.

Dueling networks (Wang et al. 2016) are a Q head (:class:`nacre.networks.DuelingQHead`), not a
learner: any learner here takes any :class:`~nacre.networks.QNetwork`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.data.validate import checked_batch
from nacre.errors import check_config
from nacre.kinds import LearnerKind, ScoresKind
from nacre.learners.value.target import load_q_state, q_state, target_and_optimizer
from nacre.losses.auxiliary import next_window_loss
from nacre.losses.td import double_q_target, q_learning_target, sarsa_target, td_loss
from nacre.networks.q import QNetwork, StateActionQHead
from nacre.networks.towers import TwoTowerHead
from nacre.optim import polyak_update
from nacre.types import Metrics


@dataclass(frozen=True)
class DQNConfig:
    """Hyper-parameters of the DQN family.

    Attributes:
        lr: Adam learning rate.
        gamma: discount factor.
        tau: target update rate; 1.0 copies the online net (the training loop decides *when*).
        loss: ``huber`` (smooth L1, as in Mnih et al. 2015) or ``mse``.
        max_grad_norm: gradient-norm clip (None: no clipping).
        adam_eps: Adam ε.
    """

    lr: float = 1e-4
    # a non-finite gradient: skip the update (counted, logged) or raise NonFiniteUpdateError
    nonfinite: Literal["skip", "raise"] = "skip"
    gamma: float = 0.99
    tau: float = 1.0
    loss: Literal["huber", "mse"] = "huber"
    max_grad_norm: float | None = 10.0
    adam_eps: float = 1e-8

    def __post_init__(self) -> None:
        check_config(self, positive=("lr", "tau", "max_grad_norm"), unit_interval=("gamma", "tau"))


class DQN:
    """Q-learning with a target network and experience replay.

    Example:
        >>> import torch
        >>> from nacre.networks import MLP, QNetwork, FlattenEncoder, VanillaQHead
        >>> from nacre.data import TransitionBatch
        >>> net = QNetwork(FlattenEncoder((4,)), VanillaQHead(4, 2, (16,), "relu"))
        >>> learner = DQN(net, DQNConfig(lr=1e-3))
        >>> batch = TransitionBatch(torch.zeros(8, 4), torch.zeros(8, dtype=torch.long),
        ...     torch.ones(8), torch.zeros(8, 4), torch.zeros(8))
        >>> sorted(learner.learn_batch(batch))
        ['loss', 'q_mean']
    """

    kind = LearnerKind.REPLAY
    scores_kind = ScoresKind.VALUES
    needs_next_action = False
    # The target network only moves in update_target, so the targets of a round of updates can
    # be computed before the round (nacre.accel does, in a few large forward passes).
    targets_fixed_during_updates = True

    def __init__(
        self,
        q_network: QNetwork,
        config: DQNConfig | None = None,
        action_features: Tensor | None = None,
    ) -> None:
        self.config = config or DQNConfig()
        self.action_features = action_features  # [K, d_a] for state-action Q heads
        self.q = q_network
        self.target, self.optimizer = target_and_optimizer(q_network, self.config)
        # a head that scores candidates' features (else one output per slot, blind to them)
        self._scores_candidates = isinstance(q_network.head, StateActionQHead | TwoTowerHead)

    @property
    def gamma(self) -> float:
        return self.config.gamma

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        out: Tensor = self.q(state, action_features)
        return out

    def actions(self, batch: TransitionBatch) -> Tensor | None:
        """What the Q head scores at ``obs``: the batch's candidates (dynamic action sets),
        else the static action features (None for a head with one output per action)."""
        return self.action_features if batch.candidates is None else batch.candidates

    def next_actions(self, batch: TransitionBatch) -> Tensor | None:
        """:meth:`actions` at ``next_obs``."""
        return self.action_features if batch.next_candidates is None else batch.next_candidates

    @torch.no_grad()
    def td_targets(self, batch: TransitionBatch) -> Tensor:
        """``r + γ (1 − terminated) max_a' Q_target(s', a')`` for every row."""
        next_q = self.target(batch.next_obs, self.next_actions(batch))
        return q_learning_target(batch.reward, next_q, batch.terminated,
                                 batch.discount_or(self.gamma), batch.next_mask)

    @torch.no_grad()
    def td_error(self, batch: TransitionBatch) -> Tensor:
        """``y − Q(s, a)`` per row under the current networks (prioritized replay's priorities,
        taken before the update as in Schaul et al. 2016, Algorithm 1)."""
        q_all: Tensor = self.q(batch.obs, self.actions(batch))
        return self.td_targets(batch) - q_all.gather(1, batch.action.long().unsqueeze(1)).squeeze(1)

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        """One gradient step of the Q-network toward the TD targets (the target net stays)."""
        target = self.td_targets(batch)
        features = self.q.features(batch.obs)
        q = self.taken_q(features, batch)
        loss = td_loss(q, target, self.config.loss, batch.weight)
        metrics = {"loss": loss.detach(), "q_mean": q.detach().mean()}
        predictor = self.q.predictor
        if predictor is not None:  # a sequence encoder's auxiliary task, in the same step
            predicted = predictor(features, batch.action)
            prediction = next_window_loss(predicted, batch.next_obs, predictor.rows,
                                          predictor.observation_width)
            loss = loss + predictor.weight * prediction
            metrics["prediction_loss"] = prediction.detach()
        self.optimizer.minimize(loss)
        return metrics

    def taken_q(self, features: Tensor, batch: TransitionBatch) -> Tensor:
        """``Q(s, a)`` of the actions taken ``[n]``. With per-step candidates the head scores
        only the taken one (a state–action value depends on that action's features alone): the
        same values as scoring the whole slate and picking, without K − 1 wasted scores."""
        action = batch.action.long()
        if batch.candidates is not None and self._scores_candidates:
            rows = torch.arange(action.shape[0], device=action.device)
            taken = batch.candidates[rows, action].unsqueeze(1)  # [n, 1, d_a] or ids [n, 1]
            q: Tensor = self.q.head(features, taken)
            return q.squeeze(1)
        q_all: Tensor = self.q.head(features, self.action_features)
        return q_all.gather(1, action.unsqueeze(1)).squeeze(1)

    def update_target(self) -> None:
        """Move the target net toward the online net by ``tau`` (1: a hard copy)."""
        polyak_update(self.target, self.q, self.config.tau)

    def state_dict(self) -> dict[str, Any]:
        return q_state(self.q, self.target, self.optimizer)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        load_q_state(self.q, self.target, self.optimizer, state)


class DoubleDQN(DQN):
    """DQN whose target action is chosen by the online net and valued by the target net."""

    targets_fixed_during_updates = False  # the online net picks a'

    @torch.no_grad()
    def td_targets(self, batch: TransitionBatch) -> Tensor:
        return double_q_target(
            batch.reward,
            self.q(batch.next_obs, self.next_actions(batch)),
            self.target(batch.next_obs, self.next_actions(batch)),
            batch.terminated,
            batch.discount_or(self.gamma),
            batch.next_mask,
        )


class DeepSARSA(DQN):
    """On-policy TD control: bootstraps from the action taken next (needs a SARSA buffer)."""

    needs_next_action = True

    @torch.no_grad()
    def td_targets(self, batch: TransitionBatch) -> Tensor:
        if batch.next_action is None:
            raise ValueError("DeepSARSA needs batches with next_action: use a SARSABuffer")
        return sarsa_target(
            batch.reward,
            self.target(batch.next_obs, self.next_actions(batch)),
            batch.next_action,
            batch.terminated,
            batch.discount_or(self.gamma),
            batch.next_mask,
        )
