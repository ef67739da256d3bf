"""The TD3 kernel: hand-derived gradients of TD3's update for ReLU MLP actors and twin critics.

An update on CPU is dominated by a dozen matrix products (TD3's 400-300 networks: ≈ 11.5
products of 256 × 400 × 300 per update); autograd adds graph bookkeeping, per-op dispatch,
critic weight gradients the actor step throws away, and one kernel per parameter in the
optimizer and the Polyak update. Written out by hand (see :mod:`nacre.accel.twin` for the
stacked critics):

* **Critic loss.** ``∂/∂Q_j`` of ``Σ_j mean_n (Q_j − y)²`` is ``2 (Q_j − y) / n``; the constant
  goes into the optimizer's gradient scale.
* **Actor step.** Only the gradient with respect to the critic's *action input* is needed:
  ``g_a = (g_1 W_1)[:, obs_dim:]`` after the hidden layers' backward, no critic weight gradients;
  ``a = tanh(z)``, ``∂L/∂z = g_a (1 − a²)`` with ``∂L/∂Q_1 = −1/n``.
* **Targets.** One ``lerp_`` per target network.

Equal to :meth:`nacre.learners.TD3.learn_batch` up to float rounding, the same random draws
included (tests/unit/test_accel_parity.py).
"""

from __future__ import annotations

import torch

from nacre.accel import twin
from nacre.accel.mlp import backward_into, forward_saving_inputs, grad_views, mlp_forward
from nacre.accel.twin import ActorCriticKernel, twin_backward, twin_forward
from nacre.data.batch import TransitionBatch
from nacre.learners.policy.td3 import TD3
from nacre.losses.actor_critic import smoothed_target_action
from nacre.losses.td import td_target
from nacre.networks.continuous import DeterministicActor
from nacre.types import Metrics


def covers(learner: object) -> bool:
    """TD3 (exactly: DDPG has its own update) over a flat-input ReLU MLP actor and twin
    critic, every parameter trained."""
    if type(learner) is not TD3:
        return False
    assert isinstance(learner, TD3)
    if learner.cost is not None:  # reward-constrained: the readable update alone
        return False
    actor = learner.actor
    return (type(actor) is DeterministicActor and twin.trainable(actor)
            and twin.flat_input(actor.encoder)
            and twin.relu_mlp(actor.mlp) and twin.twin_covered(learner.critic))


class TD3Kernel(ActorCriticKernel):
    """One TD3 update with hand-derived gradients (see the module docstring)."""

    def __init__(self, learner: TD3) -> None:
        self.td3 = learner
        super().__init__(learner, learner.config.gamma, learner.actor_optimizer,
                         learner.critic_optimizer, learner.critic, learner.critic_target,
                         actor_target=learner.actor_target)

    def build_actor_views(self) -> None:
        lr = self.td3
        self.actor = lr.actor.mlp.layers()
        self.actor_grads = grad_views(lr.actor_optimizer.params, lr.actor_optimizer.grads,
                                      self.actor)
        self.actor_target = lr.actor_target.mlp.layers()
        self.q1 = [(w[:1], b[:1]) for w, b in self.critic]

    @torch.no_grad()
    def step(self, batch: TransitionBatch, want_metrics: bool) -> Metrics:
        lr, cfg = self.td3, self.td3.config
        obs, next_obs, taken, reward, terminated, discount = self.inputs(
            batch, self.critic_target_flat.dtype)
        rows = obs.shape[0]
        # target: r + γ (1 − terminated) min_j Q'_j(s', clip(μ'(s') + clip(ε)))
        next_action = torch.tanh(mlp_forward(self.actor_target, next_obs))
        noise = torch.randn(next_action.shape, generator=lr.generator, device=obs.device)
        smoothed = smoothed_target_action(next_action, noise, cfg.target_noise,
                                          cfg.target_noise_clip)
        next_q = twin_forward(self.critic_target, torch.cat([next_obs, smoothed], dim=1))[0]
        target = td_target(reward, next_q.amin(dim=0), terminated, discount)
        # critics: ∂/∂Q_j of Σ_j mean (Q_j − y)² = 2 (Q_j − y) / n
        q, acts = twin_forward(self.critic, torch.cat([obs, taken], dim=1))
        dq = q - target
        twin_backward(self.critic, acts, dq, self.critic_grads)
        lr.critic_optimizer.step_flat(2.0 / rows)
        lr.updates += 1
        out: Metrics = ({"critic_loss": dq.square().mean(dim=1).sum(), "q_mean": q[0].mean()}
                        if want_metrics else {})
        if lr.updates % cfg.policy_delay == 0:
            z, actor_acts = forward_saving_inputs(self.actor, obs)
            action = torch.tanh(z)
            q1, q1_acts = twin_forward(self.q1, torch.cat([obs, action], dim=1))
            g_a = twin_backward(self.q1, q1_acts, torch.full_like(q1, -1.0),
                                input_from=obs.shape[1])
            assert g_a is not None
            backward_into(self.actor, actor_acts, g_a.mul_(1.0 - action * action),
                          self.actor_grads)
            lr.actor_optimizer.step_flat(1.0 / rows)
            a_flat, c_flat = lr.actor_optimizer.flat_param, lr.critic_optimizer.flat_param
            assert a_flat is not None and c_flat is not None
            assert self.actor_target_flat is not None
            self.actor_target_flat.lerp_(a_flat, cfg.tau)
            self.critic_target_flat.lerp_(c_flat, cfg.tau)
            if want_metrics:
                out["actor_loss"] = -q1.mean()
        return out


__all__ = ["TD3Kernel", "covers"]
