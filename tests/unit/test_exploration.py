"""Exact propensities and schedules of the discrete exploration modules."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from nacre.exploration import (
    Boltzmann,
    EpsilonGreedy,
    Greedy,
    LinearSchedule,
    Warmup,
    uniform_valid,
)
from nacre.types import Exploration


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------------ schedule


def test_linear_schedule_values() -> None:
    s = LinearSchedule(1.0, 0.1, 100)
    assert s(0) == 1.0  # start
    assert s(50) == pytest.approx(0.55)  # 1 + (0.1 - 1) * 50 / 100
    assert s(25) == pytest.approx(0.775)  # 1 - 0.9 * 0.25
    assert s(99) == pytest.approx(0.109)  # 1 - 0.9 * 0.99
    assert s(100) == 0.1  # end
    assert s(10_000) == 0.1  # after: constant
    increasing = LinearSchedule(0.0, 2.0, 4)
    assert [increasing(t) for t in range(6)] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]


def test_linear_schedule_without_steps_is_constant_end() -> None:
    assert LinearSchedule(1.0, 0.3, 0)(0) == 0.3
    assert EpsilonGreedy(0.25).epsilon(123) == 0.25


# ------------------------------------------------------------------------------------ ε-greedy

SCORES = torch.tensor([[0.0, 3.0, 1.0, 2.0]])  # greedy action 1, K = 4


def _all_actions(explorer: Exploration, scores: Tensor, mask: Tensor | None, step: int = 0,
                 n: int = 4000) -> tuple[Tensor, Tensor]:
    big = scores.expand(n, -1).contiguous()
    big_mask = None if mask is None else mask.expand(n, -1).contiguous()
    return explorer.select(big, big_mask, step, gen(1))


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3, 1.0])
def test_epsilon_greedy_propensities_exact(eps: float) -> None:
    action, p = _all_actions(EpsilonGreedy(eps), SCORES, None)
    k = 4
    for a, prop in zip(action.tolist(), p.tolist(), strict=True):
        # greedy: 1 - ε + ε / K ; others: ε / K
        expected = 1 - eps + eps / k if a == 1 else eps / k
        assert prop == pytest.approx(expected, abs=1e-6)
    if eps == 0.0:
        assert set(action.tolist()) == {1}
    if eps == 1.0:
        assert set(action.tolist()) == {0, 1, 2, 3}
        # ε = 1: every action, the greedy one included, has probability 1/4
        assert torch.allclose(p, torch.full_like(p, 0.25))


@pytest.mark.parametrize("eps", [0.2, 0.6])
def test_epsilon_greedy_frequencies_match_propensities(eps: float) -> None:
    action, _ = _all_actions(EpsilonGreedy(eps), SCORES, None, n=20_000)
    freq = torch.bincount(action, minlength=4).float() / 20_000
    expected = torch.tensor([eps / 4, 1 - eps + eps / 4, eps / 4, eps / 4])
    assert torch.allclose(freq, expected, atol=0.015)


def test_epsilon_greedy_with_mask() -> None:
    eps = 0.4
    mask = torch.tensor([[True, False, True, True]])  # greedy action 1 unavailable
    action, p = _all_actions(EpsilonGreedy(eps), SCORES, mask)
    assert 1 not in action.tolist()
    for a, prop in zip(action.tolist(), p.tolist(), strict=True):
        # |available| = 3 ; masked greedy is 3 (score 2): 1 - .4 + .4/3 ; others .4/3
        expected = 1 - eps + eps / 3 if a == 3 else eps / 3
        assert prop == pytest.approx(expected, abs=1e-6)
    freq = torch.bincount(action, minlength=4).float() / action.numel()
    assert torch.allclose(freq, torch.tensor([eps / 3, 0.0, eps / 3, 1 - eps + eps / 3]),
                          atol=0.03)


def test_epsilon_greedy_per_row_masks() -> None:
    eps = 0.5
    scores = torch.tensor([[0.0, 3.0, 1.0, 2.0], [5.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, False, False], [False, True, True, True]])
    action, p = EpsilonGreedy(eps).select(scores, mask, 0, gen(2))
    assert mask[0, action[0]] and mask[1, action[1]]
    # row 0: |A| = 2, greedy 1 ; row 1: |A| = 3, greedy is 1 (first of the tied zeros)
    exp0 = 1 - eps + eps / 2 if int(action[0]) == 1 else eps / 2
    exp1 = 1 - eps + eps / 3 if int(action[1]) == 1 else eps / 3
    assert p.tolist() == pytest.approx([exp0, exp1])


def test_epsilon_greedy_follows_schedule() -> None:
    explorer = EpsilonGreedy(LinearSchedule(1.0, 0.0, 100))
    _, p0 = _all_actions(explorer, SCORES, None, step=0, n=200)
    _, p100 = _all_actions(explorer, SCORES, None, step=100, n=200)
    assert torch.allclose(p0, torch.full_like(p0, 0.25))  # ε = 1 at step 0
    assert torch.equal(p100, torch.ones_like(p100))  # ε = 0 from step 100
    action, p50 = _all_actions(explorer, SCORES, None, step=50, n=200)  # ε = 0.5
    # greedy: 1 - .5 + .5 / 4 = 0.625 ; others: .5 / 4 = 0.125
    expected = torch.where(action == 1, 0.625, 0.125)
    torch.testing.assert_close(p50, expected)
    assert {0, 1, 2, 3} == set(action.tolist())


# ------------------------------------------------------------------------------------ greedy


def test_greedy_takes_best_available_with_propensity_one() -> None:
    scores = torch.tensor([[0.0, 3.0, 1.0], [2.0, 1.0, 0.0]])
    action, p = Greedy().select(scores, None, 0, None)
    assert action.tolist() == [1, 0] and p.tolist() == [1.0, 1.0]
    assert action.dtype == torch.int64 and p.dtype == torch.float32
    mask = torch.tensor([[True, False, True], [False, True, True]])
    action, p = Greedy().select(scores, mask, 0, None)
    assert action.tolist() == [2, 1] and p.tolist() == [1.0, 1.0]


# ------------------------------------------------------------------------------------ Boltzmann


@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_boltzmann_propensity_is_softmax(temperature: float) -> None:
    scores = torch.tensor([[0.0, 1.0, 2.0, -1.0], [3.0, 3.0, 0.0, 1.0]])
    probs = torch.softmax(scores / temperature, dim=1)
    action, p = Boltzmann(temperature).select(scores, None, 0, gen(3))
    assert p.tolist() == pytest.approx(probs.gather(1, action[:, None]).squeeze(1).tolist())
    # hand-computed for row 0, τ = 1: e^a / (1 + e + e^2 + e^-1)
    if temperature == 1.0:
        e = torch.tensor(1.0).exp()
        z = 1 + e + e**2 + 1 / e
        expected = torch.stack([1 / z, e / z, e**2 / z, 1 / e / z])
        assert float(p[0]) == pytest.approx(float(expected[action[0]]), rel=1e-5)


def test_boltzmann_with_mask_renormalizes_over_available() -> None:
    scores = torch.tensor([[0.0, 1.0, 2.0, 5.0]])
    mask = torch.tensor([[True, False, True, False]])
    action, p = _all_actions(Boltzmann(1.0), scores, mask, n=8000)
    assert set(action.tolist()) <= {0, 2}
    e2 = float(torch.tensor(2.0).exp())
    # P(0) = 1 / (1 + e^2), P(2) = e^2 / (1 + e^2)
    for a, prop in ((0, 1 / (1 + e2)), (2, e2 / (1 + e2))):
        assert torch.allclose(p[action == a], torch.tensor(prop), atol=1e-6)
        assert float((action == a).float().mean()) == pytest.approx(prop, abs=0.02)


def test_boltzmann_rejects_non_positive_temperature() -> None:
    with pytest.raises(ValueError, match="temperature"):
        Boltzmann(0.0)


# ------------------------------------------------------------------------------------ warm-up


def test_warmup_is_uniform_then_inner() -> None:
    explorer = Warmup(Greedy(), steps=10)
    action, p = _all_actions(explorer, SCORES, None, step=9)
    assert torch.allclose(p, torch.full_like(p, 0.25))  # uniform over K = 4
    freq = torch.bincount(action, minlength=4).float() / action.numel()
    assert torch.allclose(freq, torch.full((4,), 0.25), atol=0.03)
    action, p = _all_actions(explorer, SCORES, None, step=10)  # now greedy
    assert set(action.tolist()) == {1} and torch.equal(p, torch.ones_like(p))


def test_warmup_respects_mask() -> None:
    mask = torch.tensor([[False, True, False, True]])
    action, p = _all_actions(Warmup(Greedy(), 5), SCORES, mask, step=0, n=1000)
    assert set(action.tolist()) == {1, 3}
    assert torch.allclose(p, torch.full_like(p, 0.5))


def test_uniform_valid_propensities() -> None:
    mask = torch.tensor([[True, True, True], [False, True, False], [True, False, True]])
    action, p = uniform_valid(torch.zeros(3, 3), mask, gen(0))
    assert p.tolist() == pytest.approx([1 / 3, 1.0, 0.5])
    assert action[1] == 1 and bool(mask.gather(1, action[:, None]).all())
    _, p = uniform_valid(torch.zeros(2, 5), None, gen(0))
    assert p.tolist() == pytest.approx([0.2, 0.2])


# ------------------------------------------------------------------------------------ determinism


@pytest.mark.parametrize(
    "explorer",
    [EpsilonGreedy(0.5), Boltzmann(1.0), Warmup(Greedy(), 100)],
    ids=["eps", "boltzmann", "warmup"],
)
@pytest.mark.parametrize("masked", [False, True])
def test_seeded_generator_determinism(explorer: Exploration, masked: bool) -> None:
    scores = torch.randn(64, 5, generator=gen(7))
    mask = (torch.rand(64, 5, generator=gen(8)) < 0.6) if masked else None
    if mask is not None:
        mask[:, 0] = True
    torch.manual_seed(1)
    a1, p1 = explorer.select(scores, mask, 0, gen(42))
    torch.manual_seed(2)  # the global RNG must not matter
    a2, p2 = explorer.select(scores, mask, 0, gen(42))
    assert torch.equal(a1, a2) and torch.equal(p1, p2)
    a3, _ = explorer.select(scores, mask, 0, gen(43))
    assert not torch.equal(a1, a3)  # another seed gives other draws (64 rows of 5 actions)


def test_gaussian_noise_and_continuous_warmup() -> None:
    import math

    from nacre.exploration import GaussianNoise, Warmup

    g = torch.Generator().manual_seed(0)
    mean = torch.tensor([[0.2, -0.5]]).expand(20_000, 2)
    action, density = GaussianNoise(0.1).select(mean, None, 0, g)
    assert action.shape == (20_000, 2) and bool((action.abs() <= 1).all())
    torch.testing.assert_close(action.mean(0), torch.tensor([0.2, -0.5]), atol=3e-3, rtol=0)
    torch.testing.assert_close(action.std(0), torch.tensor([0.1, 0.1]), atol=3e-3, rtol=0)
    at_mean = 1.0 / (2 * math.pi * 0.01)  # the 2-D density at its mean
    assert float(density.max()) <= at_mean and float(density.max()) > 0.9 * at_mean
    clipped, _ = GaussianNoise(1.0).select(torch.full((1000, 1), 0.95), None, 0, g)
    assert float(clipped.max()) == 1.0  # clipped to the box
    warm = Warmup(GaussianNoise(0.1), steps=10, continuous=True)
    early, p_early = warm.select(mean[:5000], None, 3, g)
    assert float(early.min()) < -0.9 and float(early.max()) > 0.9  # uniform over the box
    torch.testing.assert_close(p_early, torch.full((5000,), 0.25))  # 1 / (2 · 2)
    late, _ = warm.select(mean[:5000], None, 10, g)
    assert float((late - mean[:5000]).abs().max()) < 0.6


def test_squashed_gaussian_sampling_density_and_range() -> None:
    from nacre.exploration import MeanAction, SquashedGaussianSampling
    from nacre.losses.policy import squashed_gaussian_log_prob

    g = torch.Generator().manual_seed(0)
    mean, log_std = torch.full((4000, 1), 0.5), torch.full((4000, 1), -1.0)
    scores = torch.stack([torch.tanh(mean), mean, log_std], dim=1)
    action, density = SquashedGaussianSampling().select(scores, None, 0, g)
    assert bool((action.abs() < 1).all())
    u = torch.atanh(action.clamp(-1 + 1e-6, 1 - 1e-6))
    torch.testing.assert_close(density, squashed_gaussian_log_prob(mean, log_std, u).exp(),
                               rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(torch.atanh(action).mean(), torch.tensor(0.5), atol=0.02, rtol=0)
    greedy, _ = MeanAction().select(scores, None, 0, g)
    torch.testing.assert_close(greedy, torch.tanh(mean))
    with pytest.raises(ValueError, match=r"\[B, 3, d\]"):
        SquashedGaussianSampling().select(torch.zeros(2, 2, 1), None, 0, g)
