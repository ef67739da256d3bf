"""Proximal policy optimization (Schulman et al. 2017) for discrete and continuous actions.

One training round: the critic values the rollout, GAE(λ) turns rewards into advantages and
λ-returns (:func:`nacre.losses.gae`; truncated episodes bootstrap from the value of their true
final observation), then ``epochs`` passes of shuffled minibatches minimize the clipped surrogate
plus the value loss minus the entropy bonus. Learning rate and clip range can decay linearly
over the run (RL-Zoo's ``lin_`` schedules).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.data.rollout import Rollout
from nacre.errors import check_positive, check_unit_interval
from nacre.learners.optim import Adam
from nacre.learners.policy.fused_ppo import FusedPPOStep, fusable_actor_critic
from nacre.losses.policy import ppo_clip_loss, value_loss
from nacre.losses.returns import gae
from nacre.networks.actor_critic import ActorCritic
from nacre.types import Metrics

Schedule = Literal["constant", "linear"]


@dataclass(frozen=True)
class PPOConfig:
    """Hyper-parameters of PPO (defaults: Stable-Baselines3's).

    Attributes:
        lr: Adam learning rate (at the start, with ``lr_schedule: linear``).
        gamma: discount factor.
        gae_lambda: GAE λ.
        clip: clip range ε of the probability ratio.
        clip_value: clip range of the value update (None: no value clipping).
        entropy_coef: weight of the entropy bonus.
        value_coef: weight of the value loss.
        max_grad_norm: gradient-norm clip (None: no clipping).
        epochs: passes over each rollout.
        normalize_advantage: standardize advantages within each minibatch.
        target_kl: stop a round's epochs early once the approximate KL to the collecting policy
            exceeds ``1.5 × target_kl`` (None: never).
        lr_schedule / clip_schedule: ``constant``, or ``linear`` decay to 0 over the run.
        adam_eps: Adam ε.
        fused: hand-derived gradients for flat-input tanh/ReLU MLP actor–critics (same result,
            faster; see :mod:`nacre.learners.policy.fused_ppo`); other networks use autograd.
    """

    lr: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    clip_value: float | None = None
    entropy_coef: float = 0.0
    value_coef: float = 0.5
    max_grad_norm: float | None = 0.5
    epochs: int = 10
    normalize_advantage: bool = True
    target_kl: float | None = None
    lr_schedule: Schedule = "constant"
    clip_schedule: Schedule = "constant"
    adam_eps: float = 1e-5
    fused: bool = True

    def __post_init__(self) -> None:
        check_positive("learner.lr", self.lr)
        check_unit_interval("learner.gamma", self.gamma)
        check_unit_interval("learner.gae_lambda", self.gae_lambda)
        check_positive("learner.clip", self.clip)
        check_positive("learner.epochs", self.epochs)
        for name in ("clip_value", "max_grad_norm", "target_kl"):
            if getattr(self, name) is not None:
                check_positive(f"learner.{name}", getattr(self, name))


class PPO:
    """PPO over an :class:`~nacre.networks.ActorCritic`.

    ``scores`` are logits ``[B, K]`` (discrete) or ``[B, 2, d]`` = (mean, log std) in the
    normalized action box (continuous); pair it with :class:`~nacre.exploration.PolicySampling`
    and a :class:`~nacre.data.RolloutBuffer`.
    """

    on_policy = True

    @property
    def scores_kind(self) -> str:
        """``gaussian`` ([B, 2, d] mean and log std) or ``logits`` ([B, K])."""
        return "gaussian" if self.net.continuous else "logits"

    def __init__(self, net: ActorCritic, config: PPOConfig | None = None, seed: int = 0) -> None:
        self.config = config or PPOConfig()
        self.net = net
        cfg = self.config
        fused = cfg.fused and fusable_actor_critic(net)
        self.optimizer = Adam(net.parameters(), cfg.lr, cfg.adam_eps, cfg.max_grad_norm,
                              flat=fused)
        self._fused = FusedPPOStep(net, self.optimizer, clip_value=cfg.clip_value,
                                   entropy_coef=cfg.entropy_coef,
                                   value_coef=cfg.value_coef) if fused else None
        self.generator = torch.Generator(device=net.log_std.device)  # minibatch shuffling
        self.generator.manual_seed(seed)
        self._clip = self.config.clip

    # ------------------------------------------------------------------ acting
    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        return self.net.scores(state)

    def _log_prob(self, obs: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        return self.net.log_prob(obs, action)

    # ------------------------------------------------------------------ learning
    def learn_rollout(self, rollout: Rollout, batch_size: int, progress: float = 0.0) -> Metrics:
        """One training round on a rollout; ``progress`` ∈ [0, 1] drives the schedules."""
        cfg = self.config
        remaining = max(0.0, 1.0 - progress)
        self.optimizer.param_groups[0]["lr"] = cfg.lr * (
            remaining if cfg.lr_schedule == "linear" else 1.0)
        self._clip = cfg.clip * (remaining if cfg.clip_schedule == "linear" else 1.0)
        batch = self.process(rollout)
        n = len(batch)
        kl_limit = None if cfg.target_kl is None else 1.5 * cfg.target_kl
        columns = _columns(batch)
        whole = batch_size >= n  # one minibatch per epoch: no shuffle needed
        if whole:
            columns = self._normalized(columns)
        metrics: Metrics = {}
        updates = 0
        stop = False
        for epoch in range(cfg.epochs):
            if whole:
                parts: tuple[Tensor | None, ...] = (None,)
            else:
                order = torch.randperm(n, generator=self.generator, device=self.generator.device)
                parts = torch.split(order.to(batch.reward.device), batch_size)
            for i, idx in enumerate(parts):
                last = epoch == cfg.epochs - 1 and i == len(parts) - 1
                if idx is None:
                    step_metrics, stepped = self._step(columns, kl_limit, last)
                else:
                    o, a, lp, adv, ret, v = columns
                    part = self._normalized((o[idx], a[idx], lp[idx], adv[idx], ret[idx],
                                             None if v is None else v[idx]))
                    step_metrics, stepped = self._step(part, kl_limit, last)
                if not stepped:  # the policy moved too far from the one that collected
                    stop = True
                    break
                metrics = step_metrics
                updates += 1
            if stop:
                break
        if not metrics or "loss" not in metrics:  # stopped early: metrics of the rows as they are
            metrics = self._step(self._normalized(_columns(batch)), None, True, step=False)[0]
        metrics["updates"] = torch.tensor(updates)
        metrics["clip_range"] = torch.tensor(self._clip)
        return metrics

    @torch.no_grad()
    def process(self, rollout: Rollout) -> TransitionBatch:
        """Value the rollout, compute GAE and λ-returns; one row per valid step."""
        steps, envs = rollout.steps, rollout.num_envs
        flat = rollout.flat()
        values = self.net.value(flat.obs)
        next_values = self.net.value(flat.next_obs).view(steps, envs)
        # reset steps (valid = False) end their "episode" (Rollout.ends) and are left out
        advantages, returns = gae(rollout.reward.float(), values.view(steps, envs), next_values,
                                  rollout.terminated, rollout.ends, self.config.gamma,
                                  self.config.gae_lambda)
        log_prob, _ = self._log_prob(flat.obs, flat.action)
        batch = replace(flat, advantage=advantages.reshape(-1), returns=returns.reshape(-1),
                        log_prob=log_prob, value=values)
        keep = rollout.valid.reshape(-1)
        return batch if bool(keep.all()) else batch.select(keep)

    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        """One minibatch step on processed rows (``advantage``, ``returns``, ``log_prob``,
        ``value`` set, as :meth:`process` makes them)."""
        return self._step(self._normalized(_columns(batch)), None, True)[0]

    def _normalized(self, columns: _Columns) -> _Columns:
        """The columns with the advantages standardized (when configured)."""
        obs, action, log_prob, adv, returns, value = columns
        if self.config.normalize_advantage and adv.numel() > 1:
            std, mean = torch.std_mean(adv)
            adv = (adv - mean) / (std + 1e-8)
        return obs, action, log_prob, adv, returns, value

    def _step(self, columns: _Columns, kl_limit: float | None, want_metrics: bool,
              step: bool = True) -> tuple[Metrics, bool]:
        cfg = self.config
        obs, action, old_log_prob, adv, returns, old_value = columns
        if step and self._fused is not None and obs.dtype == torch.float32:
            return self._fused(obs, action, old_log_prob, adv, returns, old_value, self._clip,
                               kl_limit, want_metrics)
        log_prob, entropy = self._log_prob(obs, action)
        policy_loss, clip_fraction, approx_kl = ppo_clip_loss(log_prob, old_log_prob, adv,
                                                              self._clip)
        if kl_limit is not None and float(approx_kl) > kl_limit:
            return {"approx_kl": approx_kl}, False
        values = self.net.value(obs)
        v_loss = value_loss(values, returns, old_value, cfg.clip_value)
        entropy_mean = entropy.mean()
        loss = policy_loss + cfg.value_coef * v_loss - cfg.entropy_coef * entropy_mean
        if step:
            self.optimizer.minimize(loss)
        return {"loss": loss.detach(), "policy_loss": policy_loss.detach(),
                "value_loss": v_loss.detach(), "entropy": entropy_mean.detach(),
                "approx_kl": approx_kl, "clip_fraction": clip_fraction}, True

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])


# what one PPO step reads: obs, action, old log-prob, advantage, return, old value
_Columns = tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor | None]


def _columns(batch: TransitionBatch) -> _Columns:
    if batch.advantage is None or batch.returns is None or batch.log_prob is None:
        raise ValueError("PPO.learn_batch needs processed rows (advantage, returns, log_prob): "
                         "use learn_rollout, or PPO.process(rollout)")
    return (batch.obs, batch.action, batch.log_prob, batch.advantage, batch.returns,
            batch.value)
