"""Contextual-bandit environments on nacre's batched :class:`~nacre.envs.base.Env` contract.

Each step makes ``num_envs = B`` independent decisions, each a one-step episode: the env shows
``B`` contexts, takes ``B`` arms, and returns their rewards, the exact expected regret of each
choice (:attr:`ActionResult.regret`) and the next ``B`` contexts (``obs`` and ``next_obs`` are the
same array; ``terminated`` is all True, so nothing bootstraps from it).

* :class:`ClassificationBandit`: the classification-to-bandit conversion of Bietti, Agarwal &
  Langford, "A contextual bandit bake-off" (JMLR 2021) and of the Pearl paper (Zhu et al. 2023,
  arXiv:2312.03814, section 5): contexts are the rows of a labelled data set, arms are the
  classes, and the reward is 1 for the true label, else 0.
* :class:`SyntheticLinearBandit`: a linear-Gaussian bandit (the setting of LinUCB, Li et al.
  2010, and linear Thompson sampling, Agrawal & Goyal 2013) with optional drift, random
  per-decision availability (Pearl's dynamic action spaces) and per-arm features.

Randomness: every random draw comes from NumPy generators built in :meth:`reset`. ``reset(seed)``
reseeds them from ``seed``; ``reset()`` (``seed=None``) continues the current streams, or on an
env never seeded draws fresh OS entropy. Contexts, reward noise, drift and availability use
separate streams spawned from the seed, so the context stream does not depend on the actions
taken or on the noise level: two agents run with the same seed see the same contexts.
``get_state`` / ``set_state`` capture all of it as JSON for an exact mid-stream resume.

:func:`nacre.envs.make.make_bandit_env` builds the registered ids in
:data:`~nacre.envs.make.BANDIT_ENV_IDS`; ``nacre.make_env`` routes every ``bandit/...`` id to it.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import torch

from nacre.envs.bandit_base import BanditBase
from nacre.envs.base import ActionResult
from nacre.errors import ConfigError, InputError


class ClassificationBandit(BanditBase):
    """A labelled data set as a contextual bandit: one arm per class, reward 1 for the label.

    Contexts are the rows of ``X`` (standardized per column to zero mean and unit variance when
    ``standardize``; constant columns become 0). The stream visits the rows in a random order,
    a new permutation per pass over the data, and the ``B`` decisions of a step take ``B``
    consecutive rows of that stream. The reward is ``1[action == label]``, plus
    ``N(0, noise_std^2)`` noise when ``noise_std > 0``; the expected regret is
    ``1 - 1[action == label]``. Every arm is always available.

    ``y`` must hold integer labels ``0..K-1`` with every label present (map other labels with
    ``np.unique(y, return_inverse=True)[1]``).
    """

    def __init__(
        self,
        X: Any,
        y: Any,
        num_envs: int = 1,
        noise_std: float = 0.0,
        standardize: bool = True,
        name: str = "classification",
    ) -> None:
        X_arr = np.asarray(X)
        y_arr = np.asarray(y)
        if X_arr.ndim != 2 or X_arr.shape[0] == 0 or X_arr.shape[1] == 0:
            raise InputError("X", f"expected a non-empty 2-D array [N, d], got shape "
                             f"{X_arr.shape}")
        if X_arr.dtype.kind not in "biuf":
            raise InputError("X", f"expected numbers, got dtype {X_arr.dtype}")
        X64 = X_arr.astype(np.float64)
        if not np.isfinite(X64).all():
            rows = np.flatnonzero(~np.isfinite(X64).all(axis=1))
            raise InputError("X", f"NaN or infinite values in rows {rows[:10].tolist()}")
        if y_arr.shape != (X_arr.shape[0],):
            raise InputError("y", f"expected shape [{X_arr.shape[0]}] to match X's rows, got "
                             f"{y_arr.shape}")
        if y_arr.dtype.kind not in "iu":
            raise InputError("y", f"expected integer labels 0..K-1, got dtype {y_arr.dtype} "
                             "(map labels with np.unique(y, return_inverse=True)[1])")
        present = np.unique(y_arr)
        k = int(present[-1]) + 1
        if present[0] < 0 or present.size != k:
            raise InputError("y", f"expected labels 0..K-1 with every label present, got "
                             f"{present[:20].tolist()} (map labels with "
                             "np.unique(y, return_inverse=True)[1])")
        if k < 2:
            raise InputError("y", f"expected at least 2 classes, got {k}")
        if not noise_std >= 0:
            raise ConfigError(f"env.noise_std: must be >= 0, got {noise_std}")
        if standardize:
            mean, std = X64.mean(axis=0), X64.std(axis=0)
            safe = np.where(std > 0, std, 1.0)
            X64 = np.where(std > 0, (X64 - mean) / safe, 0.0)
        super().__init__(k, X_arr.shape[1], num_envs, None)
        self.name = name
        self.noise_std = float(noise_std)
        self.standardize = bool(standardize)
        self.X = np.ascontiguousarray(X64, dtype=np.float32)
        self.y = y_arr.astype(np.int64)
        self.n_rows, self.context_dim, self.n_actions = self.X.shape[0], self.X.shape[1], k
        # Identifies the data in saved states, so a state is never restored onto other data.
        self._crc = zlib.crc32(self.X.tobytes(), zlib.crc32(self.y.tobytes()))
        self._perm = np.arange(self.n_rows)
        self._pos = self.n_rows
        self._rows = np.zeros(self.num_envs, dtype=np.int64)

    def _take(self) -> np.ndarray:
        if self.num_envs == 1 and self._pos < self.n_rows:  # one decision mid-pass: no loop
            self._pos += 1
            return self._perm[self._pos - 1 : self._pos]
        rng = self._stream("contexts")
        out = np.empty(self.num_envs, dtype=np.int64)
        filled = 0
        while filled < self.num_envs:
            if self._pos == self.n_rows:
                self._perm, self._pos = rng.permutation(self.n_rows), 0
            take = min(self.num_envs - filled, self.n_rows - self._pos)
            out[filled:filled + take] = self._perm[self._pos:self._pos + take]
            filled += take
            self._pos += take
        return out

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Start a new pass over the data; returns the first ``[B, d]`` contexts."""
        self._reseed(seed)
        self._pos = self.n_rows  # the next draw starts a fresh permutation
        self._rows = self._take()
        return self.X[self._rows]

    def optimal_action(self) -> np.ndarray:
        """The labels ``[B]`` of the current contexts."""
        return self.y[self._rows].copy()

    def mean_rewards(self) -> np.ndarray:
        """Expected rewards ``[B, K]`` of the current contexts (one-hot labels)."""
        return np.eye(self.n_actions)[self.y[self._rows]]

    def step(self, action: Any) -> ActionResult:
        a = self._check_action(action)
        hit = (a == self.y[self._rows]).astype(np.float32)
        reward = hit
        if self.noise_std > 0:
            reward = hit + self.noise_std * self._stream("noise").standard_normal(self.num_envs)
        self._rows = self._take()
        return self._result(self.X[self._rows], reward, 1.0 - hit)

    def get_state(self) -> dict[str, Any]:
        """JSON-able state (streams, permutation, current rows) for an exact resume."""
        return {
            "kind": "ClassificationBandit",
            "data": [self.n_rows, self.context_dim, self.n_actions, self._crc],
            "num_envs": self.num_envs,
            "rngs": self._rng_state(),
            "perm": self._perm.tolist(),
            "pos": int(self._pos),
            "rows": self._rows.tolist(),
        }

    def set_state(self, state: dict[str, Any]) -> bool:
        """Restore :meth:`get_state`'s output; False (and no change) if it is another env's."""
        try:
            if state["kind"] != "ClassificationBandit" or state["num_envs"] != self.num_envs or (
                list(state["data"]) != [self.n_rows, self.context_dim, self.n_actions, self._crc]
            ):
                return False
            rngs = self._rngs_from(state["rngs"])
            perm = np.asarray(state["perm"], dtype=np.int64)
            rows = np.asarray(state["rows"], dtype=np.int64)
            pos = int(state["pos"])
        except (KeyError, TypeError, ValueError, AttributeError):
            return False
        if perm.shape != (self.n_rows,) or rows.shape != (self.num_envs,) or not (
            0 <= pos <= self.n_rows
        ) or not np.array_equal(np.sort(perm), np.arange(self.n_rows)) or (
            rows.size and (rows.min() < 0 or rows.max() >= self.n_rows)
        ):
            return False
        self._rngs, self._perm, self._rows, self._pos = rngs, perm, rows, pos
        return True


class SyntheticLinearBandit(BanditBase):
    """A linear-Gaussian contextual bandit with known expected rewards (so exact regret).

    Expected reward of arm ``a`` in context ``x``: ``mu_a(x) = w_a . x``. The arm weights
    ``W [K, d] ~ N(0, 1)`` are drawn once from ``problem_seed`` (the problem stays fixed across
    resets and seeds); contexts ``x ~ N(0, I_d / d)`` and rewards ``mu + N(0, noise_std^2)`` are
    drawn from the streams seeded in :meth:`reset`. ``mu`` then has unit variance over contexts.

    * ``drift`` = rho in [0, 1): after every step (of all ``B`` decisions) the weights take an
      AR(1) step ``W <- sqrt(1 - rho^2) W + rho N(0, 1)``, which keeps their N(0, 1) marginal
      while the best arm of a context changes over time.
    * ``available_prob`` < 1: each arm is available independently with that probability per
      decision (one uniformly chosen arm is forced when none is); ``available`` and
      ``ActionResult.available`` carry the ``[B, K]`` mask, and regret is measured against the
      best *available* arm. With ``available_prob == 1`` they are None.
    * ``arm_features``: the action space carries static features ``E [K, feature_dim] ~
      N(0, 1) / sqrt(feature_dim)`` (rows of about unit norm) and ``W = E @ M`` for a hidden
      ``M [feature_dim, d] ~ N(0, 1)``, so each ``W`` entry is again about N(0, 1) and rewards are
      linear in the arm features; drift then moves ``M``.
    """

    def __init__(
        self,
        n_actions: int = 10,
        context_dim: int = 16,
        noise_std: float = 0.1,
        drift: float = 0.0,
        available_prob: float = 1.0,
        arm_features: bool = False,
        feature_dim: int = 8,
        num_envs: int = 1,
        problem_seed: int = 0,
    ) -> None:
        if n_actions < 2:
            raise ConfigError(f"env.n_actions: must be >= 2, got {n_actions}")
        if context_dim < 1:
            raise ConfigError(f"env.context_dim: must be >= 1, got {context_dim}")
        if not noise_std >= 0:
            raise ConfigError(f"env.noise_std: must be >= 0, got {noise_std}")
        if not 0.0 <= drift < 1.0:
            raise ConfigError(f"env.drift: must be in [0, 1), got {drift}")
        if not 0.0 < available_prob <= 1.0:
            raise ConfigError(f"env.available_prob: must be in (0, 1], got {available_prob}")
        if arm_features and feature_dim < 1:
            raise ConfigError(f"env.feature_dim: must be >= 1, got {feature_dim}")
        self.name = "synthetic-linear"
        self.n_actions, self.context_dim = int(n_actions), int(context_dim)
        self.noise_std, self.drift = float(noise_std), float(drift)
        self.available_prob = float(available_prob)
        self.arm_features, self.feature_dim = bool(arm_features), int(feature_dim)
        self.problem_seed = int(problem_seed)
        problem = np.random.default_rng(problem_seed)
        features = None
        self._E: np.ndarray | None = None
        self._M: np.ndarray
        if arm_features:
            self._E = problem.standard_normal((n_actions, feature_dim)) / np.sqrt(feature_dim)
            self._M = problem.standard_normal((feature_dim, context_dim))
            features = torch.from_numpy(self._E.astype(np.float32))
        else:
            self._M = problem.standard_normal((n_actions, context_dim))
        super().__init__(self.n_actions, self.context_dim, num_envs, features)
        self._x = np.zeros((self.num_envs, self.context_dim), dtype=np.float32)

    def sync_problem(self, source: SyntheticLinearBandit) -> None:
        """Take ``source``'s current (drifted) problem and hold it still: evaluation
        environments follow the training environment's drift, so a greedy evaluation scores the
        problem as it is now (and this env stops drifting on its own)."""
        if source._M.shape != self._M.shape:
            raise InputError("source", "another problem's shape: cannot follow its drift")
        self._M = source._M.copy()
        self.drift = 0.0

    @property
    def weights(self) -> np.ndarray:
        """The current arm weights ``W [K, d]`` (a copy)."""
        return self._M.copy() if self._E is None else np.asarray(self._E @ self._M)

    def mean_rewards(self) -> np.ndarray:
        """Expected rewards ``mu [B, K]`` of the current contexts (float64)."""
        return np.asarray(self._x.astype(np.float64) @ self.weights.T)

    def optimal_action(self) -> np.ndarray:
        """The best available arm ``[B]`` for each current context."""
        mu = self.mean_rewards()
        if self._mask is not None:
            mu = np.where(self._mask, mu, -np.inf)
        return np.asarray(mu.argmax(axis=1))

    def _draw(self) -> np.ndarray:
        b, k = self.num_envs, self.n_actions
        x = self._stream("contexts").standard_normal((b, self.context_dim)) / np.sqrt(
            self.context_dim
        )
        self._x = x.astype(np.float32)
        if self.available_prob < 1.0:
            rng = self._stream("available")
            mask = rng.random((b, k)) < self.available_prob
            empty = np.flatnonzero(~mask.any(axis=1))
            if empty.size:
                mask[empty, rng.integers(k, size=empty.size)] = True
            self._mask = mask
            self.available = self._available()
        return self._x.copy()

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Draw the first ``[B, d]`` contexts (and availability); the problem ``W`` is kept."""
        self._reseed(seed)
        return self._draw()

    def step(self, action: Any) -> ActionResult:
        a = self._check_action(action)
        mu = self.mean_rewards()
        best = mu.max(axis=1) if self._mask is None else np.where(self._mask, mu, -np.inf).max(1)
        chosen = mu[self._batch, a]
        reward = chosen
        if self.noise_std > 0:
            reward = chosen + self.noise_std * self._stream("noise").standard_normal(self.num_envs)
        if self.drift > 0:
            rho = self.drift
            self._M = np.sqrt(1.0 - rho * rho) * self._M + rho * self._stream(
                "drift"
            ).standard_normal(self._M.shape)
        obs = self._draw()
        return self._result(obs, reward, best - chosen)

    def _problem(self) -> list[Any]:
        return [self.n_actions, self.context_dim, self.noise_std, self.drift,
                self.available_prob, self.arm_features, self.feature_dim, self.problem_seed]

    def get_state(self) -> dict[str, Any]:
        """JSON-able state (streams, drifted weights, current contexts and mask)."""
        return {
            "kind": "SyntheticLinearBandit",
            "problem": self._problem(),
            "num_envs": self.num_envs,
            "rngs": self._rng_state(),
            "weights": self._M.tolist(),
            "contexts": self._x.tolist(),
            "mask": None if self._mask is None else self._mask.tolist(),
        }

    def set_state(self, state: dict[str, Any]) -> bool:
        """Restore :meth:`get_state`'s output; False (and no change) if it is another env's."""
        try:
            if state["kind"] != "SyntheticLinearBandit" or state["num_envs"] != self.num_envs or (
                list(state["problem"]) != self._problem()
            ):
                return False
            rngs = self._rngs_from(state["rngs"])
            weights = np.asarray(state["weights"], dtype=np.float64)
            x = np.asarray(state["contexts"], dtype=np.float32)
            mask = None if state["mask"] is None else np.asarray(state["mask"], dtype=np.bool_)
        except (KeyError, TypeError, ValueError, AttributeError):
            return False
        b, k = self.num_envs, self.n_actions
        # A mask exists exactly when arms can be unavailable and the env has been reset.
        wants_mask = self.available_prob < 1.0 and rngs is not None
        if weights.shape != self._M.shape or x.shape != (b, self.context_dim) or (
            (mask is not None) != wants_mask
        ) or (mask is not None and (mask.shape != (b, k) or not mask.any(axis=1).all())):
            return False
        self._rngs, self._M, self._x, self._mask = rngs, weights, x, mask
        self.available = self._available()
        return True
