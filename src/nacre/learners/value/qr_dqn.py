"""Distributional Q-learning: QR-DQN (Dabney et al. 2018) and its Double-Q variant.

The Q-network's head is a :class:`~nacre.networks.QuantileQHead`: ``N`` quantiles of the return
of each action. A risk measure (:mod:`nacre.safety.risk`; the mean unless the run's safety slot
holds another) turns them into the scores the agent acts on *and* picks the action the TD target
bootstraps from, so the distribution learned is the one of the risk-sensitive greedy policy.
Multi-step targets come from the buffer (``batch.discount``), dueling from the head.
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
from nacre.losses.distributional import (
    action_quantiles,
    quantile_huber_loss,
    quantile_midpoints,
    quantile_td_target,
)
from nacre.losses.td import ends, masked_argmax
from nacre.networks.q import QNetwork, QuantileQHead
from nacre.optim import polyak_update
from nacre.safety.risk import RiskNeutral
from nacre.types import Metrics, RiskMeasure


@dataclass(frozen=True)
class QRDQNConfig:
    """Hyper-parameters of QR-DQN.

    Attributes:
        lr: Adam learning rate.
        nonfinite: a non-finite gradient: skip the update (counted, logged) or raise.
        gamma: discount factor.
        tau: target update rate; 1.0 copies the online net (the training loop decides *when*).
        kappa: the Huber threshold κ of the quantile loss (1 in the paper).
        max_grad_norm: gradient-norm clip (None: no clipping).
        adam_eps: Adam ε (the paper: 0.01 / batch size).
    """

    lr: float = 5e-5
    nonfinite: Literal["skip", "raise"] = "skip"
    gamma: float = 0.99
    tau: float = 1.0
    kappa: float = 1.0
    max_grad_norm: float | None = 10.0
    adam_eps: float = 3.125e-4

    def __post_init__(self) -> None:
        check_config(self, positive=("lr", "tau", "kappa", "max_grad_norm"),
                     unit_interval=("gamma", "tau"))


class QRDQN:
    """Quantile-regression DQN: Q-learning of the whole return distribution.

    Example:
        >>> import torch
        >>> from nacre.networks import FlattenEncoder, QNetwork, QuantileQHead
        >>> from nacre.data import TransitionBatch
        >>> net = QNetwork(FlattenEncoder((4,)), QuantileQHead(4, 2, 8, (16,), "relu"))
        >>> learner = QRDQN(net, QRDQNConfig(lr=1e-3))
        >>> learner.scores(torch.zeros(3, 4)).shape  # the risk measure's value per action
        torch.Size([3, 2])
        >>> batch = TransitionBatch(torch.zeros(8, 4), torch.zeros(8, dtype=torch.long),
        ...     torch.ones(8), torch.zeros(8, 4), torch.zeros(8))
        >>> sorted(learner.learn_batch(batch))
        ['loss', 'q_mean']
    """

    kind = LearnerKind.REPLAY
    scores_kind = ScoresKind.VALUES
    needs_next_action = False

    def __init__(self, q_network: QNetwork, config: QRDQNConfig | None = None,
                 risk: RiskMeasure | None = None) -> None:
        if not isinstance(q_network.head, QuantileQHead):
            raise ValueError("QR-DQN needs a Q-network with a QuantileQHead (network "
                             "quantile_mlp)")
        self.config = config or QRDQNConfig()
        self.risk: RiskMeasure = risk or RiskNeutral()
        self.q = q_network
        self.target, self.optimizer = target_and_optimizer(q_network, self.config)
        self.taus = quantile_midpoints(q_network.head.n_quantiles,
                                       next(q_network.parameters()).device)

    @property
    def gamma(self) -> float:
        return self.config.gamma

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        """The risk measure's value of each action ``[B, K]``."""
        return self.risk.value(self.q(state))

    def quantiles(self, state: Tensor) -> Tensor:
        """The return quantiles of every action ``[B, K, N]`` (for plots and analysis)."""
        out: Tensor = self.q(state)
        return out

    def next_action(self, batch: TransitionBatch, next_quantiles: Tensor) -> Tensor:
        """The action ``a'`` the target bootstraps from: the target net's risk-best one."""
        return masked_argmax(self.risk.value(next_quantiles), batch.next_mask)

    @torch.no_grad()
    def target_quantiles(self, batch: TransitionBatch) -> Tensor:
        """Samples of the target distribution ``r + γ (1 − d) θ_j(s', a')`` ``[B, N]``."""
        next_quantiles = self.target(batch.next_obs)
        chosen = action_quantiles(next_quantiles, self.next_action(batch, next_quantiles))
        return quantile_td_target(batch.reward, chosen, ends(batch.terminated, batch.next_mask),
                                  batch.discount_or(self.gamma))

    @torch.no_grad()
    def td_error(self, batch: TransitionBatch) -> Tensor:
        """The gap between the means of the target and the current distribution per row
        (prioritized replay's priorities)."""
        current = action_quantiles(self.q(batch.obs), batch.action)
        return self.target_quantiles(batch).mean(dim=-1) - current.mean(dim=-1)

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        """One gradient step of the quantiles toward the target distribution."""
        target = self.target_quantiles(batch)
        quantiles = action_quantiles(self.q(batch.obs), batch.action)
        loss = quantile_huber_loss(quantiles, target, self.taus, self.config.kappa,
                                   batch.weight)
        self.optimizer.minimize(loss)
        return {"loss": loss.detach(), "q_mean": quantiles.detach().mean()}

    def update_target(self) -> None:
        """Move the target net toward the online net by ``tau`` (1: a hard copy)."""
        polyak_update(self.target, self.q, self.config.tau)

    def state_dict(self) -> dict[str, Any]:
        return q_state(self.q, self.target, self.optimizer)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        load_q_state(self.q, self.target, self.optimizer, state)


class DoubleQRDQN(QRDQN):
    """QR-DQN whose target action is chosen by the online net (under the risk measure) and
    whose target quantiles come from the target net (van Hasselt et al. 2016's decoupling)."""

    def next_action(self, batch: TransitionBatch, next_quantiles: Tensor) -> Tensor:
        return masked_argmax(self.risk.value(self.q(batch.next_obs)), batch.next_mask)


__all__ = ["DoubleQRDQN", "QRDQN", "QRDQNConfig"]
