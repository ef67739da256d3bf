"""Off-policy evaluation: the value of a policy estimated from data another policy logged.

Contextual bandits (one decision per row):

- inverse propensity scoring, IPS (Horvitz & Thompson 1952; in bandits Li et al. 2011), with
  optional weight clipping;
- self-normalised IPS, SNIPS (Swaminathan & Joachims 2015, "The Self-Normalized Estimator for
  Counterfactual Learning");
- the direct method, DM: the average of a reward model over the target policy's actions;
- doubly robust, DR (Dudík, Langford & Li 2011), with optional weight clipping (Su et al. 2020
  call the clipped form DR with pessimistic shrinkage);
- switch-DR (Wang, Agarwal & Dudík 2017): DR on rows whose weight is at most ``tau``, DM alone
  on the others.

Their definitions are those of Open Bandit Pipeline 0.5 (Saito et al. 2021), so the numbers
agree with it on the same inputs (``benchmarks/ope_vs_obp.py`` checks this).

Sequential logs (episodes): per-decision importance sampling, PDIS, and its weighted form,
WPDIS (Precup, Sutton & Singh 2000, "Eligibility Traces for Off-Policy Policy Evaluation"; the
per-step normalisation of WPDIS as in Thomas 2015, "Safe Reinforcement Learning", PhD thesis).

Every estimator here is a ratio of sums, ``V = Σ_t (Σ_i num[i, t]) / (Σ_i den[i, t])`` over
rows or episodes ``i`` (bandits have one column ``t``), so a bootstrap resample (Efron &
Tibshirani 1993) is a vector of counts ``c`` and its estimate ``Σ_t (c @ num)_t / (c @ den)_t``:
two matrix products per block of resamples instead of a Python loop over them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nacre.errors import InputError

FloatArray = NDArray[np.float64]
BanditEstimator = Literal["ips", "snips", "dm", "dr", "switch_dr"]
SequentialEstimator = Literal["pdis", "wpdis"]
Seed = int | np.random.Generator

_BLOCK_CELLS = 1 << 21  # counts entries per block of resamples: 16 MiB of float64
_ROW_SUM_TOL = 1e-6


@dataclass(frozen=True)
class Estimate:
    """A policy value estimate with its percentile bootstrap interval.

    ``n`` is the number of independent units resampled: rows for bandit logs, episodes for
    sequential ones.
    """

    name: str
    value: float
    low: float
    high: float
    n: int
    confidence: float = 0.95
    resamples: int = 2000

    def to_dict(self) -> dict[str, str | float | int]:
        """Plain fields for JSON reports."""
        return asdict(self)


# -- input checks --------------------------------------------------------------------------


def _floats(field: str, x: ArrayLike, ndim: int, rows: int | None = None) -> FloatArray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(field, f"expected numbers: {exc}") from exc
    if a.ndim != ndim:
        raise InputError(field, f"expected a {ndim}-D array, got shape {list(a.shape)}")
    if rows is not None and a.shape[0] != rows:
        raise InputError(field, f"expected {rows} rows (one per logged decision), "
                                f"got {a.shape[0]}")
    if a.shape[0] == 0:
        raise InputError(field, "is empty")
    if not np.isfinite(a).all():
        raise InputError(field, "contains NaN or inf")
    return a


def _action_index(action: ArrayLike, rows: int, n_actions: int) -> NDArray[np.int64]:
    a = np.asarray(action)
    if a.ndim != 1 or a.shape[0] != rows:
        raise InputError("action", f"expected shape [{rows}], got {list(a.shape)}")
    if not np.issubdtype(a.dtype, np.integer):
        raise InputError("action", f"expected integer action indices, got dtype {a.dtype}")
    if a.min() < 0 or a.max() >= n_actions:
        raise InputError("action", f"indices must lie in [0, {n_actions}) (the columns of "
                                   f"target), got [{a.min()}, {a.max()}]")
    return a.astype(np.int64)


def _distribution(field: str, p: ArrayLike, rows: int | None = None) -> FloatArray:
    a = _floats(field, p, 2, rows)
    if (a < 0).any():
        raise InputError(field, "action probabilities must be >= 0")
    worst = float(np.abs(a.sum(axis=1) - 1.0).max())
    if worst > _ROW_SUM_TOL:
        raise InputError(field, f"each row must sum to 1 (an action distribution); the worst "
                                f"row is off by {worst:.3g}")
    return a


def bandit_inputs(reward: ArrayLike, action: ArrayLike, propensity: ArrayLike,
                  target: ArrayLike) -> tuple[FloatArray, NDArray[np.int64], FloatArray,
                                              FloatArray]:
    """A bandit log, checked: ``(reward, action, the importance weights π_e(a_i|x_i) /
    π_b(a_i|x_i), target)`` (shared with :mod:`nacre.eval.ope_bootstrap`)."""
    r = _floats("reward", reward, 1)
    pi_e = _distribution("target", target, r.shape[0])
    a = _action_index(action, r.shape[0], pi_e.shape[1])
    p = _floats("propensity", propensity, 1, r.shape[0])
    if (p <= 0).any() or (p > 1).any():
        raise InputError("propensity", "the behaviour policy's probabilities of the logged "
                                       "actions must lie in (0, 1]")
    return r, a, pi_e[np.arange(r.shape[0]), a] / p, pi_e


def reward_model(q_hat: ArrayLike | None, target: FloatArray) -> FloatArray:
    """``q_hat`` checked against ``target`` ``[N, A]``."""
    if q_hat is None:
        raise InputError("q_hat", "DM, DR and switch-DR need a reward model's predictions "
                                  "[N, A]")
    q = _floats("q_hat", q_hat, 2, target.shape[0])
    if q.shape != target.shape:
        raise InputError("q_hat", f"expected the shape of target {list(target.shape)}, "
                                  f"got {list(q.shape)}")
    return q


def _model_value(pi_e: FloatArray, q: FloatArray) -> FloatArray:
    """``Σ_a π_e(a|x_i) q̂(x_i, a)`` per row; dividing by the row sum (1 up to rounding) is
    what obp's ``np.average(weights=π_e)`` does."""
    value: FloatArray = (pi_e * q).sum(axis=1) / pi_e.sum(axis=1)
    return value


def _threshold(field: str, value: float) -> float:
    if not value >= 0:  # also refuses NaN
        raise InputError(field, f"must be >= 0 (inf: none), got {value}")
    return float(value)


# -- per-row terms -------------------------------------------------------------------------


def _bandit_terms(name: BanditEstimator, reward: ArrayLike, action: ArrayLike,
                  propensity: ArrayLike, target: ArrayLike, q_hat: ArrayLike | None,
                  clip: float, tau: float) -> tuple[FloatArray, FloatArray]:
    """``(num, den)``, each ``[N, 1]``: the estimate is ``Σ num / Σ den``."""
    return bandit_terms(name, *bandit_inputs(reward, action, propensity, target), q_hat, clip,
                        tau)


def bandit_terms(name: BanditEstimator, r: FloatArray, a: NDArray[np.int64], w: FloatArray,
                 pi_e: FloatArray, q_hat: ArrayLike | None, clip: float,
                 tau: float) -> tuple[FloatArray, FloatArray]:
    """:func:`_bandit_terms` of a log :func:`bandit_inputs` checked."""
    clipped = np.minimum(w, _threshold("clip", clip))
    ones = np.ones_like(r)
    if name == "ips":
        return (clipped * r)[:, None], ones[:, None]
    if name == "snips":
        return (w * r)[:, None], w[:, None]
    q = reward_model(q_hat, pi_e)
    if name not in ("dm", "dr", "switch_dr"):
        raise InputError("name", f"unknown bandit estimator {name!r}; one of ips, snips, dm, "
                                 "dr, switch_dr")
    model_value = _model_value(pi_e, q)
    if name == "dm":
        return model_value[:, None], ones[:, None]
    residual = r - q[np.arange(r.shape[0]), a]
    if name == "dr":
        return (model_value + clipped * residual)[:, None], ones[:, None]
    kept = w <= _threshold("tau", tau)
    return (model_value + np.where(kept, w, 0.0) * residual)[:, None], ones[:, None]


def _episode_terms(name: SequentialEstimator, reward: ArrayLike, ratio: ArrayLike,
                   episode_starts: ArrayLike, gamma: float) -> tuple[FloatArray, FloatArray]:
    """``(num, den)``, each ``[episodes, T]`` (``T`` the longest episode).

    An episode that ended is padded as an absorbing state: reward 0 and ratio 1, so its
    cumulative weight carries forward and it still counts in the normaliser of later steps
    (the usual convention for episodes of different lengths, e.g. Voloshin et al. 2019).
    """
    r = _floats("reward", reward, 1)
    rho = _floats("ratio", ratio, 1, r.shape[0])
    if (rho < 0).any():
        raise InputError("ratio", "π_e(a|s) / π_b(a|s) must be >= 0")
    if not 0.0 <= gamma <= 1.0:
        raise InputError("gamma", f"must lie in [0, 1], got {gamma}")
    starts = np.asarray(episode_starts)
    if starts.ndim != 1 or starts.shape[0] == 0 or not np.issubdtype(starts.dtype, np.integer):
        raise InputError("episode_starts", "expected a non-empty 1-D array of row indices")
    if starts[0] != 0 or (np.diff(starts) <= 0).any() or starts[-1] >= r.shape[0]:
        raise InputError("episode_starts", f"must start at 0 and increase strictly below "
                                           f"{r.shape[0]} (the number of rows)")
    lengths = np.diff(np.append(starts, r.shape[0]))
    episode = np.repeat(np.arange(starts.shape[0]), lengths)
    step = np.arange(r.shape[0]) - starts[episode]
    shape = (starts.shape[0], int(lengths.max()))
    rewards, ratios = np.zeros(shape), np.ones(shape)
    rewards[episode, step], ratios[episode, step] = r, rho
    with np.errstate(over="ignore"):  # ρ_{0:t} = Π_{k ≤ t} π_e(a_k|s_k) / π_b(a_k|s_k)
        weight = np.cumprod(ratios, axis=1, dtype=np.float64)
    if not np.isfinite(weight).all():
        raise InputError("ratio", "the products of ratios over an episode overflow float64; "
                                  "importance sampling cannot work with such weights")
    num: FloatArray = weight * rewards * np.power(float(gamma), np.arange(shape[1]))
    if name == "pdis":  # normalised by the episode count at every step: sum the steps first
        return num.sum(axis=1, keepdims=True), np.ones((shape[0], 1))
    if name == "wpdis":
        return num, weight
    raise InputError("name", f"unknown sequential estimator {name!r}; one of pdis, wpdis")


def ratio_of_sums(num_sum: FloatArray, den_sum: FloatArray) -> FloatArray:
    """``Σ_t num_sum[..., t] / den_sum[..., t]``, a step with no weight contributing 0."""
    safe = np.where(den_sum > 0, den_sum, 1.0)
    total: FloatArray = np.where(den_sum > 0, num_sum / safe, 0.0).sum(axis=-1)
    return total


def _point(num: FloatArray, den: FloatArray) -> float:
    return float(ratio_of_sums(num.sum(axis=0), den.sum(axis=0)))


def bootstrap_rng(resamples: int, confidence: float, seed: Seed) -> np.random.Generator:
    """The generator of a bootstrap, once ``resamples`` and ``confidence`` are checked."""
    if resamples < 1:
        raise InputError("resamples", f"must be >= 1, got {resamples}")
    if not 0.0 < confidence < 1.0:
        raise InputError("confidence", f"must lie in (0, 1), got {confidence}")
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def percentile_interval(values: FloatArray, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` interval of bootstrap ``values`` (percentile method)."""
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(values, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high)


def _bootstrap(name: str, num: FloatArray, den: FloatArray, resamples: int, confidence: float,
               seed: Seed) -> Estimate:
    """Percentile bootstrap over the rows of ``num``/``den`` (resampled with replacement)."""
    rng = bootstrap_rng(resamples, confidence, seed)
    n = num.shape[0]
    block = max(1, _BLOCK_CELLS // n)
    values = []
    for start in range(0, resamples, block):
        b = min(block, resamples - start)
        draws = rng.integers(0, n, size=(b, n)) + n * np.arange(b)[:, None]
        counts = np.bincount(draws.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)
        values.append(ratio_of_sums(counts @ num, counts @ den))
    low, high = percentile_interval(np.concatenate(values), confidence)
    return Estimate(name, _point(num, den), low, high, n, confidence, resamples)


# -- public estimators ---------------------------------------------------------------------


def ips(reward: ArrayLike, action: ArrayLike, propensity: ArrayLike, target: ArrayLike, *,
        clip: float = np.inf) -> float:
    """Inverse propensity scoring: ``mean_i min(w_i, clip) r_i`` with ``w_i = π_e(a_i|x_i) /
    π_b(a_i|x_i)``.

    Unbiased when ``clip`` is inf and the behaviour policy covers the target's actions; its
    variance grows with the weights, which clipping trades for bias. ``reward`` ``[N]``,
    ``action`` ``[N]`` (int), ``propensity`` ``[N]`` (``π_b(a_i|x_i)``), ``target`` ``[N, A]``
    (``π_e(·|x_i)``).

    Example:
        >>> ips([1.0, 0.0], [0, 1], [0.5, 0.5], [[1.0, 0.0], [0.0, 1.0]])
        1.0
    """
    return _point(*_bandit_terms("ips", reward, action, propensity, target, None, clip, np.inf))


def snips(reward: ArrayLike, action: ArrayLike, propensity: ArrayLike,
          target: ArrayLike) -> float:
    """Self-normalised IPS: ``Σ w_i r_i / Σ w_i``.

    Slightly biased but bounded by the rewards' range and usually far less variable than IPS,
    since an unlucky draw of large weights also inflates the normaliser. Arguments as
    :func:`ips`.
    """
    num, den = _bandit_terms("snips", reward, action, propensity, target, None, np.inf, np.inf)
    if den.sum() <= 0:
        raise InputError("target", "gives probability 0 to every logged action: there is "
                                   "nothing to self-normalise")
    return _point(num, den)


def dm(target: ArrayLike, q_hat: ArrayLike) -> float:
    """Direct method: ``mean_i Σ_a π_e(a|x_i) q̂(x_i, a)``.

    Low variance, and as biased as the reward model ``q_hat`` ``[N, A]`` is wrong; it ignores
    the logged rewards.
    """
    pi_e = _distribution("target", target)
    return float(_model_value(pi_e, reward_model(q_hat, pi_e)).mean())


def dr(reward: ArrayLike, action: ArrayLike, propensity: ArrayLike, target: ArrayLike,
       q_hat: ArrayLike, *, clip: float = np.inf) -> float:
    """Doubly robust: ``mean_i [Σ_a π_e(a|x_i) q̂(x_i, a) + min(w_i, clip) (r_i − q̂(x_i,
    a_i))]``.

    Unbiased when either the propensities or the reward model are right, and less variable
    than IPS when the model is good: the weights only correct the model's residuals.
    ``clip`` < inf bounds the weights (obp's ``lambda_``). Arguments as :func:`ips` and
    :func:`dm`.
    """
    return _point(*_bandit_terms("dr", reward, action, propensity, target, q_hat, clip, np.inf))


def switch_dr(reward: ArrayLike, action: ArrayLike, propensity: ArrayLike, target: ArrayLike,
              q_hat: ArrayLike, tau: float) -> float:
    """Switch-DR: DR's correction only on rows with ``w_i ≤ tau``, the reward model alone on
    the rest.

    Rows with huge weights carry most of DR's variance; switching them to the model trades
    that variance for the model's bias there. ``tau = inf`` is DR, ``tau = 0`` is DM.
    """
    return _point(*_bandit_terms("switch_dr", reward, action, propensity, target, q_hat,
                                 np.inf, tau))


def pdis(reward: ArrayLike, ratio: ArrayLike, episode_starts: ArrayLike, gamma: float) -> float:
    """Per-decision importance sampling: ``mean_i Σ_t γ^t ρ^i_{0:t} r^i_t``.

    Each reward is weighted by the ratios of the decisions before it only, not the whole
    episode's, which keeps it unbiased with less variance than whole-trajectory IS.
    ``reward`` and ``ratio`` (``π_e(a_t|s_t) / π_b(a_t|s_t)``) are ``[N]`` rows of
    consecutive episodes; ``episode_starts`` the row index where each episode begins.
    """
    return _point(*_episode_terms("pdis", reward, ratio, episode_starts, gamma))


def wpdis(reward: ArrayLike, ratio: ArrayLike, episode_starts: ArrayLike,
          gamma: float) -> float:
    """Weighted per-decision importance sampling: ``Σ_t γ^t Σ_i ρ^i_{0:t} r^i_t / Σ_i
    ρ^i_{0:t}``.

    Normalising each step by its total weight makes it biased but consistent, and much less
    variable than PDIS when the weights are large. Arguments as :func:`pdis`.
    """
    return _point(*_episode_terms("wpdis", reward, ratio, episode_starts, gamma))


def bootstrap_bandit(name: BanditEstimator, reward: ArrayLike, action: ArrayLike,
                     propensity: ArrayLike, target: ArrayLike, q_hat: ArrayLike | None = None,
                     *, clip: float = np.inf, tau: float = np.inf, resamples: int = 2000,
                     confidence: float = 0.95, seed: Seed = 0) -> Estimate:
    """Estimator ``name`` with a percentile bootstrap interval over logged rows.

    Each resample redraws the N rows with replacement and recomputes the estimator in full
    (SNIPS renormalises within the resample), so the interval reflects the estimator's own
    sampling spread; the reward model ``q_hat`` is held fixed (``bootstrap_bandit_refit`` of
    :mod:`nacre.eval.ope_bootstrap` refits it). Seeded: the same ``seed`` gives the same
    interval.
    """
    num, den = _bandit_terms(name, reward, action, propensity, target, q_hat, clip, tau)
    if name == "snips" and den.sum() <= 0:
        raise InputError("target", "gives probability 0 to every logged action")
    return _bootstrap(name, num, den, resamples, confidence, seed)


def bootstrap_sequential(name: SequentialEstimator, reward: ArrayLike, ratio: ArrayLike,
                         episode_starts: ArrayLike, gamma: float, *, resamples: int = 2000,
                         confidence: float = 0.95, seed: Seed = 0) -> Estimate:
    """Estimator ``name`` (``pdis`` or ``wpdis``) with a percentile bootstrap interval over
    whole episodes: steps within an episode are dependent, so episodes are the unit drawn."""
    num, den = _episode_terms(name, reward, ratio, episode_starts, gamma)
    return _bootstrap(name, num, den, resamples, confidence, seed)


__all__ = [
    "BanditEstimator", "Estimate", "SequentialEstimator", "bootstrap_bandit",
    "bootstrap_sequential", "dm", "dr", "ips", "pdis", "snips", "switch_dr", "wpdis",
]
