"""Deep Q-learning: DQN (Mnih et al. 2015), Double DQN (van Hasselt et al. 2016) and deep SARSA.

Dueling networks (Wang et al. 2016) are a Q head (:class:`nacre.networks.DuelingQHead`), not a
learner: any learner here takes any :class:`~nacre.networks.QNetwork`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.errors import check_positive, check_unit_interval
from nacre.learners.optim import Adam, polyak_update
from nacre.learners.value.fused import FusedTDStep, fusable, layers_of, mlp_forward
from nacre.losses.td import double_q_target, q_learning_target, sarsa_target
from nacre.networks.q import QNetwork
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
        fused: use hand-derived gradients for ReLU MLP Q-networks (same result, faster);
            other networks always use autograd.
    """

    lr: float = 1e-4
    gamma: float = 0.99
    tau: float = 1.0
    loss: Literal["huber", "mse"] = "huber"
    max_grad_norm: float | None = 10.0
    adam_eps: float = 1e-8
    fused: bool = True

    def __post_init__(self) -> None:
        check_unit_interval("learner.gamma", self.gamma)
        check_positive("learner.lr", self.lr)
        check_positive("learner.tau", self.tau)
        check_unit_interval("learner.tau", self.tau)
        if self.max_grad_norm is not None:
            check_positive("learner.max_grad_norm", self.max_grad_norm)


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

    scores_kind = "values"  # what exploration must accept

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
        self.target = copy.deepcopy(q_network).requires_grad_(False)
        fused = self.config.fused and fusable(self.q) and action_features is None
        self.optimizer = Adam(
            self.q.parameters(), self.config.lr, self.config.adam_eps, self.config.max_grad_norm,
            flat=fused,
        )
        self._loss = F.smooth_l1_loss if self.config.loss == "huber" else F.mse_loss
        self._fused = FusedTDStep(self.q, self.optimizer, self.config.loss) if fused else None
        self._layers = (layers_of(self.q), layers_of(self.target)) if self._fused else ([], [])
        self._target_stale = False

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        if self._fused is not None and state.dtype == torch.float32:
            return mlp_forward(self._layers[0], state)  # no per-module call overhead
        out: Tensor = self.q(state, action_features)
        return out

    def _next_q(self, net: QNetwork, next_obs: Tensor) -> Tensor:
        """Q-values at the next states (no gradient), fused when the network allows it."""
        if self._fused is not None and next_obs.dtype == torch.float32:
            return mlp_forward(self._layers[0 if net is self.q else 1], next_obs)
        out: Tensor = net(next_obs, self.action_features)
        return out

    def _target_value(self, batch: TransitionBatch, discount: float | Tensor) -> Tensor:
        next_q = self._next_q(self.target, batch.next_obs)
        return q_learning_target(
            batch.reward, next_q, batch.terminated, discount, batch.next_mask
        )

    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        with torch.no_grad():
            target = self._target_value(batch, self._discount(batch))
        return self._update(batch, target)

    def learn_batches(self, batch: TransitionBatch, batch_size: int) -> Metrics:
        """``len(batch) / batch_size`` consecutive updates.

        The target network only moves in :meth:`update_target`, so the targets of all the
        updates are computed first, in a few large forward passes instead of many small ones.
        """
        metrics: Metrics = {}
        if not self.targets_fixed_during_updates:
            for part in batch.split(batch_size):
                metrics = self.learn_batch(part)
            return metrics
        with torch.no_grad():
            target = torch.cat([
                self._target_value(chunk, self._discount(chunk)) for chunk in batch.split(1024)
            ])
        if self._fused is not None and batch.obs.dtype == torch.float32:  # see fused.py
            q, loss = self._fused(batch.obs, batch.action, target, batch.weight,
                                  batch_size=batch_size)
            self._target_stale = True
            assert loss is not None
            return {"loss": loss, "q_mean": q.mean()}
        parts = list(zip(batch.split(batch_size), torch.split(target, batch_size), strict=True))
        for i, (part, part_target) in enumerate(parts):
            metrics = self._update(part, part_target, metrics=i == len(parts) - 1)
        return metrics

    def _discount(self, batch: TransitionBatch) -> float | Tensor:
        return self.config.gamma if batch.discount is None else batch.discount

    def _update(self, batch: TransitionBatch, target: Tensor, metrics: bool = True) -> Metrics:
        if self._fused is not None and batch.obs.dtype == torch.float32:  # see fused.py
            q, loss = self._fused(batch.obs, batch.action, target, batch.weight, metrics)
            if loss is None:
                self._target_stale = True
                return {}
        else:
            q_all = self.q(batch.obs, self.action_features)
            q = q_all.gather(1, batch.action.long().unsqueeze(1)).squeeze(1)
            if batch.weight is None:
                loss = self._loss(q, target)
            else:
                loss = (self._loss(q, target, reduction="none") * batch.weight).mean()
            self.optimizer.minimize(loss)
        self._target_stale = True
        return {"loss": loss.detach(), "q_mean": q.detach().mean()}

    def update_target(self) -> None:
        """Move the target net toward the online net (skipped when a hard copy would be a no-op)."""
        if self.config.tau >= 1.0 and not self._target_stale:
            return
        polyak_update(self.target, self.q, self.config.tau)
        self._target_stale = False

    def state_dict(self) -> dict[str, Any]:
        return {
            "q": self.q.state_dict(),
            "target": self.target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "target_stale": self._target_stale,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.q.load_state_dict(state["q"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._target_stale = bool(state["target_stale"])


class DoubleDQN(DQN):
    """DQN whose target action is chosen by the online net and valued by the target net."""

    targets_fixed_during_updates = False  # the online net picks a'

    def _target_value(self, batch: TransitionBatch, discount: float | Tensor) -> Tensor:
        return double_q_target(
            batch.reward,
            self._next_q(self.q, batch.next_obs),
            self._next_q(self.target, batch.next_obs),
            batch.terminated,
            discount,
            batch.next_mask,
        )


class DeepSARSA(DQN):
    """On-policy TD control: bootstraps from the action taken next (needs a SARSA buffer)."""

    needs_next_action = True

    def _target_value(self, batch: TransitionBatch, discount: float | Tensor) -> Tensor:
        if batch.next_action is None:
            raise ValueError("DeepSARSA needs batches with next_action: use a SARSABuffer")
        return sarsa_target(
            batch.reward,
            self._next_q(self.target, batch.next_obs),
            batch.next_action,
            batch.terminated,
            discount,
        )
