"""Statistics of returns across runs (numpy only): interquartile mean and bootstrap intervals.

Follows the rliable recipe (Agarwal et al. 2021, "Deep RL at the Edge of the Statistical
Precipice"): the interquartile mean (IQM) of run scores, and percentile confidence intervals from
a *stratified* bootstrap, i.e. runs are resampled with replacement independently within each task.
With a single task (one column) this is the ordinary bootstrap over runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

Aggregate = Callable[[NDArray[np.float64]], float]


def iqm(scores: ArrayLike) -> float:
    """Interquartile mean: the mean of the middle 50% of all scores.

    Like ``scipy.stats.trim_mean(x, 0.25)`` (what rliable uses): ``floor(0.25 * n)`` values are
    cut from each end of the sorted scores, so for n < 4 nothing is cut and IQM equals the mean.
    """
    x = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    n = x.size
    if n == 0:
        raise ValueError("iqm of an empty sample")
    k = int(np.floor(0.25 * n))
    return float(x[k : n - k].mean())


def mean(scores: ArrayLike) -> float:
    return float(np.mean(np.asarray(scores, dtype=np.float64)))


def stratified_bootstrap_ci(
    scores: ArrayLike,
    aggregate: Aggregate,
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(point, low, high)``: the aggregate and its percentile bootstrap interval.

    ``scores`` is ``[runs]`` or ``[runs, tasks]``; each resample draws ``runs`` indices with
    replacement independently for every task column (stratified by task), then applies
    ``aggregate`` to all resampled scores together.
    """
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"expected scores of shape [runs] or [runs, tasks], got {x.shape}")
    runs, tasks = x.shape
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, runs, size=(resamples, runs, tasks))
    cols = np.arange(tasks)[None, None, :]
    samples = x[idx, cols]  # [resamples, runs, tasks]
    stats = np.array([aggregate(s) for s in samples])
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(stats, [100 * alpha, 100 * (1 - alpha)])
    return aggregate(x), float(low), float(high)


def summarize_returns(
    returns: Sequence[float], *, threshold: float | None = None, resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean and IQM with 95% stratified-bootstrap CIs (and the fraction of runs ≥ threshold)."""
    m, m_lo, m_hi = stratified_bootstrap_ci(returns, mean, resamples=resamples, seed=seed)
    q, q_lo, q_hi = stratified_bootstrap_ci(returns, iqm, resamples=resamples, seed=seed)
    out: dict[str, Any] = {
        "n": len(returns),
        "mean": m,
        "mean_ci95": [m_lo, m_hi],
        "iqm": q,
        "iqm_ci95": [q_lo, q_hi],
        "bootstrap_resamples": resamples,
        "bootstrap_seed": seed,
    }
    if threshold is not None:
        out["threshold"] = threshold
        out["fraction_ge_threshold"] = float(np.mean(np.asarray(returns) >= threshold))
    return out


__all__ = ["iqm", "mean", "stratified_bootstrap_ci", "summarize_returns"]
