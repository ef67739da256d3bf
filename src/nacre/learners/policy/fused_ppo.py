"""Hand-derived gradients of the PPO loss for MLP actor–critics (tanh or ReLU hidden layers).

The PPO minibatch loss is ``L = −mean(min(ρA, clip(ρ)A)) + c_v · value_loss − c_e · mean(H)``
with ``ρ = exp(log π(a|s) − log π_old(a|s))``. Its gradient with respect to the network outputs
is a few element-wise expressions, and the backward pass through an MLP is two matrix products
per layer; writing them out (as :mod:`nacre.learners.value.fused` does for the TD loss) removes
autograd's graph bookkeeping, which dominates an update of PPO's small 64-64 networks on CPU.

* Policy term: ``∂L/∂log π = −A ρ g / n`` where ``g`` is 1 where the unclipped term is the
  minimum (ties included: there ``clip(ρ) = ρ`` or ``A = 0``) and 0 where the clipped term is
  (it is constant in the parameters there). Categorical: ``∂log π(a)/∂z = onehot(a) − softmax(z)``;
  Gaussian: ``∂log π/∂μ = (a − μ)/σ²`` and ``∂log π/∂log σ = ((a − μ)/σ)² − 1``.
* Entropy: categorical ``∂H/∂z = −p (log p + H)``; Gaussian ``∂H/∂log σ = 1`` per dimension.
* Value: ``∂/∂v`` of the squared error, through PPO2's clipping where configured (the larger
  error takes the gradient; exact ties split it, as autograd's ``max`` does).

The result equals autograd's up to float rounding (tests/unit/test_fused_ppo.py).
"""

from __future__ import annotations

import torch
from torch import Tensor

from nacre.learners.optim import Adam
from nacre.learners.value.fused import backward_into, forward_saving_inputs, mlp_layers
from nacre.networks.actor_critic import ActorCritic
from nacre.networks.encoders import FlattenEncoder
from nacre.networks.mlp import MLP, tanh


def fusable_actor_critic(net: ActorCritic) -> bool:
    """True for a flat-input actor–critic whose MLPs use tanh or ReLU."""
    return (
        isinstance(net.encoder, FlattenEncoder)
        and net.encoder.passthrough
        and all(isinstance(m, MLP) and m._act_fn in (tanh, torch.relu)
                for m in (net.actor, net.critic))
    )


class FusedPPOStep:
    """One PPO minibatch step with gradients written out by hand into a flat :class:`Adam`."""

    def __init__(self, net: ActorCritic, optimizer: Adam, *, clip_value: float | None,
                 entropy_coef: float, value_coef: float) -> None:
        if optimizer.flat_grad is None:
            raise ValueError("FusedPPOStep needs an Adam built with flat=True")
        self.net = net
        self.optimizer = optimizer
        self.clip_value = clip_value
        self.entropy_coef = entropy_coef
        self.value_coef = value_coef
        self.actor_tanh = net.actor._act_fn is tanh
        self.critic_tanh = net.critic._act_fn is tanh
        views = {id(p): g for p, g in zip(optimizer.params, optimizer.grads, strict=True)}
        self._actor = mlp_layers(net.actor)
        self._critic = mlp_layers(net.critic)
        self._actor_grads = [views[id(p)] for layer in self._actor for p in layer]
        self._critic_grads = [views[id(p)] for layer in self._critic for p in layer]
        self._log_std_grad = views.get(id(net.log_std))

    @torch.no_grad()
    def __call__(self, obs: Tensor, action: Tensor, old_log_prob: Tensor, advantage: Tensor,
                 returns: Tensor, old_value: Tensor | None, clip: float,
                 kl_limit: float | None = None, metrics: bool = True
                 ) -> tuple[dict[str, Tensor], bool]:
        """One step on a minibatch (advantages already normalized). Returns ``(metrics, stepped)``:
        no step is taken when the approximate KL exceeds ``kl_limit`` (SB3's early stop)."""
        n = obs.shape[0]
        out, actor_acts = forward_saving_inputs(self._actor, obs, self.actor_tanh)
        v_out, critic_acts = forward_saving_inputs(self._critic, obs, self.critic_tanh)
        value = v_out.squeeze(1)
        continuous = self.net.continuous
        if continuous:
            log_std = self.net.log_std
            inv_std = torch.exp(-log_std)
            z = (action - out) * inv_std
            log_prob = (-0.5 * z * z - log_std).sum(1) - 0.5 * out.shape[1] * _LOG_2PI
            entropy = (log_std.sum() + 0.5 * out.shape[1] * (1.0 + _LOG_2PI)).expand(n)
        else:
            log_p = torch.log_softmax(out, dim=1)
            p = log_p.exp()
            log_prob = log_p.gather(1, action.long().unsqueeze(1)).squeeze(1)
            entropy = -(p * log_p).sum(1)
        log_ratio = log_prob - old_log_prob
        ratio = log_ratio.exp()
        approx_kl: Tensor | None = None
        if kl_limit is not None or metrics:
            approx_kl = ((ratio - 1.0) - log_ratio).mean()
            if kl_limit is not None and float(approx_kl) > kl_limit:
                return {"approx_kl": approx_kl}, False
        unclipped = ratio * advantage
        clipped = ratio.clamp(1.0 - clip, 1.0 + clip) * advantage
        # n · ∂L/∂log π (the 1/n of every mean is applied by the optimizer)
        d_log_prob = torch.where(unclipped <= clipped, -unclipped, 0.0)
        # -- policy output gradient
        if continuous:
            d_out = (d_log_prob.unsqueeze(1) * z * inv_std)
            grad_ls = self._log_std_grad
            if grad_ls is not None:
                torch.sum(d_log_prob.unsqueeze(1) * (z * z - 1.0), 0, out=grad_ls)
                grad_ls.sub_(self.entropy_coef * n)
        else:
            d_out = -d_log_prob.unsqueeze(1) * p
            d_out.scatter_add_(1, action.long().unsqueeze(1), d_log_prob.unsqueeze(1))
            if self.entropy_coef:
                d_out.addcmul_(p, log_p + entropy.unsqueeze(1), value=self.entropy_coef)
        # -- value output gradient
        error = value - returns
        if self.clip_value is None or old_value is None:
            d_value = error * (2.0 * self.value_coef)
            e1 = e2 = error * error if metrics else error
        else:
            moved = value - old_value
            inside = (moved.abs() <= self.clip_value).to(obs.dtype)
            error_c = old_value + moved.clamp(-self.clip_value, self.clip_value) - returns
            e1, e2 = error * error, error_c * error_c
            w1 = torch.where(e1 > e2, 1.0, torch.where(e1 < e2, 0.0, 0.5))
            d_value = (w1 * error + (1.0 - w1) * inside * error_c) * (2.0 * self.value_coef)
        backward_into(self._actor, actor_acts, d_out, self._actor_grads, self.actor_tanh)
        backward_into(self._critic, critic_acts, d_value.unsqueeze(1), self._critic_grads,
                  self.critic_tanh)
        self.optimizer.step_flat(1.0 / n)
        if not metrics:
            return {} if approx_kl is None else {"approx_kl": approx_kl}, True
        assert approx_kl is not None
        v_loss = torch.max(e1, e2).mean()
        policy_loss = -torch.min(unclipped, clipped).mean()
        entropy_mean = entropy.mean()
        return {
            "loss": policy_loss + self.value_coef * v_loss - self.entropy_coef * entropy_mean,
            "policy_loss": policy_loss, "value_loss": v_loss, "entropy": entropy_mean,
            "approx_kl": approx_kl,
            "clip_fraction": ((ratio - 1.0).abs() > clip).to(obs.dtype).mean(),
        }, True


_LOG_2PI = 1.8378770664093453

__all__ = ["FusedPPOStep", "fusable_actor_critic"]
