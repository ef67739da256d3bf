"""Policy losses and log-densities against hand-computed values and numerical checks."""

from __future__ import annotations

import math

import torch

from nacre.losses.policy import (
    categorical_log_prob,
    gaussian_entropy,
    gaussian_log_prob,
    ppo_clip_loss,
    squashed_gaussian_log_prob,
    value_loss,
)


def test_ppo_clip_loss_by_hand() -> None:
    # ratios 1.5 (A = +1: clipped to 1.2), 0.5 (A = +1: not clipped, min takes 0.5),
    # 1.5 (A = −1: min(−1.5, −1.2) = −1.5), 0.5 (A = −1: clipped to 0.8 → −0.8)
    ratio = torch.tensor([1.5, 0.5, 1.5, 0.5])
    adv = torch.tensor([1.0, 1.0, -1.0, -1.0])
    loss, frac, kl = ppo_clip_loss(ratio.log(), torch.zeros(4), adv, clip=0.2)
    torch.testing.assert_close(loss, -torch.tensor([1.2, 0.5, -1.5, -0.8]).mean())
    assert float(frac) == 1.0
    expected_kl = ((ratio - 1) - ratio.log()).mean()
    torch.testing.assert_close(kl, expected_kl)


def test_ppo_loss_carries_gradient_only_where_not_clipped() -> None:
    log_prob = torch.tensor([math.log(1.5), math.log(1.1)], requires_grad=True)
    loss, _, _ = ppo_clip_loss(log_prob, torch.zeros(2), torch.tensor([1.0, 1.0]), clip=0.2)
    loss.backward()
    assert log_prob.grad is not None
    assert float(log_prob.grad[0]) == 0.0  # clipped: no gradient
    assert abs(float(log_prob.grad[1]) + 1.1 / 2) < 1e-6  # d(−ρA/2)/dlogρ = −ρA/2


def test_value_loss_with_and_without_clipping() -> None:
    values, returns, old = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0]), torch.tensor(
        [1.0, 0.5])
    torch.testing.assert_close(value_loss(values, returns), torch.tensor(2.0))
    # clipped: old + clamp(v − old, ±0.1) = [1.1, 0.4]; max of squares: [4, 0.16]
    torch.testing.assert_close(value_loss(values, returns, old, clip=0.1), torch.tensor(2.08))


def test_gaussian_log_prob_and_entropy_match_torch_distributions() -> None:
    g = torch.Generator().manual_seed(0)
    mean, log_std, x = (torch.randn(5, 3, generator=g) for _ in range(3))
    ref = torch.distributions.Normal(mean, log_std.exp())
    torch.testing.assert_close(gaussian_log_prob(mean, log_std, x), ref.log_prob(x).sum(-1))
    torch.testing.assert_close(gaussian_entropy(log_std), ref.entropy().sum(-1))


def test_squashed_gaussian_log_prob_matches_a_numerical_density() -> None:
    # 1-D: P(a in [a0 − h, a0 + h]) / 2h from the Gaussian CDF of atanh(a) ≈ p(a0)
    mean, log_std = torch.tensor([[0.3]], dtype=torch.float64), torch.tensor(
        [[-0.5]], dtype=torch.float64)
    normal = torch.distributions.Normal(mean, log_std.exp())
    for a0 in (-0.9, -0.2, 0.0, 0.5, 0.99):
        h = 1e-5
        lo, hi = torch.atanh(torch.tensor(a0 - h, dtype=torch.float64)), torch.atanh(
            torch.tensor(a0 + h, dtype=torch.float64))
        numeric = (normal.cdf(hi) - normal.cdf(lo)) / (2 * h)
        u = torch.atanh(torch.tensor([[a0]], dtype=torch.float64))
        analytic = squashed_gaussian_log_prob(mean, log_std, u).exp()
        torch.testing.assert_close(analytic, numeric[0], rtol=1e-5, atol=1e-8)
    # far in the tail tanh(u) rounds to 1 in float32; the log-density stays finite
    far = squashed_gaussian_log_prob(torch.zeros(1, 1), torch.zeros(1, 1), torch.full((1, 1),
                                                                                        30.0))
    assert torch.isfinite(far).all()


def test_categorical_log_prob_and_entropy() -> None:
    logits = torch.log(torch.tensor([[0.25, 0.75], [0.5, 0.5]]))
    log_p, ent = categorical_log_prob(logits, torch.tensor([1, 0]))
    torch.testing.assert_close(log_p, torch.log(torch.tensor([0.75, 0.5])))
    torch.testing.assert_close(ent, torch.tensor([-(0.25 * math.log(0.25) + 0.75 * math.log(
        0.75)), math.log(2.0)]))
