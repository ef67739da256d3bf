"""The DQN-family kernel: TD regression of a ReLU MLP Q-network with hand-derived gradients.

Covers :class:`~nacre.learners.DQN`, :class:`~nacre.learners.DoubleDQN` and
:class:`~nacre.learners.DeepSARSA` over a flat-input Q-network with a vanilla head (one output
per action) of ReLU layers. The TD targets come from the learner itself
(:meth:`~nacre.learners.DQN.td_targets`); the regression step is written out::

    loss:      ℓ = mean_n ρ(Q[n, a_n] − y_n)          (ρ: Huber with δ = 1, or squared error)
    backward:  g_L = ∂ℓ/∂Q (nonzero only at the taken actions), then :mod:`nacre.accel.mlp`

A round of updates whose targets do not depend on the online network (DQN, SARSA) gets all its
targets from a few large forward passes first. The mean over the batch (and MSE's factor 2) is
folded into the optimizer's gradient scale. Acting uses the matrix-vector forward pass.
Equal to the readable update up to float rounding (tests/unit/test_accel_parity.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from nacre.accel.flat import FlatKernel, Pairs, optimizer_pairs
from nacre.accel.mlp import backward_into, forward_saving_inputs, grad_views, mlp_forward
from nacre.data.batch import TransitionBatch
from nacre.learners.value.dqn import DQN, DeepSARSA, DoubleDQN
from nacre.networks.mlp import MLP
from nacre.networks.q import QNetwork, VanillaQHead
from nacre.types import Metrics

_ROWS_PER_TARGET_PASS = 1024


def _relu_head(net: QNetwork) -> MLP | None:
    """The head's MLP when the network is exactly the kind the kernel is written for (exact
    types: a subclass may compute something else)."""
    head = net.head
    if (type(net) is QNetwork and net.flat_input and net.predictor is None
            and type(head) is VanillaQHead
            and type(head.mlp) is MLP and head.mlp.activation == "relu"):
        return head.mlp
    return None


def covers(learner: object) -> bool:
    """A DQN-family learner (exactly: subclasses may change the update) over a flat-input
    ReLU MLP Q-network with one output per action, every parameter trained."""
    return (type(learner) in (DQN, DoubleDQN, DeepSARSA)
            and isinstance(learner, DQN)
            and learner.action_features is None
            and _relu_head(learner.q) is not None
            and all(p.requires_grad for p in learner.q.parameters()))


class DQNKernel(FlatKernel):
    """Hand-derived TD regression for a covered DQN-family learner (see the module docstring)."""

    def __init__(self, learner: DQN) -> None:
        self.dqn = learner
        online = _relu_head(learner.q)
        assert online is not None
        optimizer = learner.optimizer
        if [id(p) for p in optimizer.params] != [id(p) for p in online.parameters()]:
            raise ValueError("the optimizer must own exactly the Q-network's parameters")
        optimizer.flatten_()
        self.huber = learner.config.loss == "huber"
        super().__init__(learner)
        self.build_views()

    def pairs(self) -> Pairs:
        return optimizer_pairs(self.dqn.optimizer)

    def build_views(self) -> None:
        online = _relu_head(self.dqn.q)
        assert online is not None
        self.online = online.layers()
        self.grads = grad_views(self.dqn.optimizer.params, self.dqn.optimizer.grads, self.online)

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        if state.dtype != torch.float32:
            return self.dqn.scores(state, action_features)
        return mlp_forward(self.online, state)  # no per-module call overhead

    def learn_batches(self, batch: TransitionBatch, batch_size: int) -> Metrics:
        if batch.obs.dtype != torch.float32:  # e.g. integer observations: the readable update
            return super().learn_batches(batch, batch_size)
        learner = self.dqn
        if learner.targets_fixed_during_updates:
            target = torch.cat([learner.td_targets(chunk)
                                for chunk in batch.split(_ROWS_PER_TARGET_PASS)])
            return self._regress(batch, target, batch_size, want_metrics=True)
        metrics: Metrics = {}
        parts = batch.split(batch_size)
        for i, part in enumerate(parts):  # Double DQN: the online net picks a' after each step
            metrics = self._regress(part, learner.td_targets(part), len(part),
                                    want_metrics=i == len(parts) - 1)
        return metrics

    @torch.no_grad()
    def _regress(self, batch: TransitionBatch, target: Tensor, size: int,
                 want_metrics: bool) -> Metrics:
        """Consecutive updates on consecutive ``size``-row slices of ``batch``, each toward its
        ``target`` rows; the metrics of the last one (when wanted)."""
        self.refresh()
        obs, weight = batch.obs, batch.weight
        rows = obs.shape[0]
        index = batch.action.long().unsqueeze(1)
        n_out = self.online[-1][0].shape[0]
        # Per row: the target in the taken action's column (``wide``) and a mask that is the
        # importance weight there and 0 elsewhere, so ∂ℓ/∂Q = clip(Q − wide) ⊙ mask / n.
        wide = target.unsqueeze(1).expand(rows, n_out).contiguous()
        mask = torch.zeros_like(wide).scatter_(
            1, index, 1.0 if weight is None else weight.unsqueeze(1).to(wide.dtype))
        parts = zip(torch.split(obs, size), torch.split(wide, size), torch.split(mask, size),
                    strict=True)
        optimizer = self.dqn.optimizer
        q_out = x = obs
        for x, y, m in parts:
            q_out, acts = forward_saving_inputs(self.online, x)
            dh = q_out - y  # ∂ℓ/∂Q up to the multiplier the optimizer step applies
            if self.huber:
                dh.clamp_(-1.0, 1.0)
            backward_into(self.online, acts, dh.mul_(m), self.grads)
            optimizer.step_flat((1.0 if self.huber else 2.0) / x.shape[0])
        if not want_metrics:
            return {}
        last = slice(rows - x.shape[0], rows)  # metrics of the last update, before its step
        q = q_out.gather(1, index[last]).squeeze(1)
        each = (F.smooth_l1_loss if self.huber else F.mse_loss)(q, target[last], reduction="none")
        loss = each.mean() if weight is None else (each * weight[last]).mean()
        return {"loss": loss, "q_mean": q.mean()}


__all__ = ["DQNKernel", "covers"]
