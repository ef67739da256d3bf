"""The CQL kernel: hand-derived gradients of continuous CQL's update (a fixed conservative weight)
for ReLU MLP actors and twin critics.

CQL is SAC whose critics also minimize ``w Σ_j mean_n (LSE_j(s_n) − Q_j(s_n, a_n))``, with
``LSE_j(s) = log Σ_k exp(Q_j(s, a_k) − log p(a_k))`` over ``3m`` sampled actions ``a_k`` (``m``
uniform, ``m`` of the policy at ``s``, ``m`` of the policy at ``s'``, all scored at ``s``) and
their detached log-densities (:meth:`nacre.learners.CQL.logsumexp_q`). With the critic loss
``Σ_j mean_n (Q_j − y)²`` and every gradient written ``× n`` (the ``1/n`` is the optimizer's
scale):

* ``∂/∂Q_j(s_n, a_n) = 2 (Q_j − y) − w`` for the batch's own actions;
* ``∂/∂Q_j(s_n, a_k) = w softmax_k(Q_j(s_n, ·) − log p)`` for the sampled ones, the gradient of
  the log-sum-exp.

Both sets of rows go through each critic in one pass, ``n (1 + 3m)`` rows (7,936 for n = 256,
m = 10), forward and back: nearly all of CQL's arithmetic, which is why this kernel routes the
products through oneDNN (:mod:`nacre.accel.mlp`). Temperature, target and actor steps are the
SAC kernel's, in the readable update's order, the same random draws included.

Equal to :meth:`nacre.learners.CQL.learn_batch` up to float rounding
(tests/unit/test_accel_offline_parity.py). The Lagrange variant (``lagrange_threshold``) runs the
readable update.
"""

from __future__ import annotations

import torch
from torch import Tensor

from nacre.accel.sac import SACKernel, networks_covered
from nacre.accel.twin import twin_backward, twin_forward
from nacre.data.batch import TransitionBatch
from nacre.learners.offline.cql import CQL
from nacre.losses.offline import uniform_log_density
from nacre.types import Metrics


def covers(learner: object) -> bool:
    """CQL (exactly) with a fixed conservative weight, over the networks SAC's kernel covers."""
    if type(learner) is not CQL:
        return False
    assert isinstance(learner, CQL)
    return learner.config.lagrange_threshold is None and networks_covered(learner)


class CQLKernel(SACKernel):
    """One CQL update with hand-derived gradients (see the module docstring)."""

    def __init__(self, learner: CQL) -> None:
        self.cql = learner
        super().__init__(learner)

    def conservative_rows(self, obs: Tensor, next_obs: Tensor) -> tuple[Tensor, Tensor]:
        """The critics' inputs ``[3 n m, obs + action]`` of the sampled actions, each scored at
        its ``s``, and their log-densities ``[3 n m]``, drawn as the readable update draws
        them (uniform, then π at ``s``, then π at ``s'``)."""
        m = self.cql.config.n_action_samples
        obs_rep = obs.repeat_interleave(m, dim=0)
        dim = self.cql.actor.action_dim
        uniform = torch.rand(obs_rep.shape[0], dim, generator=self.cql.generator,
                             device=obs.device).to(obs.dtype) * 2 - 1
        # m samples per state, the actor evaluated once per state (the readable update runs
        # it on the repeated rows: the same values)
        now, log_now = self._sample(obs, repeats=m)[:2]
        later, log_later = self._sample(next_obs, repeats=m)[:2]
        rows = torch.cat([obs_rep.repeat(3, 1), torch.cat([uniform, now, later])], dim=1)
        log_density = torch.cat([torch.full_like(log_now, uniform_log_density(dim)), log_now,
                                 log_later])
        return rows, log_density

    @torch.no_grad()
    def step(self, batch: TransitionBatch, want_metrics: bool) -> Metrics:
        lr, cfg = self.cql, self.cql.config
        obs, next_obs, taken, reward, terminated, discount = self.inputs(
            batch, self.critic_target_flat.dtype)
        n, m, w = obs.shape[0], cfg.n_action_samples, cfg.conservative_weight
        sample = self._sample(obs)
        log_prob = sample[1]
        out: Metrics = {}
        alpha = self.temperature(log_prob, out, want_metrics)
        target = self.soft_target(next_obs, reward, terminated, discount, alpha)
        sampled, log_density = self.conservative_rows(obs, next_obs)
        q_all, acts = twin_forward(self.critic, torch.cat([torch.cat([obs, taken], 1), sampled]))
        q, c = q_all[:, :n], q_all.shape[0]
        # per critic and state, the 3m sampled values: [C, 3, n, m] → [C, n, 3m]
        logits = (q_all[:, n:].view(c, 3, n, m) - log_density.view(3, n, m)).permute(0, 2, 1, 3)
        logits = logits.reshape(c, n, 3 * m)
        d_sampled = torch.softmax(logits, dim=-1).mul_(w)  # ∂(w LSE)/∂Q, × n
        d_sampled = d_sampled.view(c, n, 3, m).permute(0, 2, 1, 3).reshape(c, 3 * n * m)
        dq = (q - target).mul_(2.0).sub_(w)
        twin_backward(self.critic, acts, torch.cat([dq, d_sampled], dim=1), self.critic_grads)
        lr.critic_optimizer.step_flat(1.0 / n)
        q_min = self.actor_step(obs, sample, alpha)
        self.update_targets()
        if want_metrics:
            gap = (torch.logsumexp(logits, dim=-1) - q).mean(dim=-1)
            out.update({"critic_loss": (q - target).square().mean(dim=1).sum(),
                        "cql_gap": gap.mean(), "actor_loss": (alpha * log_prob - q_min).mean(),
                        "alpha": alpha})
        return out


__all__ = ["CQLKernel", "covers"]
