"""Bootstrap intervals for bandit off-policy estimates that refit the reward model on every
resample.

:func:`nacre.eval.ope.bootstrap_bandit` redraws the logged rows with the reward model ``q̂``
held fixed, so the intervals of DM, DR and switch-DR leave out the model's own estimation
error: the error DM is made of, and the one switch-DR keeps on the rows it hands to the model.
:func:`bootstrap_bandit_refit` repeats the whole procedure on each resample instead (Efron &
Tibshirani 1993: bootstrap all that was done to the data, the model fit included), with
cross-fitting as in ``nacre ope``: the logged rows are split into ``folds`` folds, and the rows
of each fold are scored by a model fitted on the rows of the other folds only (Chernozhukov et
al. 2018, "Double/debiased machine learning"). In a resample the folds are drawn at random per
resample over the *original* rows, so the copies of a row drawn twice stay in one fold and no
row is ever scored by a model fitted on a copy of itself.

The reward model is any ``fit_q(obs, action, reward, rows) -> q̂ [N, A]``: fitted on the logged
rows ``rows`` (indices, repeated as drawn), it predicts every logged row. :func:`ridge_q` is
the one ``nacre ope`` uses (a ridge regression of reward on ``[obs, 1]`` per action);
:func:`cross_fit` gives the point estimate's ``q̂`` from any ``fit_q``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nacre.errors import InputError
from nacre.eval.ope import (
    BanditEstimator,
    Estimate,
    FloatArray,
    Seed,
    bandit_inputs,
    bandit_terms,
    bootstrap_rng,
    percentile_interval,
    ratio_of_sums,
    reward_model,
)

FitQ = Callable[[NDArray[Any], NDArray[np.int64], FloatArray, NDArray[np.int64]], NDArray[Any]]
"""``fit_q(obs, action, reward, rows) -> q̂ [N, A]``: a reward model fitted on the logged rows
``rows`` (indices into the log, a row repeated as often as it was drawn) and its predictions
for all ``N`` logged rows. It must be deterministic for the bootstrap to be seeded."""


def ridge_q(n_actions: int, alpha: float = 1.0) -> FitQ:
    """A ridge regression of reward on ``[obs, 1]`` per action (penalty ``alpha``), the reward
    model of ``nacre ope``, as a :data:`FitQ`. An action with no row to fit on predicts 0.

    The ``A`` small normal equations are solved as one batch.
    """
    if isinstance(n_actions, bool) or not isinstance(n_actions, int) or n_actions < 1:
        raise InputError("n_actions", f"must be an integer >= 1, got {n_actions!r}")
    if not alpha > 0:
        raise InputError("alpha", f"must be > 0 (the normal equations need it), got {alpha}")

    def fit(obs: NDArray[Any], action: NDArray[np.int64], reward: FloatArray,
            rows: NDArray[np.int64]) -> FloatArray:
        x = np.concatenate([np.asarray(obs, dtype=np.float64).reshape(len(obs), -1),
                            np.ones((len(obs), 1))], axis=1)
        xr, ar, rr, p = x[rows], action[rows], reward[rows], x.shape[1]
        gram = np.tile(alpha * np.eye(p), (n_actions, 1, 1))
        rhs = np.zeros((n_actions, p))
        for k in range(n_actions):  # masks and small products: faster than one-hot products
            xa = xr[ar == k]
            gram[k] += xa.T @ xa
            rhs[k] = xa.T @ rr[ar == k]
        q: FloatArray = x @ np.linalg.solve(gram, rhs[:, :, None])[:, :, 0].T
        return q

    return fit


def cross_fit(obs: ArrayLike, action: ArrayLike, reward: ArrayLike, fit_q: FitQ,
              folds: int = 2) -> FloatArray:
    """``q̂ [N, A]`` with row ``i`` in fold ``i % folds`` scored by ``fit_q`` fitted on the
    rows of the other folds (with :func:`ridge_q` and two folds, ``nacre ope``'s model)."""
    x, a, r = _log(obs, action, reward)
    fold = np.arange(len(r)) % _folds(folds, len(r))
    return _cross_fitted(x, a, r, fit_q, fold, np.arange(len(r)), folds)


def bootstrap_bandit_refit(names: Sequence[BanditEstimator], reward: ArrayLike,
                           action: ArrayLike, propensity: ArrayLike, target: ArrayLike,
                           obs: ArrayLike, fit_q: FitQ, q_hat: ArrayLike | None = None, *,
                           folds: int = 2, clip: float = np.inf, tau: float = np.inf,
                           resamples: int = 2000, confidence: float = 0.95,
                           seed: Seed = 0) -> dict[str, Estimate]:
    """The estimators ``names`` with percentile bootstrap intervals that refit the reward
    model, cross-fitted, on every resample; ``{name: Estimate}``.

    The point estimates are those of :func:`nacre.eval.ope.bootstrap_bandit` on ``q_hat``
    (default :func:`cross_fit` of ``fit_q`` with ``folds``); only the intervals change. Each
    resample redraws the ``N`` rows with replacement, splits the original rows into ``folds``
    random folds, fits ``fit_q`` once per fold on the drawn rows of the other folds, and
    evaluates every estimator in ``names`` on those predictions, so asking for DM, DR and
    switch-DR together costs one set of fits. ``clip`` applies to IPS and DR, ``tau`` to
    switch-DR, as in ``bootstrap_bandit``; IPS and SNIPS do not use the model (their intervals
    are the usual ones). ``obs`` ``[N, ...]`` is passed to ``fit_q`` as given. Costs
    ``resamples × folds`` calls of ``fit_q``; seeded when ``fit_q`` is deterministic.
    """
    r, a, w, pi_e = bandit_inputs(reward, action, propensity, target)
    x, _, _ = _log(obs, a, r)
    n = pi_e.shape[0]
    k_folds = _folds(folds, n)
    if len(names) == 0 or len(set(names)) != len(names):
        raise InputError("names", f"expected distinct estimator names, got {list(names)}")
    rng = bootstrap_rng(resamples, confidence, seed)
    if q_hat is None:
        q_hat = cross_fit(x, a, r, fit_q, k_folds)
    q0 = reward_model(q_hat, pi_e)
    terms = [bandit_terms(name, r, a, w, pi_e, q0, clip, tau) for name in names]
    values = np.empty((len(names), resamples))
    uses_model = any(name not in ("ips", "snips") for name in names)
    for b in range(resamples):
        draw: NDArray[np.int64] = np.asarray(rng.integers(0, n, size=n), dtype=np.int64)
        fold = rng.permutation(n) % k_folds
        counts = np.bincount(draw, minlength=n).astype(np.float64)
        q = _cross_fitted(x, a, r, fit_q, fold, draw, k_folds) if uses_model else None
        for j, name in enumerate(names):
            num, den = bandit_terms(name, r, a, w, pi_e, q, clip, tau)
            values[j, b] = ratio_of_sums(counts @ num, counts @ den)
    out: dict[str, Estimate] = {}
    for j, name in enumerate(names):
        low, high = percentile_interval(values[j], confidence)
        num, den = terms[j]
        value = float(ratio_of_sums(num.sum(axis=0), den.sum(axis=0)))
        out[name] = Estimate(name, value, low, high, n, confidence, resamples)
    return out


def bootstrap_difference_refit(name: BanditEstimator, reward: ArrayLike, action: ArrayLike,
                               propensity: ArrayLike, target: ArrayLike, baseline: ArrayLike,
                               obs: ArrayLike, fit_q: FitQ, *, folds: int = 2,
                               clip: float = np.inf, tau: float = np.inf,
                               resamples: int = 2000, confidence: float = 0.95,
                               seed: Seed = 0) -> Estimate:
    """The estimate of ``V(target) − V(baseline)`` on one log, with a paired interval.

    Both policies are scored on the same resampled rows with the same refitted reward model
    (as in :func:`bootstrap_bandit_refit`), so what the two estimates share — the draw of the
    log, the model's error — cancels in the difference rather than widening its interval: the
    interval of a difference is far tighter than the two separate intervals suggest. This is
    the comparison a promotion gate needs (:mod:`nacre.serve.promote`).
    """
    r, a, w_t, pi_t = bandit_inputs(reward, action, propensity, target)
    _, _, w_b, pi_b = bandit_inputs(r, a, propensity, baseline)
    x, _, _ = _log(obs, a, r)
    n = len(r)
    k_folds = _folds(folds, n)
    rng = bootstrap_rng(resamples, confidence, seed)

    def difference(q: FloatArray | None, counts: FloatArray) -> float:
        num_t, den_t = bandit_terms(name, r, a, w_t, pi_t, q, clip, tau)
        num_b, den_b = bandit_terms(name, r, a, w_b, pi_b, q, clip, tau)
        return float(ratio_of_sums(counts @ num_t, counts @ den_t)
                     - ratio_of_sums(counts @ num_b, counts @ den_b))

    uses_model = name not in ("ips", "snips")
    q0 = cross_fit(x, a, r, fit_q, k_folds) if uses_model else None
    values = np.empty(resamples)
    for b in range(resamples):
        draw: NDArray[np.int64] = np.asarray(rng.integers(0, n, size=n), dtype=np.int64)
        fold = rng.permutation(n) % k_folds
        q = _cross_fitted(x, a, r, fit_q, fold, draw, k_folds) if uses_model else None
        values[b] = difference(q, np.bincount(draw, minlength=n).astype(np.float64))
    low, high = percentile_interval(values, confidence)
    return Estimate(f"{name}_difference", difference(q0, np.ones(n)), low, high, n,
                    confidence, resamples)


def _log(obs: ArrayLike, action: ArrayLike, reward: ArrayLike,
         ) -> tuple[NDArray[Any], NDArray[np.int64], FloatArray]:
    r = np.asarray(reward, dtype=np.float64)
    a = np.asarray(action)
    x = np.asarray(obs)
    if r.ndim != 1 or r.shape[0] == 0:
        raise InputError("reward", f"expected a non-empty 1-D array, got shape {list(r.shape)}")
    if not np.isfinite(r).all():
        raise InputError("reward", "contains NaN or inf")
    if a.shape != r.shape or not np.issubdtype(a.dtype, np.integer):
        raise InputError("action", f"expected {r.shape[0]} integer action indices, got shape "
                                   f"{list(a.shape)} of {a.dtype}")
    if x.ndim == 0 or x.shape[0] != r.shape[0]:
        raise InputError("obs", f"expected one row per logged decision ({r.shape[0]}), got "
                                f"shape {list(x.shape)}")
    return x, a.astype(np.int64), r


def _folds(folds: int, n: int) -> int:
    if isinstance(folds, bool) or not isinstance(folds, int) or not 2 <= folds <= n:
        raise InputError("folds", f"must be an integer in [2, {n}] (the rows), got {folds!r}")
    return folds


def _cross_fitted(x: NDArray[Any], a: NDArray[np.int64], r: FloatArray, fit_q: FitQ,
                  fold: NDArray[np.int64], draw: NDArray[np.int64], folds: int) -> FloatArray:
    """``q̂ [N, A]``: the rows of fold ``f`` scored by ``fit_q`` fitted on the drawn rows
    (``draw``, indices with repeats) whose original row is in another fold."""
    q: FloatArray | None = None
    for f in range(folds):
        pred = np.asarray(fit_q(x, a, r, draw[fold[draw] != f]), dtype=np.float64)
        if pred.ndim != 2 or pred.shape[0] != len(r) or not np.isfinite(pred).all():
            raise InputError("fit_q", f"must return finite predictions [{len(r)}, A] for every "
                                      f"logged row, got shape {list(pred.shape)}")
        if q is None:
            q = np.empty_like(pred)
        scored = fold == f
        q[scored] = pred[scored]
    assert q is not None
    return q


__all__ = ["FitQ", "bootstrap_bandit_refit", "bootstrap_difference_refit", "cross_fit", "ridge_q"]
