"""The SAC kernel: hand-derived gradients of SAC's update for ReLU MLP actors and twin critics.

As :mod:`nacre.accel.td3` for the critics (``∂/∂Q_j`` of ``½ Σ_j mean (Q_j − y)²`` is
``(Q_j − y) / n``). The actor loss is ``L = mean(α log π(a|s) − min_j Q_j(s, a))`` with
``a = tanh(u)``, ``u = μ + σ ε``: the minimum routes ``−1/n`` to the critic that attains it,
``∂ log π/∂u = 2 tanh(u)`` (the derivative of the tanh correction; the Gaussian term does not
depend on ``u`` once ``ε`` is fixed), so ``∂L/∂μ = ∂L/∂u = g_a (1 − a²) + 2α a / n`` and
``∂L/∂log σ = ∂L/∂u · σ ε − α / n`` inside the clamp range of ``log σ`` (0 outside it). The
temperature's gradient is ``−mean(log π(a|s) + H̄)``.

Equal to :meth:`nacre.learners.SAC.learn_batch` up to float rounding, the same random draws
included (tests/unit/test_accel_parity.py).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from nacre.accel import twin
from nacre.accel.mlp import Layers, backward_into, grad_views, linear, weight_grad_into
from nacre.accel.twin import ActorCriticKernel, twin_backward, twin_forward
from nacre.data.batch import TransitionBatch
from nacre.learners.policy.sac import SAC
from nacre.losses.policy import squashed_gaussian_log_prob
from nacre.losses.td import td_target
from nacre.networks.continuous import SquashedGaussianActor
from nacre.types import Metrics


def covers(learner: object) -> bool:
    """SAC (exactly) over a flat-input squashed Gaussian actor with a ReLU MLP trunk and a
    twin critic of ReLU MLPs, every parameter trained."""
    if type(learner) is not SAC:
        return False
    assert isinstance(learner, SAC)
    return networks_covered(learner)


def networks_covered(learner: SAC) -> bool:
    """The networks the SAC kernel computes (shared with the kernels of SAC's subclasses)."""
    if learner.cost is not None:  # reward-constrained: the readable update alone
        return False
    actor = learner.actor
    return (type(actor) is SquashedGaussianActor and type(actor.log_std) is nn.Linear
            and twin.trainable(actor) and twin.flat_input(actor.encoder)
            and twin.relu_mlp(actor.trunk) and actor.activation == "relu"
            and twin.twin_covered(learner.critic))


class SACKernel(ActorCriticKernel):
    """One SAC update with hand-derived gradients (see the module docstring)."""

    def __init__(self, learner: SAC) -> None:
        self.sac = learner
        super().__init__(learner, learner.config.gamma, learner.actor_optimizer,
                         learner.critic_optimizer, learner.critic, learner.critic_target)

    def build_actor_views(self) -> None:
        actor, optimizer = self.sac.actor, self.sac.actor_optimizer
        assert actor.trunk is not None and isinstance(actor.log_std, nn.Linear)
        self.trunk = actor.trunk.layers()
        self.heads: Layers = [(actor.mean.weight, actor.mean.bias),
                              (actor.log_std.weight, actor.log_std.bias)]
        self.trunk_grads = grad_views(optimizer.params, optimizer.grads, self.trunk)
        w_mu, b_mu, w_ls, b_ls = grad_views(optimizer.params, optimizer.grads, self.heads)
        self.head_grads = [(w_mu, b_mu), (w_ls, b_ls)]

    def _sample(self, obs: Tensor, repeats: int = 1
                ) -> tuple[Tensor, Tensor, Tensor, Tensor, list[Tensor]]:
        """A reparameterized sample as :meth:`SquashedGaussianActor.sample` draws it (same
        generator calls): ``(a, log π(a|s), σ ε, mask of log σ inside its clamp range,
        inputs of the trunk layers + the heads' input)``. With ``repeats``, ``repeats`` samples
        per row of ``obs`` (as the actor sampling ``obs.repeat_interleave(repeats)``), the
        network evaluated once per row."""
        lo, hi = self.sac.actor.LOG_STD_MIN, self.sac.actor.LOG_STD_MAX
        acts, h = [obs], obs
        for weight, bias in self.trunk:
            h = linear(h, weight, bias, relu=True)
            acts.append(h)
        (w_mu, b_mu), (w_ls, b_ls) = self.heads
        mean = torch.addmm(b_mu, h, w_mu.t())
        raw_log_std = torch.addmm(b_ls, h, w_ls.t())
        if repeats > 1:
            mean = mean.repeat_interleave(repeats, dim=0)
            raw_log_std = raw_log_std.repeat_interleave(repeats, dim=0)
        log_std = raw_log_std.clamp(lo, hi)
        noise = torch.randn(mean.shape, generator=self.sac.generator, device=mean.device)
        std_noise = log_std.exp().mul_(noise)
        u = mean + std_noise
        log_prob = squashed_gaussian_log_prob(mean, log_std, u)
        in_range = (raw_log_std >= lo) & (raw_log_std <= hi)
        return torch.tanh(u), log_prob, std_noise, in_range, acts

    def temperature(self, log_prob: Tensor, out: Metrics, want_metrics: bool) -> Tensor:
        """``α`` as it was, after one step of it toward the target entropy (when learned)."""
        lr = self.sac
        alpha = lr.log_alpha.detach().exp()
        if lr.alpha_optimizer is not None:
            gap = log_prob + lr.target_entropy
            if want_metrics:
                out["alpha_loss"] = -(lr.log_alpha.detach() * gap).mean()
            lr.alpha_optimizer.step_with_grads([-gap.mean()])
        return alpha

    def soft_target(self, next_obs: Tensor, reward: Tensor, terminated: Tensor,
                    discount: float | Tensor, alpha: Tensor) -> Tensor:
        """``r + γ (1 − terminated) (min_j Q'_j(s', a') − α log π(a'|s'))``, ``a' ~ π(·|s')``."""
        next_action, next_log_prob = self._sample(next_obs)[:2]
        next_q = twin_forward(self.critic_target, torch.cat([next_obs, next_action], dim=1))[0]
        return td_target(reward, next_log_prob.mul_(-alpha).add_(next_q.amin(dim=0)),
                         terminated, discount)

    def actor_step(self, obs: Tensor, sample: tuple[Tensor, Tensor, Tensor, Tensor,
                                                    list[Tensor]], alpha: Tensor) -> Tensor:
        """One actor step against the (updated) critics from ``sample`` (:meth:`_sample` at
        ``obs``); gradients × n (the 1/n is the optimizer's scale). Returns ``min_j Q_j``."""
        action, _, std_noise, in_range, actor_acts = sample
        q_pi, pi_acts = twin_forward(self.critic, torch.cat([obs, action], dim=1))
        q_min, which = q_pi.min(dim=0)
        d_q = torch.zeros_like(q_pi).scatter_(0, which.unsqueeze(0), -1.0)
        g_a = twin_backward(self.critic, pi_acts, d_q, input_from=obs.shape[1])
        assert g_a is not None
        d_u = g_a.mul_(1.0 - action * action).add_(action * (2.0 * alpha))
        d_log_std = (d_u * std_noise).sub_(alpha).mul_(in_range)
        h = actor_acts[-1]
        (gw_mu, gb_mu), (gw_ls, gb_ls) = self.head_grads
        weight_grad_into(gw_mu, d_u, h)
        torch.sum(d_u, 0, out=gb_mu)
        weight_grad_into(gw_ls, d_log_std, h)
        torch.sum(d_log_std, 0, out=gb_ls)
        (w_mu, _), (w_ls, _) = self.heads
        d_h = torch.addmm(torch.mm(d_u, w_mu), d_log_std, w_ls)
        d_h = torch.ops.aten.threshold_backward(d_h, h, 0)
        backward_into(self.trunk, actor_acts[:-1], d_h, self.trunk_grads)
        self.sac.actor_optimizer.step_flat(1.0 / obs.shape[0])
        return q_min

    def update_targets(self) -> None:
        critic_flat = self.sac.critic_optimizer.flat_param
        assert critic_flat is not None
        self.critic_target_flat.lerp_(critic_flat, self.sac.config.tau)

    @torch.no_grad()
    def step(self, batch: TransitionBatch, want_metrics: bool) -> Metrics:
        lr = self.sac
        obs, next_obs, taken, reward, terminated, discount = self.inputs(
            batch, self.critic_target_flat.dtype)
        sample = self._sample(obs)
        log_prob = sample[1]
        out: Metrics = {}
        alpha = self.temperature(log_prob, out, want_metrics)
        target = self.soft_target(next_obs, reward, terminated, discount, alpha)
        # critics: ∂/∂Q_j of ½ Σ_j mean (Q_j − y)² = (Q_j − y) / n
        q, acts = twin_forward(self.critic, torch.cat([obs, taken], dim=1))
        dq = q - target
        twin_backward(self.critic, acts, dq, self.critic_grads)
        lr.critic_optimizer.step_flat(1.0 / obs.shape[0])
        q_min = self.actor_step(obs, sample, alpha)
        self.update_targets()
        if want_metrics:
            out.update({"critic_loss": 0.5 * dq.square().mean(dim=1).sum(),
                        "actor_loss": (alpha * log_prob - q_min).mean(),
                        "alpha": alpha, "entropy": -log_prob.mean()})
        return out


__all__ = ["SACKernel", "covers", "networks_covered"]
