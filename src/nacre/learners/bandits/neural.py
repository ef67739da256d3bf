"""Neural contextual bandits: an MLP reward model, and neural-linear (learned features with a
Bayesian linear head).

Both score a candidate ``a`` for context ``x`` from ``[x, f_a]`` (``f_a``: the action's features,
one-hot when the actions have none). The first layer is split, ``W_x x + W_a f_a``, so a decision
costs one context product plus one product per distinct action, not ``K`` full forward passes.

- :class:`NeuralBandit` regresses rewards with squared error, or with cross-entropy on rewards in
  [0, 1] (then ``μ = σ(logit)``); its scores are means, for ε-greedy, Boltzmann, SquareCB and
  FastCB (Foster & Rakhlin 2020 use exactly such a regression oracle).
- :class:`NeuralLinearBandit` adds uncertainty: the last hidden layer ``φ(x, a)`` feeds a ridge
  posterior ``A = λI + Σ φφᵀ`` kept with Sherman–Morrison/Woodbury updates, and scores are
  ``[μ, √(φ̃ᵀA⁻¹φ̃)]`` for UCB and Thompson sampling (Riquelme et al. 2018, "Deep Bayesian
  Bandits Showdown"; Xu et al. 2022, "Neural contextual bandits with deep representation and
  shallow exploration"). As in Pearl's neural-linear bandit, ``A`` accumulates the features of
  the batches learned from; ``discount`` < 1 forgets the features of older networks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nacre.data.batch import TransitionBatch
from nacre.data.validate import checked_batch
from nacre.errors import ConfigError, InputError, check_positive
from nacre.kinds import LearnerKind, ScoresKind
from nacre.learners.bandits.linear import (
    LinearBanditConfig,
    RidgeModels,
    chosen_features,
    static_features,
    with_one,
)
from nacre.losses.bandit import posterior_std
from nacre.networks.mlp import ACTIVATIONS
from nacre.optim import Adam
from nacre.types import Metrics


@dataclass(frozen=True)
class NeuralBanditConfig:
    """An MLP reward model trained with Adam.

    Attributes:
        hidden: hidden layer widths (at least one).
        activation: relu | tanh | elu | gelu | silu.
        lr: Adam learning rate.
        loss: ``mse`` (any rewards) or ``cross_entropy`` (rewards in [0, 1]; scores are
            probabilities).
        max_grad_norm: clip the gradient norm (None: no clipping).
        l2: ridge prior ``λ`` of the neural-linear head.
        discount: ``γ`` per row of the neural-linear head (1: never forget).
    """

    hidden: tuple[int, ...] = (64,)
    activation: str = "relu"
    lr: float = 1e-3
    # a non-finite gradient: skip the update (counted, logged) or raise NonFiniteUpdateError
    nonfinite: Literal["skip", "raise"] = "skip"
    loss: Literal["mse", "cross_entropy"] = "mse"
    max_grad_norm: float | None = None
    l2: float = 1.0
    discount: float = 1.0

    def __post_init__(self) -> None:
        if not self.hidden or min(self.hidden) < 1:
            raise ConfigError(f"learner.hidden: needs at least one positive width, got "
                              f"{self.hidden}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"learner.activation: one of {', '.join(ACTIVATIONS)}, got "
                              f"{self.activation!r}")
        if self.loss not in ("mse", "cross_entropy"):
            raise ConfigError(f"learner.loss: mse or cross_entropy, got {self.loss!r}")
        check_positive("learner.lr", self.lr)
        check_positive("learner.l2", self.l2)
        if not math.isfinite(self.l2):
            raise ConfigError(f"learner.l2: must be finite, got {self.l2}")
        if not 0.0 < self.discount <= 1.0:
            raise ConfigError(f"learner.discount: must be in (0, 1], got {self.discount}")


class RewardNetwork(nn.Module):
    """``r̂(x, a) = MLP([x, f_a])`` with the first layer split into context and action parts."""

    def __init__(self, context_dim: int, action_dim: int, hidden: tuple[int, ...],
                 activation: str = "relu") -> None:
        super().__init__()
        self.context = nn.Linear(context_dim, hidden[0])
        self.action = nn.Linear(action_dim, hidden[0], bias=False)
        layers: list[nn.Module] = [ACTIVATIONS[activation]()]
        for a, b in zip(hidden[:-1], hidden[1:], strict=False):
            layers += [nn.Linear(a, b), ACTIVATIONS[activation]()]
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(hidden[-1], 1)

    def features(self, x: Tensor, f: Tensor) -> Tensor:
        """Last hidden layer ``φ`` for contexts ``x [B, d]`` and actions ``f [B or 1, K, d_a]``:
        ``[B, K, h]``."""
        h: Tensor = self.body(self.context(x)[:, None, :] + self.action(f))
        return h

    def forward(self, x: Tensor, f: Tensor) -> Tensor:
        """``r̂ [B, K]`` (logits with the cross-entropy loss)."""
        out: Tensor = self.out(self.features(x, f))
        return out.squeeze(-1)


class NeuralBandit:
    """An MLP reward model; scores are predicted rewards ``[B, K]``.

    Args:
        context_dim: size of a context.
        n_actions: ``K``.
        action_features: ``[K, d_a]`` action features (default: one-hot).
        config: :class:`NeuralBanditConfig`.
        action_dim: with no ``action_features``, the width of the per-step candidate features
            every decision brings (a catalogue's): the bandit has no static features then.
    """

    kind = LearnerKind.REPLAY
    scores_kind = ScoresKind.VALUES
    needs_next_action = False
    gamma = None  # one-step rewards: nothing to bootstrap

    def update_target(self) -> None:
        """No target network."""

    def __init__(self, context_dim: int, n_actions: int, action_features: Tensor | None = None,
                 config: NeuralBanditConfig | None = None, action_dim: int | None = None
                 ) -> None:
        self.config = config or NeuralBanditConfig()
        self.context_dim = context_dim
        if action_features is None and action_dim is None:
            action_features = torch.eye(n_actions)
        self.action_features = None if action_features is None else action_features.float()
        if self.action_features is not None and self.action_features.shape[0] != n_actions:
            raise InputError("action_features", f"expected [{n_actions}, d_a], got "
                             f"{tuple(self.action_features.shape)}")
        width = (int(self.action_features.shape[1]) if self.action_features is not None
                 else int(action_dim or 0))
        self.net = RewardNetwork(context_dim, width,
                                 self.config.hidden, self.config.activation)
        self.optimizer = Adam(self.net.parameters(), self.config.lr,
                              max_grad_norm=self.config.max_grad_norm,
                              nonfinite=self.config.nonfinite)

    def _inputs(self, state: Tensor, action_features: Tensor | None) -> tuple[Tensor, Tensor]:
        if state.ndim != 2 or state.shape[1] != self.context_dim:
            raise InputError("obs", f"expected contexts [B, {self.context_dim}], got "
                             f"{tuple(state.shape)}")
        f = self.action_features if action_features is None else action_features.float()
        if f is None:
            raise InputError("available", "this bandit scores per-step candidates: pass the "
                             "decisions' AvailableActions (items or features)")
        return state.float(), static_features(f)

    def _mean(self, logits: Tensor) -> Tensor:
        return torch.sigmoid(logits) if self.config.loss == "cross_entropy" else logits

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        x, f = self._inputs(state, action_features)
        return self._mean(self.net(x, f))

    def _chosen(self, batch: TransitionBatch) -> tuple[Tensor, Tensor]:
        """Features ``φ [n, h]`` and outputs ``[n]`` of the actions taken in ``batch``."""
        x = batch.obs.float()
        f = chosen_features(batch, self.action_features).float()[:, None, :]
        phi = self.net.features(x, f)[:, 0]
        return phi, self.net.out(phi).squeeze(-1)

    def _loss(self, output: Tensor, reward: Tensor) -> Tensor:
        if self.config.loss == "cross_entropy":
            return F.binary_cross_entropy_with_logits(output, reward.clamp(0.0, 1.0))
        return F.mse_loss(output, reward)

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        _, output = self._chosen(batch)
        loss = self._loss(output, batch.reward.float())
        self.optimizer.minimize(loss)
        return {"loss": loss.detach(), "reward_mean": batch.reward.float().mean()}

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])


class NeuralLinearBandit(NeuralBandit):
    """:class:`NeuralBandit` plus a ridge posterior on its last hidden layer: scores
    ``[B, K, 2]`` = ``[μ, σ]`` for UCB / Thompson sampling."""

    scores_kind = ScoresKind.POSTERIOR

    def __init__(self, context_dim: int, n_actions: int, action_features: Tensor | None = None,
                 config: NeuralBanditConfig | None = None, action_dim: int | None = None
                 ) -> None:
        super().__init__(context_dim, n_actions, action_features, config, action_dim)
        self.head = RidgeModels(1, self.config.hidden[-1] + 1,  # features and a constant
                                LinearBanditConfig(l2=self.config.l2,
                                                   discount=self.config.discount))

    @property
    def a_inv(self) -> Tensor:
        """``A⁻¹`` of the head's posterior on ``[φ, 1]``."""
        a_inv: Tensor = self.head.a_inv[0]
        return a_inv

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        x, f = self._inputs(state, action_features)
        phi = self.net.features(x, f)
        mu = self._mean(self.net.out(phi).squeeze(-1))
        sigma = posterior_std(self.head.a_inv[0], with_one(phi))
        return torch.stack([mu, sigma.float()], -1)

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        metrics = super().learn_batch(batch)
        with torch.no_grad():
            phi, _ = self._chosen(batch)  # the features of the updated network
            self.head.fold(0, with_one(phi), batch.reward.to(torch.float64))
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {"head": self.head.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.head.load_state_dict(state["head"])


__all__ = ["NeuralBandit", "NeuralBanditConfig", "NeuralLinearBandit", "RewardNetwork"]
