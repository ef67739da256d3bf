"""The offline learners' losses (nacre.losses.offline) against numbers computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from nacre.losses.offline import (
    awr_weights,
    bc_continuous_loss,
    bc_discrete_loss,
    conservative_penalty,
    expectile_loss,
    sampled_logsumexp,
    td3_bc_actor_loss,
    uniform_log_density,
    weighted_log_likelihood_loss,
)


def test_bc_discrete_loss_is_the_cross_entropy_of_the_logged_actions() -> None:
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    # row 0: p(a=1) = 1/2; row 1: p(a=0) = 3/4
    loss = bc_discrete_loss(logits, torch.tensor([1, 0]))
    assert loss.item() == pytest.approx(-(math.log(0.5) + math.log(0.75)) / 2)


def test_bc_continuous_loss_is_the_mean_squared_error() -> None:
    loss = bc_continuous_loss(torch.tensor([[0.5, 0.0]]), torch.tensor([[0.0, -1.0]]))
    assert loss.item() == pytest.approx((0.25 + 1.0) / 2)


def test_conservative_penalty_is_logsumexp_minus_the_data_value() -> None:
    q_all = torch.tensor([[1.0, 1.0], [0.0, 2.0]])
    q_taken = torch.tensor([1.0, 2.0])
    # row 0: log(2e) - 1 = log 2; row 1: log(1 + e²) - 2
    expected = (math.log(2.0) + math.log(1 + math.e**2) - 2.0) / 2
    assert conservative_penalty(q_all, q_taken).item() == pytest.approx(expected)


def test_conservative_penalty_is_zero_only_when_the_data_action_dominates() -> None:
    q_taken = torch.tensor([100.0])
    near_zero = conservative_penalty(torch.tensor([[100.0, -100.0]]), q_taken).item()
    assert near_zero == pytest.approx(0.0, abs=1e-6)
    assert conservative_penalty(torch.tensor([[100.0, 100.0]]), q_taken).item() > 0.69


def test_sampled_logsumexp_is_an_importance_sampled_log_integral() -> None:
    # Q ≡ 0 on [-1, 1]: ∫ exp(0) da = 2, estimated by the mean of 5 samples 1 / p = 2, and
    # the sum (as the CQL code computes it) is log(5 · 2)
    q = torch.zeros(1, 5)
    log_p = torch.full((1, 5), uniform_log_density(1))
    assert sampled_logsumexp(q, log_p).item() == pytest.approx(math.log(5 * 2.0))
    assert uniform_log_density(3) == pytest.approx(-3 * math.log(2.0))


def test_expectile_loss_weights_the_two_sides() -> None:
    diff = torch.tensor([2.0, -1.0])
    # τ = 0.7: 0.7 · 4 for the positive side, 0.3 · 1 for the negative
    assert expectile_loss(diff, 0.7).item() == pytest.approx((0.7 * 4 + 0.3 * 1) / 2)
    assert expectile_loss(diff, 0.5).item() == pytest.approx(0.5 * (4 + 1) / 2)


def test_expectile_regression_finds_an_upper_expectile() -> None:
    values = torch.tensor([0.0, 1.0])
    v = torch.zeros((), requires_grad=True)
    opt = torch.optim.SGD([v], lr=0.5)
    for _ in range(300):
        opt.zero_grad()
        expectile_loss(values - v, 0.9).backward()
        opt.step()
    # the 0.9-expectile of {0, 1}: 0.1 v = 0.9 (1 − v) → v = 0.9
    assert v.item() == pytest.approx(0.9, abs=1e-3)


def test_awr_weights_are_exponentiated_advantages_clipped() -> None:
    w = awr_weights(torch.tensor([0.0, 1.0, 10.0], requires_grad=True), 2.0, 100.0)
    assert w.tolist() == pytest.approx([1.0, math.exp(2.0), 100.0])
    assert not w.requires_grad
    loss = weighted_log_likelihood_loss(torch.tensor([-1.0, -2.0]), torch.tensor([1.0, 3.0]))
    assert loss.item() == pytest.approx((1.0 + 6.0) / 2)


def test_td3_bc_actor_loss_scales_q_by_its_mean_magnitude() -> None:
    q = torch.tensor([2.0, -4.0])  # mean |Q| = 3, λ = 2.5 / 3
    pi, a = torch.tensor([[0.5], [0.0]]), torch.tensor([[0.0], [1.0]])
    expected = -(2.5 / 3) * (-1.0) + (0.25 + 1.0) / 2
    assert td3_bc_actor_loss(q, pi, a, 2.5).item() == pytest.approx(expected)
