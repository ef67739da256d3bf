"""Off-policy estimators against numbers computed by hand, their bootstrap intervals, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nacre.errors import InputError
from nacre.eval import ope, ope_bootstrap

# Four logged decisions, two actions.
REWARD = np.array([1.0, 0.0, 1.0, 0.5])
ACTION = np.array([0, 1, 1, 0])
PROPENSITY = np.array([0.5, 0.25, 0.75, 0.5])
TARGET = np.array([[0.8, 0.2], [0.5, 0.5], [0.1, 0.9], [1.0, 0.0]])
Q_HAT = np.array([[0.6, 0.2], [0.4, 0.3], [0.5, 0.7], [0.5, 0.1]])
LOG = (REWARD, ACTION, PROPENSITY, TARGET)
# weights w = π_e(a|x) / π_b(a|x): 0.8/0.5 = 1.6, 0.5/0.25 = 2, 0.9/0.75 = 1.2, 1/0.5 = 2
# model values Σ_a π_e q̂: 0.48 + 0.04 = 0.52, 0.2 + 0.15 = 0.35, 0.05 + 0.63 = 0.68, 0.5
# residuals r − q̂(x, a): 1 − 0.6 = 0.4, 0 − 0.3 = −0.3, 1 − 0.7 = 0.3, 0.5 − 0.5 = 0


def test_ips_by_hand() -> None:
    # w·r = 1.6, 0, 1.2, 1.0 → 3.8 / 4
    assert ope.ips(*LOG) == pytest.approx(0.95)


def test_clipped_ips_by_hand() -> None:
    # min(w, 1.5) = 1.5, 1.5, 1.2, 1.5; times r = 1.5, 0, 1.2, 0.75 → 3.45 / 4
    assert ope.ips(*LOG, clip=1.5) == pytest.approx(0.8625)


def test_snips_by_hand() -> None:
    # Σ w r / Σ w = 3.8 / (1.6 + 2 + 1.2 + 2)
    assert ope.snips(*LOG) == pytest.approx(3.8 / 6.8)


def test_dm_by_hand() -> None:
    # (0.52 + 0.35 + 0.68 + 0.5) / 4
    assert ope.dm(TARGET, Q_HAT) == pytest.approx(0.5125)


def test_dr_by_hand() -> None:
    # 0.52 + 1.6·0.4 = 1.16, 0.35 + 2·(−0.3) = −0.25, 0.68 + 1.2·0.3 = 1.04, 0.5 → 2.45 / 4
    assert ope.dr(*LOG, Q_HAT) == pytest.approx(0.6125)


def test_clipped_dr_by_hand() -> None:
    # 0.52 + 1.5·0.4 = 1.12, 0.35 + 1.5·(−0.3) = −0.1, 1.04, 0.5 → 2.56 / 4
    assert ope.dr(*LOG, Q_HAT, clip=1.5) == pytest.approx(0.64)


def test_switch_dr_by_hand() -> None:
    # only row 3 (w = 1.2) keeps its correction: 0.52 + 0.35 + 1.04 + 0.5 = 2.41 → / 4
    assert ope.switch_dr(*LOG, Q_HAT, tau=1.5) == pytest.approx(0.6025)
    assert ope.switch_dr(*LOG, Q_HAT, tau=np.inf) == pytest.approx(ope.dr(*LOG, Q_HAT))
    assert ope.switch_dr(*LOG, Q_HAT, tau=0.0) == pytest.approx(ope.dm(TARGET, Q_HAT))


def test_on_policy_ips_is_the_mean_reward() -> None:
    # when π_e = π_b every weight is 1
    target = np.array([[0.5, 0.5]] * 4)
    assert ope.ips(REWARD, ACTION, np.full(4, 0.5), target) == pytest.approx(REWARD.mean())


# Two episodes, γ = 0.5. A: rewards 1, 2, 4 with ratios 2, 0.5, 1; B: rewards 3, 1 with ratios
# 0.5, 4. Cumulative weights ρ_{0:t}: A 2, 1, 1; B 0.5, 2 (then 2 carried past its end).
EPISODES = (np.array([1.0, 2.0, 4.0, 3.0, 1.0]), np.array([2.0, 0.5, 1.0, 0.5, 4.0]),
             np.array([0, 3]), 0.5)


def test_pdis_by_hand() -> None:
    # A: 2·1 + 0.5·1·2 + 0.25·1·4 = 4; B: 0.5·3 + 0.5·2·1 = 2.5 → (4 + 2.5) / 2
    assert ope.pdis(*EPISODES) == pytest.approx(3.25)


def test_wpdis_by_hand() -> None:
    # t=0: (2·1 + 0.5·3) / (2 + 0.5) = 1.4
    # t=1: 0.5 · (1·2 + 2·1) / (1 + 2) = 2/3
    # t=2: 0.25 · (1·4 + 2·0) / (1 + 2) = 1/3      (B has ended: reward 0, weight 2)
    assert ope.wpdis(*EPISODES) == pytest.approx(1.4 + 2 / 3 + 1 / 3)


def test_sequential_on_policy_is_the_mean_discounted_return() -> None:
    reward, _, starts, gamma = EPISODES
    ones = np.ones_like(reward)
    returns = [1 + 0.5 * 2 + 0.25 * 4, 3 + 0.5 * 1]
    assert ope.pdis(reward, ones, starts, gamma) == pytest.approx(np.mean(returns))
    assert ope.wpdis(reward, ones, starts, gamma) == pytest.approx(np.mean(returns))


def _bandit_log(n: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    behaviour = rng.dirichlet(np.ones(3), size=n) * 0.7 + 0.1
    action = np.array([rng.choice(3, p=p) for p in behaviour])
    target = rng.dirichlet(np.ones(3), size=n)
    reward = rng.binomial(1, 0.2 + 0.2 * action).astype(float)
    q_hat = np.tile([0.2, 0.4, 0.6], (n, 1))
    return reward, action, behaviour[np.arange(n), action], target, q_hat


@pytest.mark.parametrize("name", ["ips", "snips", "dm", "dr", "switch_dr"])
def test_bandit_interval_contains_the_estimate_and_narrows_with_n(name: str) -> None:
    small = ope.bootstrap_bandit(name, *_bandit_log(200, 0), tau=2.0)
    large = ope.bootstrap_bandit(name, *_bandit_log(5000, 0), tau=2.0)
    for est in (small, large):
        assert est.low <= est.value <= est.high
        assert est.name == name and est.resamples == 2000
    assert (small.n, large.n) == (200, 5000)
    assert large.high - large.low < 0.5 * (small.high - small.low)


def test_bandit_point_estimates_match_the_plain_functions() -> None:
    reward, action, propensity, target, q_hat = _bandit_log(300, 1)
    log = (reward, action, propensity, target)
    expected = {"ips": ope.ips(*log), "snips": ope.snips(*log), "dm": ope.dm(target, q_hat),
                "dr": ope.dr(*log, q_hat), "switch_dr": ope.switch_dr(*log, q_hat, tau=3.0)}
    for name, value in expected.items():
        est = ope.bootstrap_bandit(name, *log, q_hat, tau=3.0, resamples=10)  # type: ignore[arg-type]
        assert est.value == pytest.approx(value, rel=1e-12)


def test_bootstrap_recomputes_snips_in_each_resample() -> None:
    # the vectorised resampling equals a plain loop over the same draws
    reward, action, propensity, target, _ = _bandit_log(50, 2)
    est = ope.bootstrap_bandit("snips", reward, action, propensity, target, resamples=300,
                               seed=7)
    draws = np.random.default_rng(7).integers(0, 50, size=(300, 50))
    values = [ope.snips(reward[i], action[i], propensity[i], target[i]) for i in draws]
    low, high = np.percentile(values, [2.5, 97.5])
    assert (est.low, est.high) == pytest.approx((low, high), rel=1e-12)


def test_bootstrap_resamples_whole_episodes() -> None:
    reward, ratio, starts, gamma = EPISODES
    est = ope.bootstrap_sequential("wpdis", *EPISODES, resamples=500, seed=3)
    assert est.n == 2 and est.value == pytest.approx(ope.wpdis(*EPISODES))
    episodes = [np.arange(0, 3), np.arange(3, 5)]
    values = []
    for pick in np.random.default_rng(3).integers(0, 2, size=(500, 2)):
        rows = np.concatenate([episodes[e] for e in pick])
        new_starts = np.array([0, len(episodes[pick[0]])])
        values.append(ope.wpdis(reward[rows], ratio[rows], new_starts, gamma))
    low, high = np.percentile(values, [2.5, 97.5])
    assert (est.low, est.high) == pytest.approx((low, high), rel=1e-12)
    assert est.low <= est.value <= est.high


def test_pdis_interval_narrows_with_more_episodes() -> None:
    rng = np.random.default_rng(0)

    def log(episodes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        lengths = rng.integers(3, 8, size=episodes)
        n = int(lengths.sum())
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        return rng.uniform(size=n), rng.uniform(0.5, 1.5, size=n), starts, 0.9

    small = ope.bootstrap_sequential("pdis", *log(50))
    large = ope.bootstrap_sequential("pdis", *log(2000))
    assert small.low <= small.value <= small.high and large.low <= large.value <= large.high
    assert large.high - large.low < 0.5 * (small.high - small.low)


def test_bootstrap_is_seeded() -> None:
    log = _bandit_log(100, 4)
    a = ope.bootstrap_bandit("dr", *log, seed=11)
    b = ope.bootstrap_bandit("dr", *log, seed=11)
    c = ope.bootstrap_bandit("dr", *log, seed=12)
    d = ope.bootstrap_bandit("dr", *log, seed=np.random.default_rng(11))
    assert a == b == d and a != c


def test_bootstrap_in_blocks_matches_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    log = _bandit_log(100, 5)
    whole = ope.bootstrap_bandit("ips", *log, resamples=100, seed=1)
    monkeypatch.setattr(ope, "_BLOCK_CELLS", 700)  # 7 resamples per block
    assert ope.bootstrap_bandit("ips", *log, resamples=100, seed=1) == whole


def test_estimate_to_dict_is_json() -> None:
    est = ope.bootstrap_bandit("ips", *LOG, resamples=50, confidence=0.9)
    out = json.loads(json.dumps(est.to_dict()))
    assert out == {"name": "ips", "value": est.value, "low": est.low, "high": est.high,
                   "n": 4, "confidence": 0.9, "resamples": 50}


def test_constant_rows_give_a_zero_width_interval() -> None:
    est = ope.bootstrap_bandit("dm", np.ones(5), np.zeros(5, int), np.ones(5),
                               np.tile([1.0, 0.0], (5, 1)), np.tile([0.3, 0.9], (5, 1)))
    assert est.low == est.value == est.high == pytest.approx(0.3)


@pytest.mark.parametrize(("change", "field"), [
    ({"reward": np.array([1.0, np.nan, 1.0, 0.5])}, "reward"),
    ({"reward": REWARD[:3]}, "target"),
    ({"propensity": PROPENSITY[:3]}, "propensity"),
    ({"reward": REWARD[:, None]}, "reward"),
    ({"propensity": np.array([0.5, 0.0, 0.75, 0.5])}, "propensity"),
    ({"propensity": np.array([0.5, 1.5, 0.75, 0.5])}, "propensity"),
    ({"propensity": np.array([0.5, -0.2, 0.75, 0.5])}, "propensity"),
    ({"target": TARGET * 0.9}, "target"),
    ({"target": np.array([[1.2, -0.2]] * 4)}, "target"),
    ({"target": np.ones((4, 1))}, "action"),
    ({"action": np.array([0, 1, 2, 0])}, "action"),
    ({"action": np.array([0.0, 1.0, 1.0, 0.0])}, "action"),
    ({"action": np.array([0, 1, 1])}, "action"),
])
def test_bad_bandit_input(change: dict[str, np.ndarray], field: str) -> None:
    log = {"reward": REWARD, "action": ACTION, "propensity": PROPENSITY, "target": TARGET}
    with pytest.raises(InputError) as info:
        ope.ips(**{**log, **change})
    assert info.value.field == field


def test_bad_model_and_thresholds() -> None:
    with pytest.raises(InputError, match="q_hat"):
        ope.bootstrap_bandit("dr", *LOG)
    with pytest.raises(InputError, match="q_hat"):
        ope.dr(*LOG, Q_HAT[:, :1])
    with pytest.raises(InputError, match="q_hat"):
        ope.dm(TARGET, np.where(Q_HAT > 0.5, np.inf, Q_HAT))
    with pytest.raises(InputError, match="clip"):
        ope.dr(*LOG, Q_HAT, clip=-1.0)
    with pytest.raises(InputError, match="tau"):
        ope.switch_dr(*LOG, Q_HAT, tau=float("nan"))
    with pytest.raises(InputError, match="name"):
        ope.bootstrap_bandit("magic", *LOG, Q_HAT)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="resamples"):
        ope.bootstrap_bandit("ips", *LOG, resamples=0)
    with pytest.raises(InputError, match="confidence"):
        ope.bootstrap_bandit("ips", *LOG, confidence=1.0)


def test_snips_without_weight_is_refused() -> None:
    target = np.tile([0.0, 1.0], (2, 1))
    with pytest.raises(InputError, match="target"):
        ope.snips(np.ones(2), np.zeros(2, int), np.full(2, 0.5), target)


@pytest.mark.parametrize(("change", "field"), [
    ({"episode_starts": np.array([1, 3])}, "episode_starts"),
    ({"episode_starts": np.array([0, 3, 3])}, "episode_starts"),
    ({"episode_starts": np.array([0, 5])}, "episode_starts"),
    ({"episode_starts": np.array([0.0, 3.0])}, "episode_starts"),
    ({"ratio": np.array([2.0, -0.5, 1.0, 0.5, 4.0])}, "ratio"),
    ({"ratio": np.array([2.0, 0.5, 1.0, 0.5])}, "ratio"),
    ({"reward": np.array([1.0, 2.0, np.inf, 3.0, 1.0])}, "reward"),
    ({"gamma": 1.5}, "gamma"),
    ({"ratio": np.full(5, 1e200)}, "ratio"),
])
def test_bad_sequential_input(change: dict[str, object], field: str) -> None:
    reward, ratio, starts, gamma = EPISODES
    log = {"reward": reward, "ratio": ratio, "episode_starts": starts, "gamma": gamma}
    with pytest.raises(InputError) as info:
        ope.pdis(**{**log, **change})  # type: ignore[arg-type]
    assert info.value.field == field


# -- bootstrap that refits the reward model (nacre.eval.ope_bootstrap) ------------------------


def _nonlinear_log(n: int, seed: int) -> tuple[np.ndarray, ...]:
    """Rewards quadratic in a 1-D context, so a linear reward model is misspecified."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n, 1))
    action = rng.integers(0, 2, size=n)
    mean = np.where(action == 0, x[:, 0] ** 2, 2.0 - x[:, 0] ** 2)
    reward = mean + rng.normal(scale=0.5, size=n)
    target = np.where(np.abs(x) > 1, [[0.9, 0.1]], [[0.1, 0.9]])
    return reward, action, np.full(n, 0.5), target, x


def test_refit_point_estimates_are_the_fixed_model_ones() -> None:
    reward, action, propensity, target, x = _nonlinear_log(200, 0)
    fit = ope_bootstrap.ridge_q(2)
    q_hat = ope_bootstrap.cross_fit(x, action, reward, fit)
    names: list[ope.BanditEstimator] = ["ips", "snips", "dm", "dr", "switch_dr"]
    refit = ope_bootstrap.bootstrap_bandit_refit(names, reward, action, propensity, target, x,
                                                 fit, tau=1.5, resamples=20)
    assert list(refit) == names
    for name in names:
        fixed = ope.bootstrap_bandit(name, reward, action, propensity, target, q_hat, tau=1.5,
                                     resamples=20)
        assert refit[name].value == fixed.value
        assert refit[name].low <= refit[name].value <= refit[name].high
        assert (refit[name].n, refit[name].resamples) == (200, 20)


def test_refit_widens_the_interval_of_a_misspecified_model() -> None:
    # the linear fit of a symmetric quadratic is nearly flat: with it held fixed, DM's interval
    # only sees the spread of the contexts; refitting adds the spread of the fit itself. With
    # tau = 1.5 switch-DR hands the rows of weight 1.8 to the model, so it is mostly DM too.
    reward, action, propensity, target, x = _nonlinear_log(300, 1)
    fit = ope_bootstrap.ridge_q(2)
    q_hat = ope_bootstrap.cross_fit(x, action, reward, fit)
    refit = ope_bootstrap.bootstrap_bandit_refit(["dm", "switch_dr"], reward, action,
                                                 propensity, target, x, fit, q_hat, tau=1.5,
                                                 resamples=400, seed=3)
    for name in ("dm", "switch_dr"):
        fixed = ope.bootstrap_bandit(name, reward, action, propensity, target, q_hat,  # type: ignore[arg-type]
                                     tau=1.5, resamples=400, seed=3)
        assert refit[name].high - refit[name].low > 2 * (fixed.high - fixed.low)


def test_refit_bootstrap_is_seeded() -> None:
    reward, action, propensity, target, x = _nonlinear_log(100, 2)
    fit = ope_bootstrap.ridge_q(2)

    def run(seed: int | np.random.Generator) -> dict[str, ope.Estimate]:
        return ope_bootstrap.bootstrap_bandit_refit(["dm", "switch_dr"], reward, action,
                                                    propensity, target, x, fit, tau=1.5,
                                                    resamples=100, seed=seed)

    assert run(5) == run(5) == run(np.random.default_rng(5)) != run(6)


def test_refit_bootstrap_equals_a_plain_loop() -> None:
    # each resample: redraw rows, split the original rows into two random folds, fit on the
    # draws of one fold and score the rows of the other, then DR on the drawn rows
    reward, action, propensity, target, x = _nonlinear_log(60, 4)
    fit = ope_bootstrap.ridge_q(2, alpha=0.5)
    est = ope_bootstrap.bootstrap_bandit_refit(["dr"], reward, action, propensity, target, x,
                                               fit, resamples=50, seed=9)["dr"]
    rng, values = np.random.default_rng(9), []
    for _ in range(50):
        draw = rng.integers(0, 60, size=60)
        fold = rng.permutation(60) % 2
        q = np.empty((60, 2))
        for f in (0, 1):
            q[fold == f] = fit(x, action, reward, draw[fold[draw] != f])[fold == f]
        values.append(ope.dr(reward[draw], action[draw], propensity[draw], target[draw],
                             q[draw]))
    low, high = np.percentile(values, [2.5, 97.5])
    assert (est.low, est.high) == pytest.approx((low, high), rel=1e-12)


def test_cross_fitted_ridge_scores_each_half_with_the_other_halfs_model() -> None:
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(101, 3, 2))
    action = rng.integers(0, 4, size=101)
    reward = rng.normal(size=101)
    fit = ope_bootstrap.ridge_q(4)
    q_hat = ope_bootstrap.cross_fit(obs, action, reward, fit)
    rows = np.arange(101)
    even, odd = rows[rows % 2 == 0], rows[rows % 2 == 1]
    assert q_hat.shape == (101, 4)
    np.testing.assert_allclose(q_hat[odd], fit(obs, action, reward, even)[odd], rtol=1e-12)
    np.testing.assert_allclose(q_hat[even], fit(obs, action, reward, odd)[even], rtol=1e-12)
    # an action never logged in the fitting fold predicts 0 (the penalty alone)
    assert np.all(ope_bootstrap.ridge_q(5)(obs, action, reward, rows)[:, 4] == 0)


def test_bad_refit_input() -> None:
    reward, action, propensity, target, x = _nonlinear_log(20, 5)
    args: dict[str, object] = {"names": ["dm"], "reward": reward, "action": action,
                               "propensity": propensity, "target": target, "obs": x,
                               "fit_q": ope_bootstrap.ridge_q(2), "resamples": 5}

    def field(**change: object) -> str:
        with pytest.raises(InputError) as info:
            ope_bootstrap.bootstrap_bandit_refit(**{**args, **change})  # type: ignore[arg-type]
        return info.value.field

    assert field(obs=x[:10]) == "obs"
    assert field(folds=1) == "folds"
    assert field(folds=21) == "folds"
    assert field(names=[]) == "names"
    assert field(names=["dm", "dm"]) == "names"
    assert field(names=["magic"]) == "name"
    assert field(fit_q=lambda *_: np.ones((20, 2, 1))) == "fit_q"
    assert field(fit_q=lambda *_: np.full((20, 2), np.nan)) == "fit_q"
    assert field(resamples=0) == "resamples"
    with pytest.raises(InputError, match="reward"):
        ope_bootstrap.cross_fit(x, action, reward * np.nan, ope_bootstrap.ridge_q(2))
    with pytest.raises(InputError, match="n_actions"):
        ope_bootstrap.ridge_q(0)
    with pytest.raises(InputError, match="alpha"):
        ope_bootstrap.ridge_q(2, alpha=0.0)
