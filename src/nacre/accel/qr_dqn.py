"""The QR-DQN kernel: quantile regression of a ReLU MLP with hand-derived gradients.

Covers :class:`~nacre.learners.QRDQN` and :class:`~nacre.learners.DoubleQRDQN` over a
flat-input Q-network whose head is a :class:`~nacre.networks.QuantileQHead` without a dueling
stream (one MLP with ``K · N`` outputs) of ReLU layers. The target quantiles come from the
learner itself (:meth:`~nacre.learners.QRDQN.target_quantiles`); the regression step is written
out. With ``u_ij = T_j − θ_i`` for the taken action's quantiles ``θ``::

    loss:      ℓ = mean_b w_b Σ_i mean_j |τ_i − 1{u_bij < 0}| · Huber_κ(u_bij) / κ
    backward:  ∂ℓ/∂θ_bi = −(w_b / B) mean_j |τ_i − 1{u_bij < 0}| · clip(u_bij, −κ, κ) / κ

(zero at the other actions' outputs), then :mod:`nacre.accel.mlp`. The 1/B of the batch mean is
folded into the optimizer's gradient scale. A round of QR-DQN updates gets all its targets from
a few large forward passes first (the target net does not move within a round). Equal to the
readable update up to float rounding (tests/unit/test_accel_qr_parity.py).
"""

from __future__ import annotations

import torch
from torch import Tensor

from nacre.accel.flat import FlatKernel, Pairs, optimizer_pairs
from nacre.accel.mlp import backward_into, forward_saving_inputs, grad_views, mlp_forward
from nacre.data.batch import TransitionBatch
from nacre.learners.value.qr_dqn import QRDQN, DoubleQRDQN
from nacre.losses.distributional import quantile_huber_loss
from nacre.networks.mlp import MLP
from nacre.networks.q import QNetwork, QuantileQHead
from nacre.types import Metrics

_ROWS_PER_TARGET_PASS = 1024


def _relu_head(net: QNetwork) -> MLP | None:
    """The quantile head's MLP when the network is exactly the kind the kernel is written for."""
    head = net.head
    if (type(net) is QNetwork and net.flat_input and net.predictor is None
            and type(head) is QuantileQHead and head.value is None
            and type(head.mlp) is MLP and head.mlp.activation == "relu"):
        return head.mlp
    return None


def covers(learner: object) -> bool:
    """QR-DQN or Double QR-DQN (exactly) over a flat-input ReLU quantile MLP without a dueling
    stream, every parameter trained."""
    return (type(learner) in (QRDQN, DoubleQRDQN) and isinstance(learner, QRDQN)
            and _relu_head(learner.q) is not None
            and all(p.requires_grad for p in learner.q.parameters()))


class QRDQNKernel(FlatKernel):
    """Hand-derived quantile regression for a covered QR-DQN learner (see the module
    docstring)."""

    def __init__(self, learner: QRDQN) -> None:
        self.qr = learner
        online = _relu_head(learner.q)
        assert online is not None
        if [id(p) for p in learner.optimizer.params] != [id(p) for p in online.parameters()]:
            raise ValueError("the optimizer must own exactly the Q-network's parameters")
        learner.optimizer.flatten_()
        super().__init__(learner)
        self.build_views()

    def pairs(self) -> Pairs:
        return optimizer_pairs(self.qr.optimizer)

    def build_views(self) -> None:
        online = _relu_head(self.qr.q)
        assert online is not None
        self.online = online.layers()
        self.grads = grad_views(self.qr.optimizer.params, self.qr.optimizer.grads, self.online)

    def _quantiles(self, out: Tensor) -> Tensor:
        head = self.qr.q.head
        assert isinstance(head, QuantileQHead)
        return out.view(out.shape[0], head.n_actions, head.n_quantiles)

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        if state.dtype != torch.float32:
            return self.qr.scores(state, action_features)
        return self.qr.risk.value(self._quantiles(mlp_forward(self.online, state)))

    def learn_batches(self, batch: TransitionBatch, batch_size: int) -> Metrics:
        if batch.obs.dtype != torch.float32:  # e.g. integer observations: the readable update
            return super().learn_batches(batch, batch_size)
        learner = self.qr
        if type(learner) is QRDQN:  # the target net alone picks a': targets fixed for the round
            target = torch.cat([learner.target_quantiles(chunk)
                                for chunk in batch.split(_ROWS_PER_TARGET_PASS)])
            return self._regress(batch, target, batch_size)
        metrics: Metrics = {}
        for part in batch.split(batch_size):  # Double: the online net picks a' after each step
            metrics = self._regress(part, learner.target_quantiles(part), len(part))
        return metrics

    @torch.no_grad()
    def _regress(self, batch: TransitionBatch, target: Tensor, size: int) -> Metrics:
        """Consecutive updates on consecutive ``size``-row slices of ``batch``; the metrics of
        the last one (taken before its step, as the readable update reports them)."""
        self.refresh()
        kappa, taus = self.qr.config.kappa, self.qr.taus.unsqueeze(-1)  # [N, 1]
        optimizer = self.qr.optimizer
        rows = len(batch)
        weight = (torch.ones(rows, device=batch.obs.device) if batch.weight is None
                  else batch.weight)
        theta = y = w = weight
        for x, a, y, w in zip(torch.split(batch.obs, size), torch.split(batch.action, size),
                              torch.split(target, size), torch.split(weight, size),
                              strict=True):
            out, acts = forward_saving_inputs(self.online, x)
            quantiles = self._quantiles(out)
            index = a.long().view(-1, 1, 1).expand(-1, 1, quantiles.shape[-1])
            theta = quantiles.gather(1, index).squeeze(1)  # [b, N]
            u = y.unsqueeze(1) - theta.unsqueeze(2)  # [b, N, M]
            asymmetry = (taus - (u < 0).to(u.dtype)).abs_()
            d_theta = asymmetry.mul_(u.clamp_(-kappa, kappa)).mean(dim=2)
            d_theta.mul_(w.unsqueeze(1) / -kappa)
            grad_out = torch.zeros_like(quantiles).scatter_(1, index, d_theta.unsqueeze(1))
            backward_into(self.online, acts, grad_out.view(out.shape), self.grads)
            optimizer.step_flat(1.0 / x.shape[0])
        loss = quantile_huber_loss(theta, y, self.qr.taus, kappa,
                                   None if batch.weight is None else w)
        return {"loss": loss, "q_mean": theta.mean()}

__all__ = ["QRDQNKernel", "covers"]
