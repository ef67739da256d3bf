"""Proximal policy optimization (Schulman et al. 2017) for discrete and continuous actions.

One training round: the critic values the rollout, GAE(λ) turns rewards into advantages and
λ-returns (:func:`nacre.losses.gae`; truncated episodes bootstrap from the value of their true
final observation), then ``epochs`` passes of shuffled minibatches minimize the clipped surrogate
plus the value loss minus the entropy bonus. Learning rate and clip range can decay linearly
over the run (RL-Zoo's ``lin_`` schedules).

With a cost value (``safety: reward_constrained``, :class:`~nacre.learners.policy.costs.CostValue`)
it is reward-constrained PPO (RCPO): the advantages are ``A_r − λ A_c`` with ``A_c`` the GAE of
the rollout's costs, the cost value regresses on the cost λ-returns, and ``λ`` moves once per
round by the rollout's cost rate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

import torch
from torch import Tensor, nn

from nacre.data.batch import TransitionBatch
from nacre.data.rollout import Rollout
from nacre.data.validate import checked_batch
from nacre.errors import check_config
from nacre.kinds import LearnerKind, ScoresKind
from nacre.learners.policy.costs import CostValue, cost_state, load_cost
from nacre.losses.constraint import penalized
from nacre.losses.policy import ppo_clip_loss, value_loss
from nacre.losses.returns import gae
from nacre.networks.actor_critic import ActorCritic
from nacre.optim import Adam
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
    """

    lr: float = 3e-4
    # a non-finite gradient: skip the update (counted, logged) or raise NonFiniteUpdateError
    nonfinite: Literal["skip", "raise"] = "skip"
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

    def __post_init__(self) -> None:
        check_config(self, positive=("lr", "clip", "epochs", "clip_value", "max_grad_norm",
                                      "target_kl"), unit_interval=("gamma", "gae_lambda"))


@dataclass(frozen=True)
class Minibatch:
    """The rows one PPO step reads: observations, actions, the collecting policy's log-probs,
    advantages, λ-returns and (for value clipping) the collecting critic's values."""

    obs: Tensor
    action: Tensor
    old_log_prob: Tensor
    advantage: Tensor
    returns: Tensor
    old_value: Tensor | None
    mask: Tensor | None  # [N, K]: the actions available (dynamic action sets)
    candidates: Tensor | None  # what a candidate actor scores (represented)

    def __len__(self) -> int:
        return int(self.returns.shape[0])

    def select(self, idx: Tensor) -> Minibatch:
        return replace(self, **{f.name: v[idx] for f in fields(self)
                                for v in [getattr(self, f.name)] if v is not None})


MinibatchStep = Callable[[Minibatch, float | None, bool], Metrics | None]
"""One step on a minibatch: ``(minibatch, kl_limit, want_metrics) -> metrics``, or None when
the approximate KL exceeds ``kl_limit`` (no step taken). :meth:`PPO.learn_minibatch` is the
readable one; :mod:`nacre.accel` passes a hand-derived one to :meth:`PPO.learn_rollout`."""


class PPO:
    """PPO over an :class:`~nacre.networks.ActorCritic`.

    ``scores`` are logits ``[B, K]`` (discrete) or ``[B, 2, d]`` = (mean, log std) in the
    normalized action box (continuous); pair it with :class:`~nacre.exploration.PolicySampling`
    and a :class:`~nacre.data.RolloutBuffer`.
    """

    kind = LearnerKind.ROLLOUT
    needs_next_action = False

    def __init__(self, net: ActorCritic, config: PPOConfig | None = None, seed: int = 0,
                 also_train: Iterable[nn.Parameter] = (), cost: CostValue | None = None) -> None:
        self.config = config or PPOConfig()
        self.cost = cost  # reward-constrained: the cost value and λ (safety reward_constrained)
        self.net = net
        cfg = self.config
        # also_train: parameters outside net the same loss trains (a recurrent summarizer's)
        self.optimizer = Adam([*net.parameters(), *also_train], cfg.lr, cfg.adam_eps,
                              cfg.max_grad_norm, nonfinite=cfg.nonfinite)
        self.generator = torch.Generator(device=net.log_std.device)  # minibatch shuffling
        self.generator.manual_seed(seed)
        self.clip = cfg.clip  # the clip range now (it may decay over the run)

    @property
    def scores_kind(self) -> ScoresKind:
        return self.net.scores_kind

    @property
    def gamma(self) -> float:
        return self.config.gamma

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        return self.net.scores(state, action_features)

    def update_target(self) -> None:
        """No target network: the value targets are the rollout's λ-returns."""

    # ------------------------------------------------------------------ learning
    def learn_rollout(self, rollout: Rollout, batch_size: int, progress: float = 0.0,
                      step: MinibatchStep | None = None) -> Metrics:
        """One training round: ``epochs`` passes of shuffled minibatches over the processed
        rollout, stopped early when the policy moves too far (``target_kl``). ``progress`` ∈
        [0, 1] drives the schedules; ``step`` replaces :meth:`learn_minibatch` (accel)."""
        cfg = self.config
        step = step or self.learn_minibatch
        remaining = max(0.0, 1.0 - progress)
        self.optimizer.param_groups[0]["lr"] = cfg.lr * (
            remaining if cfg.lr_schedule == "linear" else 1.0)
        self.clip = cfg.clip * (remaining if cfg.clip_schedule == "linear" else 1.0)
        extra: Metrics = {}
        if self.cost is None:
            rows = self.rows_of(rollout)
        else:  # the cost value learns from the cost λ-returns the advantages were made with
            processed = self.process(rollout)
            assert processed.cost is not None
            rows = minibatch_of(processed)
            extra = self.cost.learn(processed.obs, processed.cost, cfg.epochs, batch_size,
                                    self.generator)
        kl_limit = None if cfg.target_kl is None else 1.5 * cfg.target_kl
        whole = [self._normalized(rows)] if batch_size >= len(rows) else None  # no shuffling
        metrics: Metrics | None = None
        updates = 0
        for epoch in range(cfg.epochs):
            parts = whole or list(self._minibatches(rows, batch_size))
            for i, part in enumerate(parts):
                last = epoch == cfg.epochs - 1 and i == len(parts) - 1
                metrics = step(part, kl_limit, last)
                if metrics is None:  # the policy moved too far from the one that collected
                    break
                updates += 1
            if metrics is None:
                break
        if metrics is None:  # stopped early: the metrics of the rows as they are now
            metrics = self.learn_minibatch(self._normalized(rows), None, True, take_step=False)
            assert metrics is not None
        return {**metrics, **extra, "updates": torch.tensor(updates),
                "clip_range": torch.tensor(self.clip)}

    def learn_minibatch(self, mb: Minibatch, kl_limit: float | None = None,
                        want_metrics: bool = True, take_step: bool = True) -> Metrics | None:
        """One step on ``−clipped surrogate + c_v · value loss − c_e · entropy`` (advantages
        already normalized); None, without a step, when the approximate KL exceeds
        ``kl_limit``."""
        cfg = self.config
        log_prob, entropy = self.net.log_prob(mb.obs, mb.action, mb.mask, mb.candidates)
        policy_loss, clip_fraction, approx_kl = ppo_clip_loss(log_prob, mb.old_log_prob,
                                                              mb.advantage, self.clip)
        if kl_limit is not None and float(approx_kl) > kl_limit:
            return None
        v_loss = value_loss(self.net.value(mb.obs), mb.returns, mb.old_value, cfg.clip_value)
        entropy_mean = entropy.mean()
        loss = policy_loss + cfg.value_coef * v_loss - cfg.entropy_coef * entropy_mean
        if take_step:
            self.optimizer.minimize(loss)
        return {"loss": loss.detach(), "policy_loss": policy_loss.detach(),
                "value_loss": v_loss.detach(), "entropy": entropy_mean.detach(),
                "approx_kl": approx_kl, "clip_fraction": clip_fraction}

    def rows_of(self, rollout: Rollout) -> Minibatch:
        """What a round's minibatches are drawn from: the processed rollout's rows."""
        return minibatch_of(self.process(rollout))

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        """One minibatch step on processed rows (``advantage``, ``returns``, ``log_prob``,
        ``value`` set, as :meth:`process` makes them)."""
        metrics = self.learn_minibatch(self._normalized(minibatch_of(batch)))
        assert metrics is not None  # no KL limit: always steps
        return metrics

    @torch.no_grad()
    def process(self, rollout: Rollout) -> TransitionBatch:
        """Value the rollout, compute GAE and λ-returns; one row per valid step (constrained:
        ``advantage`` is ``A_r − λ A_c`` and ``cost`` holds the cost λ-returns)."""
        steps, envs = rollout.steps, rollout.num_envs
        flat = rollout.flat()
        values = self.net.value(flat.obs)
        next_values = self.net.value(flat.next_obs).view(steps, envs)
        # reset steps (valid = False) end their "episode" (Rollout.ends) and are left out
        advantages, returns = gae(rollout.reward.float(), values.view(steps, envs), next_values,
                                  rollout.terminated, rollout.ends, self.config.gamma,
                                  self.config.gae_lambda)
        cost_returns = None
        if self.cost is not None:
            cost_advantages, cost_returns = self.cost.advantages(rollout)
            advantages = penalized(advantages, cost_advantages, self.cost.lagrange)
            cost_returns = cost_returns.reshape(-1)
        log_prob, _ = self.net.log_prob(flat.obs, flat.action, flat.mask, flat.candidates)
        batch = replace(flat, advantage=advantages.reshape(-1), returns=returns.reshape(-1),
                        log_prob=log_prob, value=values, cost=cost_returns)
        keep = rollout.valid.reshape(-1)
        return batch if bool(keep.all()) else batch.select(keep)

    def _minibatches(self, rows: Minibatch, batch_size: int) -> Iterator[Minibatch]:
        """One epoch: shuffled minibatches with their advantages standardized."""
        order = torch.randperm(len(rows), generator=self.generator, device=self.generator.device)
        for idx in torch.split(order.to(rows.returns.device), batch_size):
            yield self._normalized(rows.select(idx))

    def _normalized(self, mb: Minibatch) -> Minibatch:
        if not self.config.normalize_advantage or len(mb) < 2:
            return mb
        std, mean = torch.std_mean(mb.advantage)
        return replace(mb, advantage=(mb.advantage - mean) / (std + 1e-8))

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(), **cost_state(self.cost)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        load_cost(self.cost, state)


def minibatch_of(batch: TransitionBatch) -> Minibatch:
    """The PPO columns of processed rows (see :meth:`PPO.process`)."""
    if batch.advantage is None or batch.returns is None or batch.log_prob is None:
        raise ValueError("PPO.learn_batch needs processed rows (advantage, returns, log_prob): "
                         "use learn_rollout, or PPO.process(rollout)")
    return Minibatch(batch.obs, batch.action, batch.log_prob, batch.advantage, batch.returns,
                     batch.value, batch.mask, batch.candidates)
