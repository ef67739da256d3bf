"""The PPO kernel: hand-derived gradients of the PPO minibatch loss for MLP actor–critics.

The PPO minibatch loss is ``L = −mean(min(ρA, clip(ρ)A)) + c_v · value_loss − c_e · mean(H)``
with ``ρ = exp(log π(a|s) − log π_old(a|s))``. Its gradient with respect to the network outputs
is a few element-wise expressions, and the backward pass through an MLP is two matrix products
per layer (:mod:`nacre.accel.mlp`); writing them out removes autograd's graph bookkeeping, which
dominates an update of PPO's small 64-64 networks on CPU.

* Policy term: ``∂L/∂log π = −A ρ g / n`` where ``g`` is 1 where the unclipped term is the
  minimum (ties included: there ``clip(ρ) = ρ`` or ``A = 0``) and 0 where the clipped term is
  (it is constant in the parameters there). Categorical: ``∂log π(a)/∂z = onehot(a) − softmax(z)``;
  Gaussian: ``∂log π/∂μ = (a − μ)/σ²`` and ``∂log π/∂log σ = ((a − μ)/σ)² − 1``.
* Entropy: categorical ``∂H/∂z = −p (log p + H)``; Gaussian ``∂H/∂log σ = 1`` per dimension.
* Value: ``∂/∂v`` of the squared error, through PPO2's clipping where configured (the larger
  error takes the gradient; exact ties split it, as autograd's ``max`` does).

The rollout processing and the epoch loop are the learner's own
(:meth:`~nacre.learners.PPO.learn_rollout`, given this step). Equal to the readable update up to
float rounding (tests/unit/test_accel_parity.py).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from nacre.accel.flat import FlatKernel, Pairs, optimizer_pairs
from nacre.accel.mlp import backward_into, forward_saving_inputs, grad_views
from nacre.data.rollout import Rollout
from nacre.learners.policy.ppo import PPO, Minibatch
from nacre.networks.actor_critic import ActorCritic
from nacre.networks.encoders import FlattenEncoder
from nacre.networks.mlp import MLP
from nacre.types import Metrics

_LOG_2PI = math.log(2.0 * math.pi)


def covers(learner: object) -> bool:
    """PPO (exactly) over a flat-input actor–critic (categorical or Gaussian, not factored)
    whose MLPs use tanh or ReLU."""
    if type(learner) is not PPO:
        return False
    assert isinstance(learner, PPO)
    if learner.cost is not None:  # reward-constrained: the readable update alone
        return False
    net = learner.net
    return (type(net) is ActorCritic and type(net.encoder) is FlattenEncoder
            and net.encoder.passthrough and net.factors is None
            and all(type(m) is MLP and m.activation in ("tanh", "relu")
                    for m in (net.actor, net.critic))
            and all(p.requires_grad for p in (*net.actor.parameters(),
                                              *net.critic.parameters())))


class PPOKernel(FlatKernel):
    """PPO minibatch steps with gradients written out by hand into the flat optimizer."""

    def __init__(self, learner: PPO) -> None:
        self.ppo = learner
        learner.optimizer.flatten_()
        assert isinstance(learner.net.actor, MLP)  # what covers() admits
        self.actor_tanh = learner.net.actor.activation == "tanh"
        self.critic_tanh = learner.net.critic.activation == "tanh"
        super().__init__(learner)
        self.build_views()

    def pairs(self) -> Pairs:
        return optimizer_pairs(self.ppo.optimizer)

    def build_views(self) -> None:
        net, optimizer = self.ppo.net, self.ppo.optimizer
        assert isinstance(net.actor, MLP)
        self.actor, self.critic = net.actor.layers(), net.critic.layers()
        self.actor_grads = grad_views(optimizer.params, optimizer.grads, self.actor)
        self.critic_grads = grad_views(optimizer.params, optimizer.grads, self.critic)
        views = {id(p): g for p, g in zip(optimizer.params, optimizer.grads, strict=True)}
        self.log_std_grad = views.get(id(net.log_std))  # trained for Gaussian actors only

    def learn_rollout(self, rollout: Rollout, batch_size: int, progress: float) -> Metrics:
        return self.ppo.learn_rollout(rollout, batch_size, progress, step=self.step)

    def step(self, mb: Minibatch, kl_limit: float | None, want_metrics: bool) -> Metrics | None:
        """One step (see :data:`nacre.learners.policy.ppo.MinibatchStep`)."""
        if mb.obs.dtype != torch.float32 or mb.mask is not None:
            # integer observations, or dynamic action sets: the readable update
            return self.ppo.learn_minibatch(mb, kl_limit, want_metrics)
        return self._step(mb, kl_limit, want_metrics)

    @torch.no_grad()
    def _step(self, mb: Minibatch, kl_limit: float | None, want_metrics: bool) -> Metrics | None:
        self.refresh()
        cfg, clip, n = self.ppo.config, self.ppo.clip, mb.obs.shape[0]
        out, actor_acts = forward_saving_inputs(self.actor, mb.obs, self.actor_tanh)
        v_out, critic_acts = forward_saving_inputs(self.critic, mb.obs, self.critic_tanh)
        value = v_out.squeeze(1)
        continuous = self.ppo.net.continuous
        if continuous:
            log_std = self.ppo.net.log_std
            inv_std = torch.exp(-log_std)
            z = (mb.action - out) * inv_std
            log_prob = (-0.5 * z * z - log_std).sum(1) - 0.5 * out.shape[1] * _LOG_2PI
            entropy = (log_std.sum() + 0.5 * out.shape[1] * (1.0 + _LOG_2PI)).expand(n)
        else:
            log_p = torch.log_softmax(out, dim=1)
            p = log_p.exp()
            log_prob = log_p.gather(1, mb.action.long().unsqueeze(1)).squeeze(1)
            entropy = -(p * log_p).sum(1)
        log_ratio = log_prob - mb.old_log_prob
        ratio = log_ratio.exp()
        approx_kl = None
        if kl_limit is not None or want_metrics:  # a few kernels: only when needed
            approx_kl = ((ratio - 1.0) - log_ratio).mean()
            if kl_limit is not None and float(approx_kl) > kl_limit:
                return None
        unclipped = ratio * mb.advantage
        clipped = ratio.clamp(1.0 - clip, 1.0 + clip) * mb.advantage
        # n · ∂L/∂log π (the 1/n of every mean is applied by the optimizer)
        d_log_prob = torch.where(unclipped <= clipped, -unclipped, 0.0)
        if continuous:
            d_out = d_log_prob.unsqueeze(1) * z * inv_std
            if self.log_std_grad is not None:
                torch.sum(d_log_prob.unsqueeze(1) * (z * z - 1.0), 0, out=self.log_std_grad)
                self.log_std_grad.sub_(cfg.entropy_coef * n)
        else:
            d_out = -d_log_prob.unsqueeze(1) * p
            d_out.scatter_add_(1, mb.action.long().unsqueeze(1), d_log_prob.unsqueeze(1))
            if cfg.entropy_coef:
                d_out.addcmul_(p, log_p + entropy.unsqueeze(1), value=cfg.entropy_coef)
        d_value, errors = self._value_grad(value, mb)
        backward_into(self.actor, actor_acts, d_out, self.actor_grads, self.actor_tanh)
        backward_into(self.critic, critic_acts, d_value.unsqueeze(1), self.critic_grads,
                      self.critic_tanh)
        self.ppo.optimizer.step_flat(1.0 / n)
        if not want_metrics or approx_kl is None:
            return {} if approx_kl is None else {"approx_kl": approx_kl}
        v_loss = errors.mean()
        policy_loss = -torch.min(unclipped, clipped).mean()
        entropy_mean = entropy.mean()
        return {
            "loss": policy_loss + cfg.value_coef * v_loss - cfg.entropy_coef * entropy_mean,
            "policy_loss": policy_loss, "value_loss": v_loss, "entropy": entropy_mean,
            "approx_kl": approx_kl,
            "clip_fraction": ((ratio - 1.0).abs() > clip).to(mb.obs.dtype).mean(),
        }

    def _value_grad(self, value: Tensor, mb: Minibatch) -> tuple[Tensor, Tensor]:
        """``n · ∂(c_v · value loss)/∂v`` and the per-row errors whose mean is the value loss
        (PPO2's clipping where set)."""
        cfg = self.ppo.config
        error = value - mb.returns
        if cfg.clip_value is None or mb.old_value is None:
            return error * (2.0 * cfg.value_coef), error * error
        moved = value - mb.old_value
        inside = (moved.abs() <= cfg.clip_value).to(value.dtype)
        error_c = mb.old_value + moved.clamp(-cfg.clip_value, cfg.clip_value) - mb.returns
        e1, e2 = error * error, error_c * error_c
        w1 = torch.where(e1 > e2, 1.0, torch.where(e1 < e2, 0.0, 0.5))
        d_value = (w1 * error + (1.0 - w1) * inside * error_c) * (2.0 * cfg.value_coef)
        return d_value, torch.max(e1, e2)


__all__ = ["PPOKernel", "covers"]
