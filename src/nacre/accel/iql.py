"""The IQL kernel: hand-derived gradients of IQL's update for ReLU MLP actors, critics and values.

The update of :meth:`nacre.learners.IQL.learn_batch`, step for step, with ``n`` rows, the
twin critics as in :mod:`nacre.accel.twin` and every gradient written ``× n`` (the ``1/n``, and
any constant factor, goes into the optimizer's gradient scale, :meth:`nacre.optim.Adam.step_flat`):

* **Value.** ``L_V = mean_n |τ − 1(u < 0)| u²`` with ``u = min_j Q'_j(s, a) − V(s)`` (target
  critics, no gradient): ``∂L_V/∂V = −2 |τ − 1(u < 0)| u / n``; written as
  ``|τ − 1(u < 0)| (V − q)`` with the scale ``2/n``, then back through the value MLP.
* **Actor.** AWR weights ``w = min(exp(β u'), w_max)`` with ``u' = min_j Q'_j(s, a) − V(s)``
  under the value *after* its step (as the readable update and the paper compute them).
  ``L_π = −mean_n w · log N(a; m, σ)`` with ``m = tanh μ``,
  ``ℓ = log σ = max(clamp(ℓ_raw, −20, 2), ℓ_min)`` and ``z = (a − m) e^{−ℓ}``,
  ``log N = Σ_d (−½ z² − ℓ − ½ log 2π)``:
  ``∂L_π/∂μ = −w z e^{−ℓ} (1 − m²) / n`` and ``∂L_π/∂ℓ_raw = w (1 − z²) / n`` where neither
  clamp is active (``−20 ≤ ℓ_raw ≤ 2`` and the clamped value ``≥ ℓ_min``, the inclusive
  boundaries of ``torch.clamp``'s gradient), 0 elsewhere; then through the two heads and the
  ReLU trunk as in :mod:`nacre.accel.sac`. With one log σ for all states
  (:class:`~nacre.networks.SharedLogStd`, IQL's default) its gradient is the sum of the
  rows' ``∂L_π/∂ℓ_raw`` and nothing of it reaches the trunk.
* **Critics.** ``y = r + γ (1 − terminated) V(s')`` with the value *after* its step;
  ``∂/∂Q_j`` of ``Σ_j mean_n (Q_j − y)²`` is ``2 (Q_j − y) / n``.
* **Targets.** One ``lerp_`` of the flat target-critic buffer.

Equal to :meth:`nacre.learners.IQL.learn_batch` up to float rounding
(tests/unit/test_accel_offline_parity.py).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from nacre.accel import twin
from nacre.accel.flat import Pairs, optimizer_pairs
from nacre.accel.mlp import (
    Layers,
    backward_into,
    forward_saving_inputs,
    grad_views,
    linear,
    mlp_forward,
    weight_grad_into,
)
from nacre.accel.twin import ActorCriticKernel, twin_backward, twin_forward
from nacre.data.batch import TransitionBatch
from nacre.learners.offline.iql import IQL
from nacre.losses.policy import gaussian_log_prob
from nacre.losses.td import td_target
from nacre.networks.continuous import SharedLogStd, SquashedGaussianActor
from nacre.networks.mlp import MLP
from nacre.types import Metrics


def value_covered(value: nn.Module) -> bool:
    """``nn.Sequential(flat encoder, ReLU MLP with one output)`` (what the ``iql`` config
    builds), every parameter trained."""
    if type(value) is not nn.Sequential or len(value) != 2:
        return False
    mlp = value[1]
    return (twin.flat_input(value[0]) and twin.relu_mlp(mlp) and isinstance(mlp, MLP)
            and mlp.out_dim == 1 and twin.trainable(value))


def covers(learner: object) -> bool:
    """IQL (exactly) over a flat-input squashed Gaussian actor with a ReLU MLP trunk, a twin
    critic of ReLU MLPs and a flat-input ReLU MLP value, every parameter trained."""
    if type(learner) is not IQL:
        return False
    assert isinstance(learner, IQL)
    actor = learner.actor
    return (type(actor) is SquashedGaussianActor and twin.trainable(actor)
            and twin.flat_input(actor.encoder)
            and twin.relu_mlp(actor.trunk) and actor.activation == "relu"
            and twin.twin_covered(learner.critic) and value_covered(learner.value))


class IQLKernel(ActorCriticKernel):
    """One IQL update with hand-derived gradients (see the module docstring)."""

    def __init__(self, learner: IQL) -> None:
        self.iql = learner
        learner.value_optimizer.flatten_()
        super().__init__(learner, learner.config.gamma, learner.actor_optimizer,
                         learner.critic_optimizer, learner.critic, learner.critic_target)

    def pairs(self) -> Pairs:
        return [*super().pairs(), *optimizer_pairs(self.iql.value_optimizer)]

    def build_actor_views(self) -> None:
        actor, optimizer = self.iql.actor, self.iql.actor_optimizer
        assert actor.trunk is not None
        self.trunk = actor.trunk.layers()
        self.trunk_grads = grad_views(optimizer.params, optimizer.grads, self.trunk)
        # the mean head, then the log-σ head or the shared log σ (a bias without a weight)
        self.heads: Layers = [(actor.mean.weight, actor.mean.bias)]
        if isinstance(actor.log_std, nn.Linear):
            self.heads.append((actor.log_std.weight, actor.log_std.bias))
        grads = grad_views(optimizer.params, optimizer.grads, self.heads)
        self.head_grads = [(grads[i], grads[i + 1]) for i in range(0, len(grads), 2)]
        self.shared_log_std: tuple[Tensor, Tensor] | None = None
        if isinstance(actor.log_std, SharedLogStd):
            bias = actor.log_std.bias
            (grad,) = grad_views(optimizer.params, optimizer.grads, [(bias,)])
            self.shared_log_std = (bias, grad)
        value = self.iql.value
        assert isinstance(value, nn.Sequential)
        mlp = value[1]
        assert isinstance(mlp, MLP)
        value_optimizer = self.iql.value_optimizer
        self.value = mlp.layers()
        self.value_grads = grad_views(value_optimizer.params, value_optimizer.grads, self.value)

    def _actor_step(self, obs: Tensor, taken: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
        """The AWR step; returns the ``(tanh μ, log σ)`` it differentiated."""
        cfg = self.iql.config
        lo, hi = self.iql.actor.LOG_STD_MIN, self.iql.actor.LOG_STD_MAX
        acts, h = [obs], obs
        for w, b in self.trunk:
            h = linear(h, w, b, relu=True)
            acts.append(h)
        (w_mu, b_mu) = self.heads[0]
        mean = torch.tanh(torch.addmm(b_mu, h, w_mu.t()))
        if self.shared_log_std is None:
            w_ls, b_ls = self.heads[1]
            raw_log_std = torch.addmm(b_ls, h, w_ls.t())
        else:
            raw_log_std = self.shared_log_std[0].expand_as(mean)
        clamped = raw_log_std.clamp(lo, hi)
        log_std = clamped.clamp(min=cfg.min_log_std)
        inv_std = torch.exp(-log_std)
        z = (taken - mean).mul_(inv_std)
        w = weight.unsqueeze(1)
        # × n: ∂/∂μ = −w z e^{−ℓ} (1 − m²); ∂/∂ℓ_raw = w (1 − z²) inside both clamps
        d_mean = (z * inv_std).mul_(w).mul_(mean * mean - 1.0)
        active = (raw_log_std >= lo) & (raw_log_std <= hi) & (clamped >= cfg.min_log_std)
        d_log_std = torch.addcmul(w, w, z * z, value=-1.0).mul_(active)
        gw_mu, gb_mu = self.head_grads[0]
        weight_grad_into(gw_mu, d_mean, h)
        torch.sum(d_mean, 0, out=gb_mu)
        if self.shared_log_std is None:
            gw_ls, gb_ls = self.head_grads[1]
            weight_grad_into(gw_ls, d_log_std, h)
            torch.sum(d_log_std, 0, out=gb_ls)
            d_h = torch.addmm(torch.mm(d_mean, w_mu), d_log_std, w_ls)
        else:  # one log σ for all rows: its gradient sums theirs, none reaches the trunk
            torch.sum(d_log_std, 0, out=self.shared_log_std[1])
            d_h = torch.mm(d_mean, w_mu)
        d_h = torch.ops.aten.threshold_backward(d_h, h, 0)
        backward_into(self.trunk, acts[:-1], d_h, self.trunk_grads)
        self.iql.actor_optimizer.step_flat(1.0 / obs.shape[0])
        return mean, log_std

    @torch.no_grad()
    def step(self, batch: TransitionBatch, want_metrics: bool) -> Metrics:
        lr, cfg = self.iql, self.iql.config
        obs, next_obs, taken, reward, terminated, discount = self.inputs(
            batch, self.critic_target_flat.dtype)
        rows = obs.shape[0]
        obs_action = torch.cat([obs, taken], dim=1)
        q_data = twin_forward(self.critic_target, obs_action)[0].amin(dim=0)
        # value: × n/2, ∂/∂V = |τ − 1(u < 0)| (V − q) with u = q − V
        v_out, v_acts = forward_saving_inputs(self.value, obs)
        value = v_out.squeeze(1)
        diff = q_data - value
        expectile = torch.where(diff < 0, 1.0 - cfg.expectile, cfg.expectile)
        backward_into(self.value, v_acts, (expectile * -diff).unsqueeze(1), self.value_grads)
        lr.value_optimizer.step_flat(2.0 / rows)
        # the value after its step, at s (the actor's advantages) and s' (the critics' targets)
        values = mlp_forward(self.value, torch.cat([obs, next_obs])).squeeze(1)
        stepped, next_value = values[:rows], values[rows:]
        # actor: advantage weights under the stepped value
        weight = torch.exp(cfg.beta * (q_data - stepped)).clamp_(max=cfg.max_weight)
        mean, log_std = self._actor_step(obs, taken, weight)
        # critics: y from the value after its step; × n/2, ∂/∂Q_j = Q_j − y
        target = td_target(reward, next_value, terminated, discount)
        q, acts = twin_forward(self.critic, obs_action)
        dq = q - target
        twin_backward(self.critic, acts, dq, self.critic_grads)
        lr.critic_optimizer.step_flat(2.0 / rows)
        critic_flat = lr.critic_optimizer.flat_param
        assert critic_flat is not None
        self.critic_target_flat.lerp_(critic_flat, cfg.tau)
        if not want_metrics:
            return {}
        log_prob = gaussian_log_prob(mean, log_std, taken)
        return {"critic_loss": dq.square().mean(dim=1).sum(),
                "value_loss": (expectile * diff.square()).mean(),
                "actor_loss": -(weight * log_prob).mean(), "v_mean": value.mean(),
                "weight_mean": weight.mean()}


__all__ = ["IQLKernel", "covers", "value_covered"]
