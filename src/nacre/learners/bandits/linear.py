"""Linear contextual bandits: one ridge model on (context, action) features, or one per arm.

The learners keep the posterior of a ridge regression — mean ``μ = φᵀθ`` and spread
``σ = √(φᵀA⁻¹φ)`` — and hand both to exploration as ``scores [B, K, 2]``; UCB turns them into
LinUCB (Li et al. 2010), Thompson sampling into LinTS (Agrawal & Goyal 2013), and the
mean-based explorers (ε-greedy, SquareCB …) read ``μ``. Updates are incremental
(Sherman–Morrison / Woodbury, :mod:`nacre.losses.bandit`), in float64, so the cost of an update
and the memory never grow with the number of updates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self

import numpy as np
import torch
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.data.validate import checked_batch
from nacre.errors import ConfigError, InputError, check_positive
from nacre.kinds import LearnerKind, ScoresKind
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
        posterior: what the joint model's scores carry: ``marginal`` — ``[μ, σ]`` per action
            (Thompson sampling then draws each action on its own); ``joint`` — also the factor
            ``F = φL`` (``LLᵀ = A⁻¹``) after them, ``scores [B, K, 2 + D]``, so Thompson sampling
            draws one ``θ`` for all actions of a decision, as LinTS does (Agrawal & Goyal 2013).
            Costs a Cholesky factor after each update and ``K × D`` more numbers per decision.
            Disjoint models ignore it: their arms' posteriors are independent, so per-arm draws
            are already the joint draw.
    """

    l2: float = 1.0
    discount: float = 1.0
    features: Literal["outer", "concat"] = "outer"
    intercept: bool = True
    posterior: Literal["marginal", "joint"] = "marginal"

    def __post_init__(self) -> None:
        check_positive("learner.l2", self.l2)
        if not math.isfinite(self.l2):
            raise ConfigError(f"learner.l2: must be finite, got {self.l2}")
        if not 0.0 < self.discount <= 1.0:
            raise ConfigError(f"learner.discount: must be in (0, 1], got {self.discount}")
        if self.posterior not in ("marginal", "joint"):
            raise ConfigError(f"learner.posterior: expected marginal or joint, got "
                              f"{self.posterior!r}")
        if self.features not in ("outer", "concat"):
            raise ConfigError(f"learner.features: expected outer or concat, got "
                              f"{self.features!r}")


def with_one(x: Tensor) -> Tensor:
    """``[x, 1]`` in float64: features with a constant for the intercept (``[..., d + 1]``)."""
    x = x.to(torch.float64)
    return torch.cat([x, x.new_ones(*x.shape[:-1], 1)], -1)


def _context(state: Tensor, context_dim: int, intercept: bool) -> Tensor:
    if state.ndim != 2 or state.shape[1] != context_dim:
        raise InputError("obs", f"expected contexts [B, {context_dim}], got "
                         f"{tuple(state.shape)}")
    return with_one(state) if intercept else state.to(torch.float64)


def static_features(features: Tensor) -> Tensor:
    """``[1, K, d_a]`` from per-action features ``[K, d_a]``; per-step candidate features
    ``[B, K, d_a]`` as they are."""
    return features if features.ndim == 3 else features[None]


def chosen_features(batch: TransitionBatch, static: Tensor | None) -> Tensor:
    """The features ``[n, d_a]`` of the actions taken in ``batch``: from its candidate sets
    (per-step candidates, represented by the agent as when acting), else the static ones."""
    action = batch.action.long().reshape(-1)
    if batch.candidates is not None:
        return batch.candidates[torch.arange(action.shape[0], device=action.device), action]
    if static is None:
        raise InputError("batch.candidates", "this bandit has no static action features: "
                         "learning batches must carry the candidates the decisions scored")
    return static[action]


def _metrics(prediction: Tensor, reward: Tensor) -> Metrics:
    return {"loss": (prediction - reward).square().mean().float()}


class RidgeModels:
    """``M`` ridge models on ``D`` features: ``A⁻¹ [M, D, D]``, ``b``, ``θ [M, D]`` (float64).

    With ``discount`` γ < 1 the rows are folded in as recursive least squares with forgetting,
    ``A ← γA + xxᵀ``, which discounts the prior ``λI`` along with the data: in a direction the
    data never excites, ``A⁻¹`` would grow like ``γ⁻ⁿ`` and overflow. So each model also keeps
    its discounted data ``S = Σ γ^age xxᵀ``, and whenever the prior has decayed to about half
    (every ``⌊ln 2 / ln(1/γ)⌋`` rows) ``A⁻¹`` is recomputed as ``(S + λI)⁻¹`` — the regularizer
    of discounted LinUCB (Russac et al. 2019), restored at a cost of one ``O(D³)`` inverse per
    that many rows. At any time ``A = S + λγ^k I`` with ``k`` = :attr:`since_refresh` rows.
    """

    kind = LearnerKind.ONLINE  # an exact posterior must see each decision once, not replays
    scores_kind = ScoresKind.POSTERIOR
    needs_next_action = False
    gamma = None  # one-step rewards: nothing to bootstrap

    def update_target(self) -> None:
        """No target network."""

    def __init__(self, models: int, dim: int, config: LinearBanditConfig) -> None:
        self.config = config
        eye = torch.eye(dim, dtype=torch.float64) / config.l2
        self.a_inv = eye.repeat(models, 1, 1)
        self.b = torch.zeros(models, dim, dtype=torch.float64)
        self.theta = torch.zeros(models, dim, dtype=torch.float64)
        self.updates = 0  # learning calls so far
        discounted = config.discount < 1.0
        self.data = torch.zeros(models if discounted else 0, dim, dim, dtype=torch.float64)
        self.since_refresh = [0] * models
        self.refresh_every = (max(1, int(math.log(2.0) / -math.log(config.discount)))
                              if discounted else 0)
        self._views()

    def _views(self) -> None:
        # NumPy views of the CPU state: one decision or one row costs a few NumPy calls
        # (≈ 0.5–1 µs each) instead of as many torch ops (≈ 2–5 µs each), which is most of the
        # time at B = 1. Both paths update the same memory.
        cpu = self.a_inv.device.type == "cpu"
        self._np = (self.a_inv.numpy(), self.b.numpy(), self.theta.numpy()) if cpu else None
        self._data_np = self.data.numpy() if cpu else None
        self._outer = np.empty(self.a_inv.shape[1:])

    def __getstate__(self) -> dict[str, Any]:
        # The NumPy views must be taken again from the copied tensors (deepcopy, pickle):
        # copied as they are, they would be arrays of their own, detached from the state.
        state = dict(self.__dict__)
        del state["_np"], state["_outer"], state["_data_np"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._views()

    def fold(self, model: int, phi: Tensor, r: Tensor) -> None:
        """Learn rows ``phi [k, D]`` with targets ``r [k]`` into model ``model``."""
        discount = self.config.discount
        if discount == 1.0:
            ridge_update_(self.a_inv[model], self.b[model], phi, r)
        else:
            # Chunks no longer than the refresh period: a Woodbury step over k rows scales A⁻¹
            # by γ⁻ᵏ, which loses precision (and can overflow) when k is large.
            for x, y in zip(torch.split(phi, self.refresh_every),
                            torch.split(r, self.refresh_every), strict=True):
                ridge_update_(self.a_inv[model], self.b[model], x, y, discount, self.data[model])
                self._count_rows(model, x.shape[0])
        torch.mv(self.a_inv[model], self.b[model], out=self.theta[model])

    def _count_rows(self, model: int, k: int) -> None:
        self.since_refresh[model] += k
        if self.since_refresh[model] >= self.refresh_every:
            regularized = self.data[model] + self.config.l2 * torch.eye(
                self.data.shape[-1], dtype=self.data.dtype, device=self.data.device)
            self.a_inv[model] = torch.cholesky_inverse(torch.linalg.cholesky(regularized))
            self.since_refresh[model] = 0

    def state_dict(self) -> dict[str, Any]:
        state = {"a_inv": self.a_inv.clone(), "b": self.b.clone(), "theta": self.theta.clone(),
                 "updates": torch.tensor(self.updates)}
        if self.config.discount < 1.0:
            state |= {"data": self.data.clone(), "since_refresh": torch.tensor(self.since_refresh)}
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.updates = int(state["updates"])
        if self.config.discount < 1.0:
            if "data" not in state:
                raise InputError("state", "a discounted model's checkpoint must hold 'data'")
            self.data.copy_(state["data"])
            self.since_refresh = [int(k) for k in state["since_refresh"]]
        for name in ("a_inv", "b", "theta"):
            value = state[name]
            if tuple(value.shape) != tuple(getattr(self, name).shape):
                raise InputError(name, f"checkpoint shape {tuple(value.shape)} does not match "
                                 f"the model's {tuple(getattr(self, name).shape)}")
            getattr(self, name).copy_(value)

    def to(self, device: torch.device | str) -> Self:
        for name in ("a_inv", "b", "theta", "data"):
            setattr(self, name, getattr(self, name).to(device))
        self._views()
        return self

    def _fold_one(self, model: int, x: np.ndarray, r: float) -> float:
        """Sherman–Morrison on one row in NumPy (the B = 1 path); returns the old prediction."""
        assert self._np is not None
        a_inv, b, theta = (m[model] for m in self._np)
        prediction = float(theta @ x)
        discount = self.config.discount
        if discount != 1.0:
            a_inv *= 1.0 / discount
            b *= discount
        v = a_inv @ x
        v /= math.sqrt(1.0 + x @ v)  # A⁻¹x / √(1 + xᵀA⁻¹x): the update is then v vᵀ
        outer = self._outer
        np.multiply(v[:, None], v, out=outer)
        a_inv -= outer
        b += r * x
        if discount != 1.0:
            assert self._data_np is not None
            data = self._data_np[model]
            data *= discount
            data += np.multiply(x[:, None], x, out=outer)
            self._count_rows(model, 1)
        np.matmul(a_inv, b, out=theta)
        return prediction


class LinearBandit(RidgeModels):
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
        self._chol: Tensor | None = None
        self._chol_at = -1

    def to(self, device: torch.device | str) -> Self:
        super().to(device)
        self.action_features = self.action_features.to(device)
        self._chol = None
        return self

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
            self.a_inv.device, torch.float64)
        phi = self.features(x[:, None, :], static_features(f))  # [B, K, D]
        mu = phi @ self.theta[0]
        if self.config.posterior == "joint":
            factor = phi @ self._cholesky()  # [B, K, D]: cov(μ_a, μ_b) = F_a · F_b
            spread = factor.norm(dim=-1)
            return torch.cat([mu[..., None], spread[..., None], factor], -1).float()
        return torch.stack([mu, posterior_std(self.a_inv[0], phi)], -1).float()

    def _cholesky(self) -> Tensor:
        """``L`` with ``LLᵀ = A⁻¹``, recomputed only after the model changed."""
        if self._chol_at != self.updates or self._chol is None:
            self._chol = torch.linalg.cholesky(self.a_inv[0])
            self._chol_at = self.updates
        return self._chol

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self._chol = None

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        x = _context(batch.obs, self.context_dim, self.config.intercept)
        phi = self.features(x, chosen_features(batch, self.action_features).to(torch.float64))
        r = batch.reward.to(torch.float64)
        prediction = phi @ self.theta[0]
        self.fold(0, phi, r)
        self.updates += 1
        return _metrics(prediction, r)


class DisjointLinearBandit(RidgeModels):
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

    def _one(self, state: Tensor) -> np.ndarray | None:
        """The float64 context row of a single CPU decision, else None (take the torch path)."""
        if self._np is None or state.ndim != 2 or state.shape[0] != 1 or (
                state.shape[1] != self.context_dim) or state.device.type != "cpu":
            return None
        x = np.empty(self.a_inv.shape[-1])
        x[: self.context_dim] = state.detach().numpy()
        if self.config.intercept:
            x[-1] = 1.0
        return x

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        one = self._one(state)
        if one is not None:
            assert self._np is not None
            a_inv, _, theta = self._np
            out = np.empty((1, self.n_actions, 2), dtype=np.float32)
            out[0, :, 0] = theta @ one
            k, d = a_inv.shape[:2]  # one [K·D, D] product: cheaper than K batched [D, D] ones
            quad = (a_inv.reshape(k * d, d) @ one).reshape(k, d) @ one
            out[0, :, 1] = np.sqrt(np.maximum(quad, 0.0))
            return torch.from_numpy(out)
        x = _context(state, self.context_dim, self.config.intercept)  # [B, D]
        mu = x @ self.theta.T  # [B, K]
        spread = torch.matmul(self.a_inv, x.T)  # [K, D, B]
        var = (spread * x.T).sum(1).T  # [B, K]
        return torch.stack([mu, var.clamp_min(0.0).sqrt()], -1).float()

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        one = self._one(batch.obs)
        if one is not None:
            # .item() on the one-element tensors: indexing them first costs ≈ 4 µs each
            arm_1, r_1 = int(batch.action.item()), float(batch.reward.item())
            if not 0 <= arm_1 < self.n_actions:
                raise InputError("action", f"expected arms in [0, {self.n_actions})")
            prediction_1 = self._fold_one(arm_1, one, r_1)
            self.updates += 1
            return {"loss": torch.scalar_tensor((prediction_1 - r_1) ** 2)}
        x = _context(batch.obs, self.context_dim, self.config.intercept)
        arm = batch.action.long().reshape(-1)
        r = batch.reward.to(torch.float64).reshape(-1)
        if arm.numel() and (int(arm.min()) < 0 or int(arm.max()) >= self.n_actions):
            raise InputError("action", f"expected arms in [0, {self.n_actions})")
        prediction = (x * self.theta[arm]).sum(1)
        if arm.shape[0] == 1:
            self.fold(int(arm[0]), x, r)
        else:
            order = torch.sort(arm, stable=True).indices  # keep each arm's rows in order
            arms, counts = torch.unique_consecutive(arm[order], return_counts=True)
            for a, rows in zip(arms.tolist(), torch.split(order, counts.tolist()), strict=True):
                self.fold(a, x[rows], r[rows])
        self.updates += 1
        return _metrics(prediction, r)


__all__ = ["DisjointLinearBandit", "LinearBandit", "LinearBanditConfig"]
