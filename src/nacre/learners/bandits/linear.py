"""Linear contextual bandits: one ridge model on (context, action) features, or one per arm.

The learners keep the posterior of a ridge regression — mean ``μ = φᵀθ`` and spread
``σ = √(φᵀA⁻¹φ)`` — and hand both to exploration as ``scores [B, K, 2]``; UCB turns them into
LinUCB (Li et al. 2010), Thompson sampling into LinTS (Agrawal & Goyal 2013), and the
mean-based explorers (ε-greedy, SquareCB …) read ``μ``. Updates are incremental
(Sherman–Morrison / Woodbury, :mod:`nacre.losses.bandit`), in float64, so the cost of an update
and the memory never grow with the number of updates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self

import torch
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.errors import ConfigError, InputError, check_positive
from nacre.losses.bandit import posterior_std, ridge_update_
from nacre.types import Metrics


@dataclass(frozen=True)
class LinearBanditConfig:
    """Ridge regression for linear bandits.

    Attributes:
        l2: the ridge prior ``λ`` (``A`` starts at ``λI``).
        discount: ``γ`` per learned row; below 1 the model forgets old rewards (non-stationary
            problems). 1 keeps every row.
        features: how the joint model combines context ``x`` and action features ``f``:
            ``outer`` — ``x ⊗ f`` (every context feature interacts with every action feature;
            with one-hot actions this is one linear model per arm), or ``concat`` — ``[x, f]``
            (the context shifts all arms alike: only the action part ranks them). Disjoint
            models ignore it.
        intercept: append a constant 1 to the context (a bias per arm / action feature).
    """

    l2: float = 1.0
    discount: float = 1.0
    features: Literal["outer", "concat"] = "outer"
    intercept: bool = True

    def __post_init__(self) -> None:
        check_positive("learner.l2", self.l2)
        if not 0.0 < self.discount <= 1.0:
            raise ConfigError(f"learner.discount: must be in (0, 1], got {self.discount}")
        if self.features not in ("outer", "concat"):
            raise ConfigError(f"learner.features: expected outer or concat, got "
                              f"{self.features!r}")


def _context(state: Tensor, context_dim: int, intercept: bool) -> Tensor:
    if state.ndim != 2 or state.shape[1] != context_dim:
        raise InputError("obs", f"expected contexts [B, {context_dim}], got "
                         f"{tuple(state.shape)}")
    x = state.to(torch.float64)
    return torch.cat([x, x.new_ones(x.shape[0], 1)], 1) if intercept else x


def _metrics(prediction: Tensor, reward: Tensor) -> Metrics:
    return {"loss": (prediction - reward).square().mean().float(),
            "reward_mean": reward.mean().float()}


class _RidgeModels:
    """``M`` ridge models on ``D`` features: ``A⁻¹ [M, D, D]``, ``b``, ``θ [M, D]`` (float64)."""

    scores_kind = "posterior"

    def __init__(self, models: int, dim: int, config: LinearBanditConfig) -> None:
        self.config = config
        eye = torch.eye(dim, dtype=torch.float64) / config.l2
        self.a_inv = eye.repeat(models, 1, 1)
        self.b = torch.zeros(models, dim, dtype=torch.float64)
        self.theta = torch.zeros(models, dim, dtype=torch.float64)
        self.updates = torch.zeros((), dtype=torch.int64)

    def _fold(self, model: int, phi: Tensor, r: Tensor) -> None:
        ridge_update_(self.a_inv[model], self.b[model], phi, r, self.config.discount)
        torch.mv(self.a_inv[model], self.b[model], out=self.theta[model])

    def state_dict(self) -> dict[str, Any]:
        return {"a_inv": self.a_inv.clone(), "b": self.b.clone(), "theta": self.theta.clone(),
                "updates": self.updates.clone()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name in ("a_inv", "b", "theta", "updates"):
            value = state[name]
            if tuple(value.shape) != tuple(getattr(self, name).shape):
                raise InputError(name, f"checkpoint shape {tuple(value.shape)} does not match "
                                 f"the model's {tuple(getattr(self, name).shape)}")
            getattr(self, name).copy_(value)

    def to(self, device: torch.device | str) -> Self:
        for name in ("a_inv", "b", "theta", "updates"):
            setattr(self, name, getattr(self, name).to(device))
        return self


class LinearBandit(_RidgeModels):
    """One ridge model on joint features ``φ(x, a)`` of the context and the action's features.

    Args:
        context_dim: size ``d`` of a context.
        action_features: ``[K, d_a]`` features of the actions (one-hot, binary codes, or your
            own embeddings); per-step candidate features ``[B, K, d_a]`` may also be passed to
            :meth:`scores`.
        config: :class:`LinearBanditConfig`.

    Example:
        >>> import torch
        >>> bandit = LinearBandit(3, torch.eye(2))
        >>> bandit.scores(torch.zeros(4, 3), None).shape  # (μ, σ) per action
        torch.Size([4, 2, 2])
    """

    def __init__(
        self, context_dim: int, action_features: Tensor, config: LinearBanditConfig | None = None
    ) -> None:
        config = config or LinearBanditConfig()
        if action_features.ndim != 2:
            raise InputError("action_features", f"expected [K, d_a], got "
                             f"{tuple(action_features.shape)}")
        self.context_dim = context_dim
        self.action_features = action_features.to(torch.float64)
        d_x = context_dim + int(config.intercept)
        d_a = int(action_features.shape[1])
        super().__init__(1, d_x * d_a if config.features == "outer" else d_x + d_a, config)

    def features(self, x: Tensor, f: Tensor) -> Tensor:
        """``φ [..., D]`` from contexts ``x [..., d_x]`` and action features ``f [..., d_a]``
        (broadcast against each other)."""
        if self.config.features == "concat":
            lead = torch.broadcast_shapes(x.shape[:-1], f.shape[:-1])  # type: ignore[no-untyped-call]
            return torch.cat([x.expand(*lead, -1), f.expand(*lead, -1)], -1)
        return (x.unsqueeze(-1) * f.unsqueeze(-2)).flatten(-2)

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        x = _context(state, self.context_dim, self.config.intercept)
        f = self.action_features if action_features is None else action_features.to(
            torch.float64)
        phi = self.features(x[:, None, :], f if f.ndim == 3 else f[None])  # [B, K, D]
        mu = phi @ self.theta[0]
        return torch.stack([mu, posterior_std(self.a_inv[0], phi)], -1).float()

    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        x = _context(batch.obs, self.context_dim, self.config.intercept)
        phi = self.features(x, self.action_features[batch.action.long()])
        r = batch.reward.to(torch.float64)
        prediction = phi @ self.theta[0]
        self._fold(0, phi, r)
        self.updates += 1
        return _metrics(prediction, r)


class DisjointLinearBandit(_RidgeModels):
    """One ridge model per arm on the context alone (LinUCB's "disjoint" model, Li et al. 2010).

    All arms' posteriors are scored in one batched product; the rows of a batch are folded into
    their arms' models with one Woodbury update per arm present (Sherman–Morrison for one row).

    Example:
        >>> import torch
        >>> bandit = DisjointLinearBandit(3, n_actions=4)
        >>> bandit.scores(torch.zeros(2, 3), None).shape
        torch.Size([2, 4, 2])
    """

    def __init__(
        self, context_dim: int, n_actions: int, config: LinearBanditConfig | None = None
    ) -> None:
        config = config or LinearBanditConfig()
        self.context_dim = context_dim
        self.n_actions = n_actions
        super().__init__(n_actions, context_dim + int(config.intercept), config)

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        x = _context(state, self.context_dim, self.config.intercept)  # [B, D]
        mu = x @ self.theta.T  # [B, K]
        spread = torch.matmul(self.a_inv, x.T)  # [K, D, B]
        var = (spread * x.T).sum(1).T  # [B, K]
        return torch.stack([mu, var.clamp_min(0.0).sqrt()], -1).float()

    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        x = _context(batch.obs, self.context_dim, self.config.intercept)
        arm = batch.action.long().reshape(-1)
        r = batch.reward.to(torch.float64).reshape(-1)
        if arm.numel() and (int(arm.min()) < 0 or int(arm.max()) >= self.n_actions):
            raise InputError("action", f"expected arms in [0, {self.n_actions})")
        prediction = (x * self.theta[arm]).sum(1)
        if arm.shape[0] == 1:
            self._fold(int(arm[0]), x, r)
        else:
            order = torch.sort(arm, stable=True).indices  # keep each arm's rows in order
            arms, counts = torch.unique_consecutive(arm[order], return_counts=True)
            for a, rows in zip(arms.tolist(), torch.split(order, counts.tolist()), strict=True):
                self._fold(a, x[rows], r[rows])
        self.updates += 1
        return _metrics(prediction, r)


__all__ = ["DisjointLinearBandit", "LinearBandit", "LinearBanditConfig"]
