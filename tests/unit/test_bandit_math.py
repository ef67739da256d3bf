"""The ridge maths of the linear bandits: hand-computed cases, and incremental = direct.

Every incremental path (Sherman–Morrison for one row, Woodbury for k rows, the learners' own
one-row fast paths, discounting) must reproduce :func:`ridge_direct` on the rows it has seen,
to 1e-5 relative, after thousands of rows. Each comparison is checked to be able to fail: the
direct solutions it is compared with differ from the wrong alternatives (no discount, rows in
another order, another arm's rows) by far more than the tolerance.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from nacre.actions import BinaryActionRepresentation
from nacre.data.batch import TransitionBatch
from nacre.learners.bandits.linear import DisjointLinearBandit, LinearBandit, LinearBanditConfig
from nacre.learners.bandits.neural import NeuralBanditConfig, NeuralLinearBandit
from nacre.losses.bandit import (
    discount_weights,
    posterior_std,
    ridge_direct,
    ridge_update_,
    sherman_morrison_,
    woodbury_,
)

F64 = torch.float64
TOL = 1e-5


def t(rows: Any) -> Tensor:
    return torch.tensor(rows, dtype=F64)


def rel_err(a: Tensor, b: Tensor) -> float:
    """max |a - b| relative to max |b| (the scale of the quantity compared)."""
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def batch_sizes(n: int, g: torch.Generator, k_max: int = 16) -> list[int]:
    """Sizes summing to ``n``: about half single rows, the rest 2..k_max."""
    sizes: list[int] = []
    while sum(sizes) < n:
        k = 1 if float(torch.rand((), generator=g)) < 0.5 else int(
            torch.randint(2, k_max + 1, (), generator=g))
        sizes.append(min(k, n - sum(sizes)))
    return sizes


def batch(x: Tensor, a: Tensor, r: Tensor) -> TransitionBatch:
    obs = x.float()
    return TransitionBatch(obs=obs, action=a, reward=r.float(), next_obs=obs,
                           terminated=torch.ones(x.shape[0]))


# ------------------------------------------------------------------------------ by hand


def test_sherman_morrison_by_hand() -> None:
    # A = diag(2, 1), x = (1, 1):  A + xxᵀ = [[3, 1], [1, 2]], det 5, inverse [[2, -1], [-1, 3]] / 5
    a_inv = t([[0.5, 0.0], [0.0, 1.0]])
    sherman_morrison_(a_inv, t([1.0, 1.0]))
    torch.testing.assert_close(a_inv, t([[0.4, -0.2], [-0.2, 0.6]]), rtol=0, atol=1e-15)
    # batched over a leading dimension: the second model gets x = (0, 2): diag(2, 1) + diag(0, 4)
    a_inv = t([[[0.5, 0.0], [0.0, 1.0]], [[0.5, 0.0], [0.0, 1.0]]])
    sherman_morrison_(a_inv, t([[1.0, 1.0], [0.0, 2.0]]))
    torch.testing.assert_close(a_inv[0], t([[0.4, -0.2], [-0.2, 0.6]]), rtol=0, atol=1e-15)
    torch.testing.assert_close(a_inv[1], t([[0.5, 0.0], [0.0, 0.2]]), rtol=0, atol=1e-15)


def test_woodbury_by_hand() -> None:
    # A = I, X = [[1, 0], [1, 1]]: XᵀX = [[2, 1], [1, 1]], A + XᵀX = [[3, 1], [1, 2]] as above
    a_inv = torch.eye(2, dtype=F64)
    woodbury_(a_inv, t([[1.0, 0.0], [1.0, 1.0]]))
    torch.testing.assert_close(a_inv, t([[0.4, -0.2], [-0.2, 0.6]]), rtol=0, atol=1e-15)
    # weights W = (2, 0.5): XᵀWX = 2[[1, 0], [0, 0]] + 0.5[[1, 1], [1, 1]] = [[2.5, .5], [.5, .5]]
    # A + XᵀWX = [[3.5, .5], [.5, 1.5]], det 5, inverse [[1.5, -.5], [-.5, 3.5]] / 5
    a_inv = torch.eye(2, dtype=F64)
    woodbury_(a_inv, t([[1.0, 0.0], [1.0, 1.0]]), weight=t([2.0, 0.5]))
    torch.testing.assert_close(a_inv, t([[0.3, -0.1], [-0.1, 0.7]]), rtol=0, atol=1e-15)
    assert torch.equal(a_inv, a_inv.T)  # kept exactly symmetric


def test_posterior_std_by_hand() -> None:
    a_inv = t([[0.4, -0.2], [-0.2, 0.6]])
    # (1, 2): 0.4 - 2·0.2·2 + 0.6·4 = 2;  (1, 0): 0.4;  (0, 0): 0
    x = t([[1.0, 2.0], [1.0, 0.0], [0.0, 0.0]])
    torch.testing.assert_close(posterior_std(a_inv, x), t([2.0, 0.4, 0.0]).sqrt())
    # any leading dimensions, and a matching batch of matrices
    xs = x.expand(4, 3, 2)
    assert posterior_std(a_inv, xs).shape == (4, 3)
    per_row = torch.stack([a_inv, torch.eye(2, dtype=F64), 2 * a_inv])
    torch.testing.assert_close(posterior_std(per_row, t([[1.0, 2.0], [3.0, 4.0], [1.0, 0.0]])),
                               t([2.0, 25.0, 0.8]).sqrt())
    # rounding can make xᵀA⁻¹x slightly negative: the spread is 0, never NaN
    assert float(posterior_std(t([[-1e-18, 0.0], [0.0, 1.0]]), t([1.0, 0.0]))) == 0.0


def test_discount_weights() -> None:
    assert discount_weights(3, 1.0, t([0.0])) is None
    w = discount_weights(3, 0.5, t([0.0]))
    assert w is not None and w.dtype == F64
    torch.testing.assert_close(w, t([0.25, 0.5, 1.0]))  # the last row has weight 1


def test_ridge_direct_by_hand() -> None:
    x, r = t([[1.0, 0.0], [1.0, 1.0]]), t([1.0, 2.0])
    # A = I + XᵀX = [[3, 1], [1, 2]], b = 1·(1, 0) + 2·(1, 1) = (3, 2), θ = A⁻¹b = (0.8, 0.6)
    a_inv, theta = ridge_direct(x, r, 1.0)
    torch.testing.assert_close(a_inv, t([[0.4, -0.2], [-0.2, 0.6]]))
    torch.testing.assert_close(theta, t([0.8, 0.6]))
    # γ = 0.5: A = 0.25 I + 0.5 x₀x₀ᵀ + x₁x₁ᵀ = [[1.75, 1], [1, 1.25]] (det 1.1875),
    # b = 0.5·(1, 0) + 2·(1, 1) = (2.5, 2), θ = [[1.25, -1], [-1, 1.75]] b / 1.1875
    a_inv, theta = ridge_direct(x, r, 1.0, discount=0.5)
    torch.testing.assert_close(a_inv, t([[1.25, -1.0], [-1.0, 1.75]]) / 1.1875)
    torch.testing.assert_close(theta, t([1.125, 1.0]) / 1.1875)
    # the same, one row at a time from the prior λI
    a_inv_inc, b_inc = torch.eye(2, dtype=F64), torch.zeros(2, dtype=F64)
    for i in range(2):
        ridge_update_(a_inv_inc, b_inc, x[i : i + 1], r[i : i + 1], discount=0.5)
    torch.testing.assert_close(a_inv_inc, a_inv)
    torch.testing.assert_close(a_inv_inc @ b_inc, theta)


def test_ridge_update_one_discounted_row_by_hand() -> None:
    # A = I, γ = 0.5, x = (1, 0), r = 2:  A ← 0.5 I + xxᵀ = diag(1.5, 0.5), b ← (2, 0), θ = (4/3, 0)
    a_inv, b = torch.eye(2, dtype=F64), torch.zeros(2, dtype=F64)
    ridge_update_(a_inv, b, t([[1.0, 0.0]]), t([2.0]), discount=0.5)
    torch.testing.assert_close(a_inv, t([[2 / 3, 0.0], [0.0, 2.0]]))
    torch.testing.assert_close(a_inv @ b, t([4 / 3, 0.0]))


# ------------------------------------------------------------------- incremental = direct


def test_ridge_update_equals_direct_after_thousands_of_rows() -> None:
    g = torch.Generator().manual_seed(0)
    n, d, l2 = 3000, 6, 0.5
    w = torch.randn(d, generator=g, dtype=F64)
    x = torch.randn(n, d, generator=g, dtype=F64)
    r = x @ w + 0.1 * torch.randn(n, generator=g, dtype=F64)
    sizes = batch_sizes(n, g)
    assert 1 in sizes and max(sizes) > 8
    for discount in (1.0, 0.999, 0.99):
        a_inv, b = torch.eye(d, dtype=F64) / l2, torch.zeros(d, dtype=F64)
        start = 0
        for k in sizes:
            ridge_update_(a_inv, b, x[start : start + k], r[start : start + k], discount)
            start += k
        direct_a_inv, direct_theta = ridge_direct(x, r, l2, discount)
        assert rel_err(a_inv, direct_a_inv) < TOL, discount
        assert rel_err(a_inv @ b, direct_theta) < TOL, discount
        if discount != 1.0:  # the comparison can tell discounting from none
            undiscounted_a_inv, _ = ridge_direct(x, r, l2)
            assert rel_err(undiscounted_a_inv, direct_a_inv) > 100 * TOL


def _fit_disjoint(model: DisjointLinearBandit, n: int, k: int, d: int, seed: int
                  ) -> tuple[Tensor, Tensor, Tensor]:
    """Many ``learn_batch`` calls of random sizes (1 and 2..16); returns the rows seen."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(k, d, generator=g, dtype=F64)
    xs, arms, rs = [], [], []
    for size in batch_sizes(n, g):
        x = torch.randn(size, d, generator=g, dtype=F64).float().to(F64)  # float32-exact
        a = torch.randint(k, (size,), generator=g)
        r = ((x * w[a]).sum(1) + 0.1 * torch.randn(size, generator=g, dtype=F64)).float()
        model.learn_batch(batch(x, a, r))
        xs.append(x)
        arms.append(a)
        rs.append(r.to(F64))
    return torch.cat(xs), torch.cat(arms), torch.cat(rs)


def test_disjoint_linear_bandit_equals_direct_per_arm() -> None:
    d, k = 5, 4
    for cfg in (LinearBanditConfig(), LinearBanditConfig(l2=2.0, discount=0.999),
                LinearBanditConfig(l2=0.3, intercept=False, discount=0.99)):
        model = DisjointLinearBandit(d, k, cfg)
        x, arm, r = _fit_disjoint(model, 2500, k, d, seed=1)
        phi = torch.cat([x, torch.ones(len(x), 1, dtype=F64)], 1) if cfg.intercept else x
        for a in range(k):
            rows = arm == a
            assert int(rows.sum()) > 300
            direct_a_inv, direct_theta = ridge_direct(phi[rows], r[rows], cfg.l2, cfg.discount,
                                                      _prior(model, a))
            assert rel_err(model.a_inv[a], direct_a_inv) < TOL, (cfg, a)
            assert rel_err(model.theta[a], direct_theta) < TOL, (cfg, a)
            # the comparison can tell this arm's rows from another arm's
            _, other_theta = ridge_direct(phi[arm == (a + 1) % k], r[arm == (a + 1) % k],
                                          cfg.l2, cfg.discount, _prior(model, (a + 1) % k))
            assert rel_err(other_theta, direct_theta) > 100 * TOL
        # the scores are the posterior of those models: μ = φᵀθ, σ = √(φᵀA⁻¹φ), for B = 1 and B > 1
        probe = torch.randn(6, d, generator=torch.Generator().manual_seed(9))
        p = torch.cat([probe.to(F64), torch.ones(6, 1, dtype=F64)], 1) if cfg.intercept \
            else probe.to(F64)
        direct = [ridge_direct(phi[arm == a], r[arm == a], cfg.l2, cfg.discount,
                               _prior(model, a)) for a in range(k)]
        mu = torch.stack([p @ th for _, th in direct], 1)
        sigma = torch.stack([posterior_std(ai, p) for ai, _ in direct], 1)
        expected = torch.stack([mu, sigma], -1).float()
        torch.testing.assert_close(model.scores(probe), expected, rtol=1e-5, atol=1e-6)
        for i in range(6):
            torch.testing.assert_close(model.scores(probe[i : i + 1]), expected[i : i + 1],
                                       rtol=1e-5, atol=1e-6)


def _prior(model: Any, arm: int) -> float:
    """The prior's weight in a model's ``A``: ``λγ^k``, k rows since it was last restored."""
    cfg = model.config
    return float(cfg.l2 * cfg.discount ** model.since_refresh[arm])


def _phi(x: Tensor, f: Tensor, features: str, intercept: bool) -> Tensor:
    """The documented joint features, written out independently: context (with a trailing 1
    when ``intercept``) ⊗ action features, or [context, action features]."""
    if intercept:
        x = torch.cat([x, torch.ones(len(x), 1, dtype=F64)], 1)
    if features == "concat":
        return torch.cat([x, f], 1)
    return torch.stack([torch.kron(xi, fi) for xi, fi in zip(x, f, strict=True)])


def test_linear_bandit_equals_direct() -> None:
    d, k = 4, 5
    one_hot, binary = torch.eye(k), BinaryActionRepresentation().code(k)
    cases = [(one_hot, LinearBanditConfig()),
             (one_hot, LinearBanditConfig(features="concat")),
             (binary, LinearBanditConfig(l2=2.0, discount=0.999)),
             (binary, LinearBanditConfig(features="concat", intercept=False, discount=0.99))]
    for features, cfg in cases:
        model = LinearBandit(d, features, cfg)
        g = torch.Generator().manual_seed(2)
        xs, fs, rs = [], [], []
        for size in batch_sizes(2000, g):
            x = torch.randn(size, d, generator=g).to(F64)
            a = torch.randint(k, (size,), generator=g)
            r = torch.randn(size, generator=g)
            model.learn_batch(batch(x, a, r))
            xs.append(x)
            fs.append(features[a].to(F64))
            rs.append(r.to(F64))
        x, f, r = torch.cat(xs), torch.cat(fs), torch.cat(rs)
        phi = _phi(x, f, cfg.features, cfg.intercept)
        direct_a_inv, direct_theta = ridge_direct(phi, r, cfg.l2, cfg.discount, _prior(model, 0))
        assert rel_err(model.a_inv[0], direct_a_inv) < TOL, cfg
        assert rel_err(model.theta[0], direct_theta) < TOL, cfg
        # scores of every candidate: μ = φᵀθ and σ = √(φᵀA⁻¹φ)
        probe = torch.randn(3, d, generator=g)
        cand = _phi(probe.to(F64).repeat_interleave(k, 0), features.to(F64).repeat(3, 1),
                    cfg.features, cfg.intercept)
        expected = torch.stack([cand @ direct_theta, posterior_std(direct_a_inv, cand)], -1)
        torch.testing.assert_close(model.scores(probe), expected.reshape(3, k, 2).float(),
                                   rtol=1e-5, atol=1e-6)


def test_neural_linear_head_is_the_ridge_posterior_of_the_learned_features() -> None:
    torch.manual_seed(0)
    d, k = 4, 3
    # a negligible learning rate: the features stay put, so the head must be the ridge
    # posterior on [φ, 1] of every row learned, discounted per row
    cfg = NeuralBanditConfig(hidden=(8,), lr=1e-12, l2=0.5, discount=0.99)
    model = NeuralLinearBandit(d, k, config=cfg)
    g = torch.Generator().manual_seed(3)
    xs, arms, rs = [], [], []
    for size in (1, 7, 1, 12, 3, 1, 9):
        x, a, r = torch.randn(size, d, generator=g), torch.randint(k, (size,), generator=g), \
            torch.rand(size, generator=g)
        model.learn_batch(batch(x.to(F64), a, r))
        xs.append(x)
        arms.append(a)
        rs.append(r.to(F64))
    x, arm = torch.cat(xs), torch.cat(arms)
    with torch.no_grad():
        phi = model.net.features(x, torch.eye(k)[arm][:, None, :])[:, 0].to(F64)
    phi = torch.cat([phi, torch.ones(len(phi), 1, dtype=F64)], 1)
    direct_a_inv, _ = ridge_direct(phi, torch.cat(rs), cfg.l2, cfg.discount,
                                   _prior(model.head, 0))
    assert rel_err(model.a_inv, direct_a_inv) < 1e-6
    # σ of the scores is that posterior's spread at each candidate's features
    with torch.no_grad():
        cand = model.net.features(x[:2], torch.eye(k)[None]).to(F64)  # [2, K, h]
    cand = torch.cat([cand, torch.ones(2, k, 1, dtype=F64)], -1)
    torch.testing.assert_close(model.scores(x[:2])[..., 1],
                               posterior_std(direct_a_inv, cand).float(), rtol=1e-5, atol=1e-7)


def test_discounted_models_stay_bounded_in_directions_the_data_never_excite() -> None:
    # RLS with forgetting alone would grow A⁻¹ like γ⁻ⁿ along the unexcited third column and
    # overflow; the restored prior keeps it at most 1/(λ/2).
    model = DisjointLinearBandit(3, 2, LinearBanditConfig(discount=0.9, intercept=False))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7000, 3, generator=g)
    x[:, 2] = 0.0
    for start in range(0, 7000, 1000):
        model.learn_batch(batch(x[start:start + 1000], torch.zeros(1000, dtype=torch.long),
                                x[start:start + 1000, 0] * 0.5))
    for i in range(50):  # and one row at a time (the NumPy path)
        model.learn_batch(batch(x[i:i + 1], torch.zeros(1, dtype=torch.long),
                                x[i:i + 1, 0] * 0.5))
    assert bool(torch.isfinite(model.a_inv).all())
    assert float(model.a_inv[0, 2, 2]) <= 2.0 + 1e-9
    s = model.scores(torch.tensor([[1.0, 0.0, 0.0]]))
    assert abs(float(s[0, 0, 0]) - 0.5) < 0.1  # ridge shrinkage over a ~10-row window


def test_discounted_batches_equal_one_row_at_a_time() -> None:
    # A big batch is folded in chunks no longer than the refresh period: same result as rows
    # learned one by one (the NumPy path), where one Woodbury step over 400 rows broke down.
    cfg = LinearBanditConfig(discount=0.9)
    big, single = DisjointLinearBandit(4, 2, cfg), DisjointLinearBandit(4, 2, cfg)
    g = torch.Generator().manual_seed(1)
    x, a, r = torch.randn(400, 4, generator=g), torch.randint(2, (400,), generator=g), \
        torch.randn(400, generator=g)
    big.learn_batch(batch(x, a, r))
    for i in range(400):
        single.learn_batch(batch(x[i:i + 1], a[i:i + 1], r[i:i + 1]))
    assert rel_err(big.theta, single.theta) < 1e-8
    assert rel_err(big.a_inv, single.a_inv) < 1e-8
