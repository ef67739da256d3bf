"""Contextual-bandit components: learner and exploration conformance, propensities against
hand-computed formulas and Monte-Carlo frequencies, masks, the online buffer, action codes and
the registered components.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

import nacre
from nacre.actions import BinaryActionRepresentation, OneHotActionRepresentation
from nacre.config import yaml_io
from nacre.config.registry import names_of
from nacre.config.run import RunConfig
from nacre.data import StepBatch
from nacre.data.batch import TransitionBatch
from nacre.data.online import OnlineBuffer
from nacre.envs.bandits import SyntheticLinearBandit
from nacre.errors import ConfigError, InputError
from nacre.exploration import Boltzmann, EpsilonGreedy, Greedy, LinearSchedule, Warmup
from nacre.exploration.bandit import UCB, FastCB, SquareCB, ThompsonSampling
from nacre.learners.bandits.linear import DisjointLinearBandit, LinearBandit, LinearBanditConfig
from nacre.learners.bandits.neural import NeuralBandit, NeuralBanditConfig, NeuralLinearBandit
from nacre.spaces import BoxActionSpace, DiscreteActionSpace
from nacre.testing import check_exploration, check_learner
from nacre.types import Exploration, Learner

D, K = 6, 3

# ------------------------------------------------------------------------------------ learners


def _neural(cls: type[NeuralBandit], action_features: Tensor | None = None,
            **kw: Any) -> Callable[[], NeuralBandit]:
    def make() -> NeuralBandit:
        torch.manual_seed(0)
        config = NeuralBanditConfig(**{"hidden": (16,), "lr": 1e-2, **kw})
        return cls(D, K, action_features, config)
    return make


POSTERIOR_LEARNERS: dict[str, Callable[[], Learner]] = {
    "linear-outer": lambda: LinearBandit(D, torch.eye(K)),
    "linear-concat": lambda: LinearBandit(D, torch.eye(K), LinearBanditConfig(features="concat")),
    "linear-binary-discount": lambda: LinearBandit(
        D, BinaryActionRepresentation().code(K), LinearBanditConfig(discount=0.9)),
    "linear-concat-no-intercept-discount": lambda: LinearBandit(
        D, torch.eye(K), LinearBanditConfig(features="concat", intercept=False, discount=0.95,
                                            l2=0.1)),
    "disjoint": lambda: DisjointLinearBandit(D, K),
    "disjoint-no-intercept-discount": lambda: DisjointLinearBandit(
        D, K, LinearBanditConfig(discount=0.9, intercept=False, l2=3.0)),
    "neural-linear": _neural(NeuralLinearBandit),
    "neural-linear-ce-discount": _neural(NeuralLinearBandit, hidden=(16, 8), loss="cross_entropy",
                                         discount=0.9, activation="tanh"),
}
VALUE_LEARNERS: dict[str, Callable[[], Learner]] = {
    "neural-mse": _neural(NeuralBandit),
    "neural-cross-entropy": _neural(NeuralBandit, hidden=(16, 16), loss="cross_entropy",
                                    max_grad_norm=1.0),
    "neural-binary-actions": _neural(NeuralBandit,
                                     action_features=BinaryActionRepresentation().code(K)),
}


@pytest.mark.parametrize("name", sorted(POSTERIOR_LEARNERS))
def test_posterior_learners_conform(name: str) -> None:
    check_learner(POSTERIOR_LEARNERS[name](), D, K, posterior=True)


@pytest.mark.parametrize("name", sorted(VALUE_LEARNERS))
def test_neural_bandit_conforms(name: str) -> None:
    learner = VALUE_LEARNERS[name]()
    check_learner(learner, D, K)
    if "cross" in name:  # scores are probabilities
        s = learner.scores(torch.randn(5, D), None)
        assert bool(((s > 0) & (s < 1)).all())


@pytest.mark.parametrize("name", sorted(POSTERIOR_LEARNERS))
def test_posterior_learners_conform_one_row_at_a_time(name: str) -> None:
    # batch_size 1 is what the bandit presets learn with
    check_learner(POSTERIOR_LEARNERS[name](), D, K, posterior=True, batch_size=1)


def test_a_copied_disjoint_bandit_learns_one_row_into_its_own_state() -> None:
    model = DisjointLinearBandit(3, 2)
    twin = copy.deepcopy(model)
    x = torch.tensor([[0.5, -1.0, 2.0]])
    row = TransitionBatch(obs=x, action=torch.tensor([1]), reward=torch.tensor([1.0]), next_obs=x,
                          terminated=torch.ones(1))
    twin.learn_batch(row)
    # B = 1 and B = 2 score the same state
    torch.testing.assert_close(twin.scores(x), twin.scores(torch.cat([x, x]))[:1])
    assert not torch.equal(twin.state_dict()["theta"], model.state_dict()["theta"])


def test_check_learner_posterior_catches_a_negative_spread() -> None:
    class NegativeSigma(DisjointLinearBandit):
        def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
            s = super().scores(state, action_features)
            return torch.stack([s[..., 0], -s[..., 1]], -1)

    with pytest.raises(AssertionError, match="negative σ"):
        check_learner(NegativeSigma(D, K), D, K, posterior=True)
    with pytest.raises(AssertionError, match="expected shape"):  # [B, K] is not a posterior
        check_learner(VALUE_LEARNERS["neural-mse"](), D, K, posterior=True)


def test_learner_input_validation() -> None:
    with pytest.raises(ConfigError, match="discount"):
        LinearBanditConfig(discount=0.0)
    with pytest.raises(ConfigError, match="l2"):
        LinearBanditConfig(l2=-1.0)
    with pytest.raises(ConfigError, match="features"):
        LinearBanditConfig(features="kron")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="hidden"):
        NeuralBanditConfig(hidden=())
    with pytest.raises(InputError, match="contexts"):
        DisjointLinearBandit(D, K).scores(torch.zeros(2, D + 1))
    with pytest.raises(InputError, match="action_features"):
        LinearBandit(D, torch.zeros(K))
    with pytest.raises(InputError, match="action_features"):
        NeuralBandit(D, K, torch.eye(K + 1))
    x = torch.zeros(2, D)
    bad = TransitionBatch(obs=x, action=torch.tensor([0, K]), reward=torch.zeros(2), next_obs=x,
                          terminated=torch.ones(2))
    with pytest.raises(InputError, match="arms"):
        DisjointLinearBandit(D, K).learn_batch(bad)
    # the same checks for one decision / one row (a separate fast path)
    with pytest.raises(InputError, match="contexts"):
        DisjointLinearBandit(D, K).scores(torch.zeros(1, D + 1))
    one = TransitionBatch(obs=x[:1], action=torch.tensor([K]), reward=torch.zeros(1),
                          next_obs=x[:1], terminated=torch.ones(1))
    with pytest.raises(InputError, match="arms"):
        DisjointLinearBandit(D, K).learn_batch(one)


# ------------------------------------------------------------------------------------ exploration

# name -> (factory, reads posterior scores only)
EXPLORERS: dict[str, tuple[Callable[[], Exploration], bool]] = {
    "ucb": (lambda: UCB(1.0), True),
    "ucb-greedy": (lambda: UCB(0.0), True),
    "thompson": (ThompsonSampling, True),
    "thompson-0.3-16-nodes": (lambda: ThompsonSampling(0.3, nodes=16), True),
    "warmup-ucb": (lambda: Warmup(UCB(), 100), True),
    "squarecb": (SquareCB, False),
    "squarecb-constant-gamma": (lambda: SquareCB(1.0, 0.0), False),
    "fastcb": (FastCB, False),
    "epsilon-greedy": (lambda: EpsilonGreedy(0.1), False),
    "epsilon-schedule": (lambda: EpsilonGreedy(LinearSchedule(1.0, 0.05, 1000)), False),
    "boltzmann": (lambda: Boltzmann(0.5), False),
    "greedy": (Greedy, False),
    "warmup-squarecb": (lambda: Warmup(SquareCB(), 100), False),
}
CASES = [(name, posterior) for name, (_, only) in sorted(EXPLORERS.items())
         for posterior in ((True,) if only else (True, False))]


@pytest.mark.parametrize("n_actions", [2, 7])
@pytest.mark.parametrize(("name", "posterior"), CASES)
def test_explorers_conform(name: str, posterior: bool, n_actions: int) -> None:
    factory, _ = EXPLORERS[name]
    explorer = factory()
    # Thompson's propensities cost B × K² × nodes: fewer identical rows at K = 7
    draws = 2000 if isinstance(explorer, ThompsonSampling) and n_actions > 2 else 4000
    deterministic = True if name in ("ucb", "ucb-greedy", "greedy") else None
    check_exploration(explorer, n_actions, steps=(0, 10_000), posterior=posterior, draws=draws,
                      deterministic=deterministic)


def test_check_exploration_posterior_catches_wrong_thompson_propensities() -> None:
    class Misreporting(ThompsonSampling):
        """Draws with scale 1 but reports the propensities of scale 3."""

        def select(self, scores: Tensor, mask: Tensor | None, step: int, generator: Any
                   ) -> tuple[Tensor, Tensor]:
            action, _ = super().select(scores, mask, step, generator)
            probs = ThompsonSampling(3.0).distribution(scores, mask, step)
            return action, probs.gather(1, action[:, None]).squeeze(1)

    with pytest.raises(AssertionError, match="differ from the distribution|predicts"):
        check_exploration(Misreporting(), 3, posterior=True)


def _thompson_monte_carlo(mu: list[float], sigma: list[float], mask: list[bool] | None,
                          n: int = 400_000) -> np.ndarray:
    rng = np.random.default_rng(0)
    draw = np.asarray(mu) + np.asarray(sigma) * rng.standard_normal((n, len(mu)))
    if mask is not None:
        draw = np.where(np.asarray(mask), draw, -np.inf)
    return np.bincount(draw.argmax(1), minlength=len(mu)) / n


THOMPSON_CASES = {
    # one arm with a tiny spread between wide ones
    "tiny-vs-wide": ([0.5, 0.0, 0.3, 0.6], [1e-4, 1.0, 2.0, 0.5], None),
    "tiny-best": ([1.0, 0.0, 0.2], [1e-6, 0.5, 0.5], None),
    "tiny-middle": ([0.0, 0.0, 0.5, -0.3], [1.0, 1e-5, 1.0, 0.01], None),
    "point-masses": ([0.0, 0.5, 0.5], [0.0, 0.0, 1.0], None),
    "close-narrow": ([0.1, 0.101, 0.0], [1e-3, 1e-3, 1e-3], None),
    "seven-arms": (list(np.linspace(0.0, 1.0, 7)), [0.3] * 7, None),
    # the best arm and another masked; a tiny-spread arm available
    "masked": ([2.0, 0.0, 0.1, -0.1, 0.05], [0.1, 0.3, 1e-4, 0.5, 0.2],
               [False, True, True, True, False]),
}


@pytest.mark.parametrize("case", sorted(THOMPSON_CASES))
def test_thompson_propensities_match_monte_carlo(case: str) -> None:
    mu, sigma, mask = THOMPSON_CASES[case]
    truth = _thompson_monte_carlo(mu, sigma, mask)
    scores = torch.tensor([mu, sigma], dtype=torch.float32).T[None]
    m = None if mask is None else torch.tensor(mask)[None]
    # the quadrature's error is below 1 / nodes (64 by default); Monte-Carlo's 3σ is < 0.003
    probs = ThompsonSampling().distribution(scores, m, 0)[0].double().numpy()
    assert np.abs(probs - truth).max() < 0.02, (probs, truth)
    assert abs(probs.sum() - 1.0) < 1e-5
    if mask is not None:
        assert (probs[~np.asarray(mask)] == 0).all()
    # more nodes converge on the truth
    fine = ThompsonSampling(nodes=1024).distribution(scores, m, 0)[0].double().numpy()
    assert np.abs(fine - truth).max() < 0.004, (fine, truth)
    # what select draws: the same frequencies (5σ of n draws, plus the quadrature's error), and
    # each propensity is the distribution's
    n = 5000
    action, p = ThompsonSampling().select(scores.expand(n, -1, -1).contiguous(),
                                          None if m is None else m.expand(n, -1).contiguous(),
                                          0, torch.Generator().manual_seed(1))
    freq = np.bincount(action.numpy(), minlength=len(mu)) / n
    tol = 5 * np.sqrt(truth * (1 - truth) / n) + 1 / 64 + 1 / n
    assert (np.abs(freq - truth) <= tol).all(), (freq, truth)
    torch.testing.assert_close(p, torch.from_numpy(probs).float()[action], rtol=0, atol=1e-6)


def test_thompson_ties_between_point_masses_match_their_propensities() -> None:
    n = 4000
    for mu, sigma in (([1.0, 1.0, 0.0], 0.0), ([0.3, 0.3, 0.0], 1e-9)):
        scores = torch.tensor([[[m, sigma] for m in mu]]).expand(n, -1, -1).contiguous()
        action, p = ThompsonSampling().select(scores, None, 0, torch.Generator().manual_seed(0))
        # whatever the propensities say, the draws must follow them
        reported = {a: float(p[action == a][0]) for a in torch.unique(action).tolist()}
        assert sum(reported.values()) > 1 - 1e-5, reported
        counts = torch.bincount(action, minlength=3)
        for a, pa in reported.items():
            assert abs(int(counts[a]) - n * pa) <= 5 * math.sqrt(n * pa * (1 - pa)) + 1, (
                mu, sigma, counts.tolist(), reported)


# SquareCB by hand: μ = (0.5, 0.2, 0.0); γ_t = 10 √t, so γ = 20 at step 4 and 10 at step 0.
# Step 4, all arms: gaps (0, 0.3, 0.5): p₁ = 1 / (3 + 20·0.3) = 1/9, p₂ = 1 / (3 + 20·0.5) = 1/13,
#   p₀ = 1 - 1/9 - 1/13 = 95/117.
# Step 4, arm 2 masked (K = 2): p₁ = 1 / (2 + 6) = 1/8, p₀ = 7/8.
# Step 4, the best arm masked: best is arm 1 (μ 0.2), gap of arm 2 is 0.2: p₂ = 1 / (2 + 4) = 1/6.
# Step 0 (γ = 10): p₁ = 1 / (3 + 3) = 1/6, p₂ = 1 / (3 + 5) = 1/8, p₀ = 1 - 1/6 - 1/8 = 17/24.
SQUARECB_BY_HAND = [
    (4, None, [95 / 117, 1 / 9, 1 / 13]),
    (4, [True, True, False], [7 / 8, 1 / 8, 0.0]),
    (4, [False, True, True], [0.0, 5 / 6, 1 / 6]),
    (0, None, [17 / 24, 1 / 6, 1 / 8]),
]
# FastCB by hand: μ = (0.8, 0.5, 0.0), losses ℓ = 1 - μ = (0.2, 0.5, 1.0), ℓ* = 0.2, γ = 20:
#   p₁ = 0.2 / (3·0.2 + 20·0.3) = 0.2 / 6.6 = 1/33, p₂ = 0.2 / (0.6 + 20·0.8) = 0.2 / 16.6 = 1/83,
#   p₀ = 1 - 1/33 - 1/83.
# Arm 0 masked: ℓ* = 0.5, K = 2: p₂ = 0.5 / (1 + 20·0.5) = 1/22.
FASTCB_BY_HAND = [
    (4, None, [1 - 1 / 33 - 1 / 83, 1 / 33, 1 / 83]),
    (4, [False, True, True], [0.0, 21 / 22, 1 / 22]),
]


def _inverse_gap_case(explorer: Exploration, mu: list[float], step: int,
                      mask: list[bool] | None, expected: list[float]) -> None:
    m = None if mask is None else torch.tensor([mask])
    for scores in (torch.tensor([mu]), torch.tensor([[[v, 0.3] for v in mu]])):  # plain, [μ, σ]
        probs = explorer.distribution(scores, m, step)  # type: ignore[attr-defined]
        torch.testing.assert_close(probs[0].double(), torch.tensor(expected, dtype=torch.float64),
                                   rtol=0, atol=1e-6)
        # select agrees, on one row (the NumPy path without a mask) and on many
        for b in (1, 3000):
            action, p = explorer.select(scores.expand(b, *scores.shape[1:]).contiguous(),
                                        None if m is None else m.expand(b, -1).contiguous(),
                                        step, torch.Generator().manual_seed(b))
            torch.testing.assert_close(p, probs[0][action], rtol=0, atol=1e-6)
        counts = torch.bincount(action, minlength=len(mu)).double() / 3000
        assert (counts - torch.tensor(expected, dtype=torch.float64)).abs().max() < 0.03


@pytest.mark.parametrize(("step", "mask", "expected"), SQUARECB_BY_HAND)
def test_squarecb_distribution_by_hand(step: int, mask: list[bool] | None,
                                       expected: list[float]) -> None:
    _inverse_gap_case(SquareCB(10.0, 0.5), [0.5, 0.2, 0.0], step, mask, expected)


@pytest.mark.parametrize(("step", "mask", "expected"), FASTCB_BY_HAND)
def test_fastcb_distribution_by_hand(step: int, mask: list[bool] | None,
                                     expected: list[float]) -> None:
    _inverse_gap_case(FastCB(10.0, 0.5), [0.8, 0.5, 0.0], step, mask, expected)


def test_fastcb_stops_exploring_when_the_best_arm_loses_nothing() -> None:
    # ℓ* = 0: every other arm gets ℓ* / (...) = 0, also where every loss is 0 (μ ≥ 1)
    for mu in ([1.0, 0.5, 0.0], [1.2, 1.0, 1.5]):
        probs = FastCB().distribution(torch.tensor([mu]), None, 100)[0]
        best = int(torch.tensor(mu).argmax())
        assert float(probs[best]) == 1.0 and float(probs.sum()) == 1.0
    # SquareCB keeps exploring at rate 1 / (K + γ gap)
    probs = SquareCB().distribution(torch.tensor([[1.0, 0.5, 0.0]]), None, 100)[0]
    assert float(probs.min()) > 0


@pytest.mark.parametrize("name", sorted(EXPLORERS))
def test_distributions_sum_to_one_and_skip_masked_actions(name: str) -> None:
    factory, _ = EXPLORERS[name]
    explorer = factory()
    g = torch.Generator().manual_seed(4)
    for k in (2, 5, 9):
        mu = torch.randn(32, k, generator=g) * torch.tensor([0.01, 1.0, 100.0]).repeat(11)[:32,
                                                                                         None]
        scores = torch.stack([mu, torch.rand(32, k, generator=g)], -1)
        mask = torch.rand(32, k, generator=g) < 0.4
        mask[torch.arange(32), torch.randint(k, (32,), generator=g)] = True
        for step in (0, 50, 10_000):
            for m in (None, mask):
                probs = explorer.distribution(scores, m, step)  # type: ignore[attr-defined]
                assert probs.shape == (32, k)
                assert bool((probs >= 0).all())
                torch.testing.assert_close(probs.sum(1), torch.ones(32), rtol=0, atol=1e-5)
                if m is not None:
                    assert bool((probs[~m] == 0).all()), name


@pytest.mark.parametrize("name", sorted(EXPLORERS))
def test_one_decision_at_a_time_draws_the_distribution(name: str) -> None:
    """B = 1 (a live system; several explorers take a NumPy path there): each propensity is the
    distribution's, the frequencies match it, masks are respected."""
    factory, _ = EXPLORERS[name]
    explorer = factory()
    scores = torch.tensor([[[0.3, 0.2], [0.25, 0.4], [-0.5, 0.1], [0.29, 0.05]]])
    mask = torch.tensor([[True, False, True, True]])
    g = torch.Generator().manual_seed(0)
    n = 2000
    for m in (None, mask):
        probs = explorer.distribution(scores, m, 200)[0]  # type: ignore[attr-defined]
        counts = torch.zeros(4)
        for _ in range(n):
            action, p = explorer.select(scores, m, 200, g)
            assert action.shape == (1,) and action.dtype == torch.int64
            assert p.shape == (1,) and p.dtype == torch.float32
            a = int(action)
            assert m is None or bool(m[0, a])
            assert abs(float(p) - float(probs[a])) < 1e-5
            counts[a] += 1
        for a in range(4):
            pa = float(probs[a])
            assert abs(counts[a] - n * pa) <= 5 * math.sqrt(n * pa * (1 - pa)) + 1, (
                name, m, counts.tolist(), probs.tolist())


def test_ucb_picks_the_upper_bound_for_one_and_many_rows() -> None:
    g = torch.Generator().manual_seed(0)
    scores = torch.stack([torch.randn(50, 6, generator=g), torch.rand(50, 6, generator=g)], -1)
    for alpha in (0.0, 0.5, 3.0):
        upper = scores[..., 0] + alpha * scores[..., 1]
        batched, p = UCB(alpha).select(scores, None, 0, None)
        assert torch.equal(batched, upper.argmax(1)) and bool((p == 1).all())
        one = torch.cat([UCB(alpha).select(scores[i : i + 1], None, 0, None)[0]
                         for i in range(50)])
        assert torch.equal(one, batched)
    # ties: the first of the best, on both paths
    tied = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.5, 0.0]]])
    assert int(UCB(1.0).select(tied, None, 0, None)[0]) == 0
    assert int(UCB(1.0).select(tied.expand(2, -1, -1), None, 0, None)[0][1]) == 0


def test_explorer_parameters_are_checked() -> None:
    for make in (lambda: UCB(-1.0), lambda: ThompsonSampling(0.0), lambda: SquareCB(0.0),
                 lambda: FastCB(1.0, -0.5)):
        with pytest.raises(ValueError):
            make()
    assert SquareCB(10.0, 0.5).gamma(0) == SquareCB(10.0, 0.5).gamma(1) == 10.0
    assert SquareCB(10.0, 0.5).gamma(100) == pytest.approx(100.0)


# ------------------------------------------------------------------------------------ masks


AGENT_EXPLORERS: dict[str, Callable[[], Exploration]] = {
    "ucb": lambda: UCB(1.0),
    "thompson": lambda: ThompsonSampling(0.5),
    "squarecb": SquareCB,
    "fastcb": FastCB,
    "epsilon-greedy": lambda: EpsilonGreedy(0.3),
    "boltzmann": lambda: Boltzmann(0.5),
    "greedy": Greedy,
    "warmup-ucb": lambda: Warmup(UCB(), 40),
}


class RecordingBandit(SyntheticLinearBandit):
    """Records every (mask, action) it is stepped with, before its own checks."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.seen: list[tuple[np.ndarray, np.ndarray]] = []

    def step(self, action: Any) -> Any:
        assert self._mask is not None
        self.seen.append((self._mask.copy(), np.asarray(action).copy()))
        return super().step(action)


def _all_available(seen: list[tuple[np.ndarray, np.ndarray]]) -> bool:
    return all(bool(m[np.arange(len(a)), a].all()) for m, a in seen)


@pytest.mark.parametrize("neural", [False, True])
@pytest.mark.parametrize("name", sorted(AGENT_EXPLORERS))
def test_agents_never_choose_unavailable_actions(name: str, neural: bool) -> None:
    explorer = AGENT_EXPLORERS[name]()
    learner: Learner
    if neural:
        if name in ("ucb", "thompson", "warmup-ucb"):
            torch.manual_seed(0)
            learner = NeuralLinearBandit(8, 5, config=NeuralBanditConfig(hidden=(16,)))
        else:
            torch.manual_seed(0)
            learner = NeuralBandit(8, 5, config=NeuralBanditConfig(hidden=(16,)))
    else:
        learner = DisjointLinearBandit(8, 5)
    env = RecordingBandit(n_actions=5, context_dim=8, available_prob=0.3, num_envs=8)
    agent = nacre.Agent(learner, exploration=explorer, buffer=OnlineBuffer(), seed=0)
    obs = env.reset(seed=0)
    agent.reset(obs, env.action_space, env.available)
    single_choice = 0
    for step in range(40):
        assert env.available is not None
        mask = env.available.mask
        single_choice += int((mask.sum(1) == 1).sum())
        if step % 5 == 4:  # exploit: the greedy available action
            action = agent.act(exploit=True)
            mu = learner.scores(torch.as_tensor(obs))
            mu = mu[..., 0] if mu.ndim == 3 else mu
            assert torch.equal(action, mu.masked_fill(~mask, -math.inf).argmax(1))
        else:
            action = agent.act()
        assert bool(mask.gather(1, action[:, None]).all()), (step, action, mask)
        assert agent.last_propensity is not None and bool((agent.last_propensity > 0).all())
        result = env.step(action)
        agent.observe(result)
        agent.learn(4)
        obs = result.obs
    assert single_choice > 0  # rows with one available arm were seen
    assert _all_available(env.seen)
    # evaluation: one env at a time and batched
    for envs in (RecordingBandit(n_actions=5, context_dim=8, available_prob=0.3),
                 [RecordingBandit(n_actions=5, context_dim=8, available_prob=0.3)
                  for _ in range(4)]):
        returns = nacre.evaluate(agent, envs, 12, seed=3)
        assert len(returns) == 12
        for e in envs if isinstance(envs, list) else [envs]:
            assert e.seen and _all_available(e.seen)


# ------------------------------------------------------------------------------------ buffer


def _add(buf: OnlineBuffer, start: int, b: int, valid: Any = None,
         propensity: Any = None) -> None:
    obs = np.arange(start, start + b, dtype=np.float32)[:, None].repeat(3, 1)
    buf.add(StepBatch(
            obs, torch.arange(start, start + b), np.arange(start, start + b, dtype=np.float32),
            obs, np.ones(b, bool), np.zeros(b, bool), propensity, valid))


def test_online_buffer_hands_over_every_row_once_in_order() -> None:
    buf = OnlineBuffer(capacity=100)
    assert len(buf) == 0 and not buf.can_sample
    with pytest.raises(InputError, match="no transitions"):
        buf.sample(4)
    _add(buf, 0, 3)
    _add(buf, 3, 1, propensity=torch.tensor([0.25]))
    _add(buf, 4, 5)
    assert len(buf) == 9 and buf.can_sample
    batch = buf.sample(2)  # every pending row, whatever the batch size
    assert batch.obs.shape == (9, 3) and batch.obs.dtype == torch.float32
    assert batch.action.tolist() == list(range(9))
    assert batch.reward.tolist() == [float(i) for i in range(9)]
    assert batch.propensity is not None
    assert batch.propensity.tolist() == [1.0, 1.0, 1.0, 0.25, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert torch.equal(batch.next_obs, batch.obs) and bool((batch.terminated == 1).all())
    assert len(buf) == 0 and not buf.can_sample
    _add(buf, 20, 2)
    assert buf.sample(64).action.tolist() == [20, 21]  # nothing of the first round again


def test_online_buffer_capacity_invalid_rows_and_bad_rewards() -> None:
    buf = OnlineBuffer(capacity=5)
    _add(buf, 0, 3)
    with pytest.raises(InputError, match="capacity"):
        _add(buf, 3, 3)
    assert len(buf) == 3  # the refused rows were not half-added
    _add(buf, 3, 4, valid=np.array([True, False, True, False]))  # 2 valid rows fit
    assert buf.sample(1).action.tolist() == [0, 1, 2, 3, 5]
    with pytest.raises(InputError, match="reward"):
        buf.add(StepBatch(np.zeros((1, 3)), torch.tensor([0]), np.array([np.nan]), np.zeros((1, 3)),
                None, None))
    with pytest.raises(InputError):
        OnlineBuffer(capacity=0)


def test_online_buffer_copies_the_observations_it_keeps() -> None:
    buf = OnlineBuffer()
    obs = np.ones((2, 3), np.float32)
    buf.add(StepBatch(obs, torch.tensor([0, 1]), np.zeros(2, np.float32), obs, None, None))
    obs[:] = 7.0  # an environment reusing its observation array
    assert bool((buf.sample(1).obs == 1.0).all())


def test_online_buffer_state_dict_round_trip() -> None:
    buf = OnlineBuffer(capacity=50)
    _add(buf, 0, 4)
    _add(buf, 4, 2, propensity=np.array([0.5, 0.125], np.float32))
    state = buf.state_dict()
    other = OnlineBuffer(capacity=50)
    _add(other, 100, 3)  # replaced by the loaded rows
    other.load_state_dict(copy.deepcopy(state))
    assert len(other) == 6
    a, b = buf.sample(1), other.sample(1)
    for field in ("obs", "action", "reward", "propensity"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field
    # an empty buffer's state empties the one it is loaded into
    other.load_state_dict(OnlineBuffer().state_dict())
    _add(buf, 0, 1)
    buf.sample(1)
    other.load_state_dict(buf.state_dict())
    assert len(other) == 0


def test_agent_learns_each_online_row_once() -> None:
    seen: list[TransitionBatch] = []

    class Recording(DisjointLinearBandit):
        def learn_batch(self, batch: TransitionBatch) -> Any:
            seen.append(batch)
            return super().learn_batch(batch)

    env = SyntheticLinearBandit(n_actions=4, context_dim=3, num_envs=3)
    agent = nacre.Agent(Recording(3, 4), exploration=SquareCB(), buffer=OnlineBuffer(), seed=0)
    obs = env.reset(seed=0)
    agent.reset(obs, env.action_space)
    contexts, actions = [], []
    for step in range(12):
        contexts.append(obs)
        action = agent.act()
        actions.append(action)
        result = env.step(action)
        agent.observe(result)
        obs = result.obs
        if step % 4 == 3:  # 12 rows wait, learned in batches of at most 5, each once
            agent.learn(5, gradient_steps=3)
    assert all(len(b) <= 5 for b in seen)
    learned = torch.cat([b.obs for b in seen])
    assert torch.equal(learned, torch.from_numpy(np.concatenate(contexts)))
    assert torch.equal(torch.cat([b.action for b in seen]), torch.cat(actions))
    assert agent.learn(5) == {}  # nothing waiting: nothing learned


# ------------------------------------------------------------------------------------ action codes


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 100])
def test_binary_codes_of_action_indices(k: int) -> None:
    code = BinaryActionRepresentation().represent(DiscreteActionSpace(k), None)
    bits = max(1, math.ceil(math.log2(k)))
    assert code.shape == (k, bits) and code.dtype == torch.float32
    assert bool(((code == -1) | (code == 1)).all())  # ±1: no action is the zero vector
    assert len({tuple(row) for row in code.tolist()}) == k  # distinct codes
    # least significant bit first: the code reads back as the index
    bit = (code + 1) / 2
    assert torch.equal((bit * 2 ** torch.arange(bits)).sum(1).long(), torch.arange(k))


def test_one_hot_codes_and_caching() -> None:
    one_hot = OneHotActionRepresentation()
    code = one_hot.represent(DiscreteActionSpace(4), None)
    assert torch.equal(code, torch.eye(4))
    assert one_hot.represent(DiscreteActionSpace(4), None) is code  # made once per K
    assert one_hot.represent(DiscreteActionSpace(6), None).shape == (6, 6)
    for rep in (one_hot, BinaryActionRepresentation()):
        with pytest.raises(TypeError, match="discrete"):
            rep.represent(BoxActionSpace(np.zeros(2), np.ones(2)), None)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ registry

SYNTHETIC = "env: {id: bandit/synthetic-linear, kwargs: {n_actions: 4, context_dim: 3}}\n"


def _build(text: str) -> nacre.config.Run:
    return nacre.build(RunConfig.from_dict(yaml_io.loads(text)))


def test_bandit_components_are_registered() -> None:
    assert {"linear_bandit", "disjoint_linear_bandit", "neural_bandit",
            "neural_linear_bandit"} <= set(names_of("learner"))
    assert {"ucb", "thompson", "squarecb", "fastcb"} <= set(names_of("exploration"))
    assert "online" in names_of("buffer")
    assert {"one_hot", "binary"} <= set(names_of("action_repr"))


@pytest.mark.parametrize(("yaml", "learner", "explorer", "features"), [
    ("learner: {name: disjoint_linear_bandit, l2: 2.0, discount: 0.99}\n"
     "exploration: {name: ucb, alpha: 0.3}\nbuffer: online\n",
     DisjointLinearBandit, UCB, None),
    ("learner: {name: linear_bandit, features: concat}\nexploration: {name: thompson, scale: 0.5,"
     " nodes: 16}\nbuffer: {name: online, capacity: 2000}\naction_repr: one_hot\n",
     LinearBandit, ThompsonSampling, torch.eye(4)),
    ("learner: linear_bandit\nexploration: squarecb\nbuffer: online\naction_repr: binary\n",
     LinearBandit, SquareCB, BinaryActionRepresentation().code(4)),
    ("learner: {name: neural_bandit, hidden: [8], loss: cross_entropy}\n"
     "exploration: {name: fastcb, gamma_scale: 5.0, gamma_exponent: 0.25}\nbuffer: online\n",
     NeuralBandit, FastCB, None),
    ("learner: {name: neural_linear_bandit, hidden: [8, 8]}\nexploration: thompson\n"
     "buffer: {name: replay, capacity: 100}\n", NeuralLinearBandit, ThompsonSampling, None),
    ("learner: neural_linear_bandit\nexploration: {name: epsilon_greedy}\nbuffer: online\n",
     NeuralLinearBandit, EpsilonGreedy, None),
])
def test_bandit_components_build_from_yaml(yaml: str, learner: type, explorer: type,
                                           features: Tensor | None) -> None:
    run = _build(SYNTHETIC + yaml)
    assert type(run.agent.learner) is learner
    assert isinstance(run.agent.exploration, explorer)
    if features is not None:
        assert torch.equal(run.agent.learner.action_features.float(), features)  # type: ignore[attr-defined]
    obs = run.env.reset(seed=0)
    run.agent.reset(obs, run.env.action_space)
    run.agent.observe(run.env.step(run.agent.act()))
    assert run.agent.learn(1)


def test_learner_on_arm_features_of_the_env() -> None:
    # the synthetic env's arms have features: linear_bandit scores them without an action code
    run = _build("env: {id: bandit/synthetic-linear, kwargs: {arm_features: true, "
                 "feature_dim: 5}}\nlearner: linear_bandit\nexploration: ucb\nbuffer: online\n")
    learner = run.agent.learner
    assert isinstance(learner, LinearBandit) and learner.action_features.shape == (10, 5)


@pytest.mark.parametrize(("yaml", "match"), [
    ("learner: neural_bandit\nexploration: ucb\nbuffer: online\n", "does not fit"),
    ("learner: neural_bandit\nexploration: thompson\nbuffer: online\n", "does not fit"),
    ("learner: disjoint_linear_bandit\nexploration: policy\nbuffer: online\n", "does not fit"),
    ("learner: linear_bandit\nexploration: ucb\nbuffer: online\n", "action features"),
    ("learner: {name: disjoint_linear_bandit, discount: 1.5}\nexploration: ucb\n", "discount"),
    ("learner: {name: disjoint_linear_bandit, features: kron}\nexploration: ucb\n", "features"),
    ("learner: {name: neural_bandit, loss: hinge}\nexploration: squarecb\n", "loss"),
    ("learner: disjoint_linear_bandit\nexploration: {name: ucb, alpha: -1}\n", "alpha"),
    ("learner: disjoint_linear_bandit\nexploration: {name: thompson, nodes: 4}\n", "nodes"),
    ("learner: disjoint_linear_bandit\nexploration: {name: squarecb, gamma_scale: 0}\n",
     "gamma_scale"),
    ("learner: disjoint_linear_bandit\nexploration: {name: ucb, beta: 1}\n", "beta"),
])
def test_wrong_bandit_combinations_are_config_errors(yaml: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _build(SYNTHETIC + yaml)


def test_bandit_learners_need_flat_contexts_and_discrete_actions() -> None:
    with pytest.raises(ConfigError, match="discrete"):
        _build("env: {id: Pendulum-v1}\nlearner: disjoint_linear_bandit\nexploration: ucb\n")
    with pytest.raises(ConfigError, match="flat Box contexts"):
        _build("env: {id: FrozenLake-v1}\nlearner: neural_bandit\nexploration: squarecb\n")
    with pytest.raises(ConfigError, match="capacity"):
        _build("env: {id: bandit/synthetic-linear, num_envs: 8}\nlearner: disjoint_linear_bandit"
               "\nexploration: ucb\nbuffer: {name: online, capacity: 4}\n")


def test_ucb_with_a_mean_only_learner_says_it_needs_a_posterior() -> None:
    with pytest.raises(ConfigError, match="posterior"):
        _build(SYNTHETIC + "learner: neural_bandit\nexploration: ucb\nbuffer: online\n")


# ---------------------------------------------------------------- per-arm models of any learner
@pytest.mark.parametrize("base, posterior", [
    (lambda: NeuralBandit(D, 1), False),
    (lambda: NeuralLinearBandit(D, 1), True),
    (lambda: DisjointLinearBandit(D, 1), True),
])
def test_per_arm_learners_conform(base: Any, posterior: bool) -> None:
    from nacre.learners.bandits import PerArm

    check_learner(PerArm(lambda arm: base(), K), D, K, posterior=posterior)


def test_per_arm_routes_each_row_to_its_arm_only() -> None:
    from nacre.learners.bandits import PerArm

    bandit = PerArm(lambda arm: DisjointLinearBandit(D, 1), K)
    before = [copy.deepcopy(arm.state_dict()) for arm in bandit.arms]
    x = torch.randn(3, D)
    bandit.learn_batch(TransitionBatch(obs=x, action=torch.tensor([1, 1, 1]),
                                       reward=torch.ones(3), next_obs=x, terminated=torch.ones(3)))
    for a, arm in enumerate(bandit.arms):
        changed = not torch.equal(arm.state_dict()["b"], before[a]["b"])
        assert changed == (a == 1)


def test_per_arm_builds_from_config() -> None:
    run = _build(SYNTHETIC + "learner: {name: per_arm, base: {name: neural_linear_bandit, "
                 "hidden: [8]}}\nexploration: thompson\nbuffer: {name: replay, capacity: 100}\n")
    obs = run.env.reset(seed=0)
    run.agent.reset(obs, run.env.action_space, run.env.available)
    assert run.agent.act().shape == (1,)
    with pytest.raises(ConfigError, match="nest"):
        _build(SYNTHETIC + "learner: {name: per_arm, base: {name: per_arm}}\n"
               "exploration: thompson\nbuffer: online\n")


@pytest.mark.parametrize("explorer", [SquareCB(), FastCB(), UCB(0.5)])
def test_one_decision_path_draws_from_the_reported_distribution(explorer: Any) -> None:
    # B = 1 takes a NumPy path: its draws must follow `distribution` (the batched path).
    g = torch.Generator().manual_seed(0)
    scores = torch.stack([torch.tensor([[0.9, 0.5, 0.85, 0.1]]), torch.full((1, 4), 0.2)], -1)
    probs = explorer.distribution(scores, None, 50)[0]
    counts = torch.zeros(4)
    for _ in range(4000):
        a, p = explorer.select(scores, None, 50, g)
        counts[int(a)] += 1
        torch.testing.assert_close(p, probs[a], rtol=0, atol=1e-6)
    tol = 5 * torch.sqrt(4000 * probs * (1 - probs)) + 1
    assert bool(((counts - 4000 * probs).abs() <= tol).all()), (counts / 4000, probs)


# ---------------------------------------------------------------- joint LinTS
def _joint_model(seed: int = 0) -> LinearBandit:
    g = torch.Generator().manual_seed(seed)
    model = LinearBandit(4, torch.randn(5, 3, generator=g),
                         LinearBanditConfig(posterior="joint", l2=2.0))
    x = torch.randn(40, 4, generator=g)
    model.learn_batch(TransitionBatch(obs=x, action=torch.randint(5, (40,), generator=g),
                                      reward=torch.randn(40, generator=g), next_obs=x,
                                      terminated=torch.ones(40)))
    return model


def test_joint_scores_carry_a_factor_of_the_arm_covariance() -> None:
    model = _joint_model()
    x = torch.randn(2, 4)
    s = model.scores(x, None)
    marginal = LinearBandit(4, model.action_features.float(), LinearBanditConfig(l2=2.0))
    marginal.load_state_dict(model.state_dict())
    m = marginal.scores(x, None)
    assert s.shape == (2, 5, 2 + model.a_inv.shape[-1])
    torch.testing.assert_close(s[..., :2], m, rtol=1e-5, atol=1e-6)
    phi = model.features(_ctx(x)[:, None, :], model.action_features[None])
    cov = phi @ model.a_inv[0] @ phi.transpose(1, 2)
    factor = s[..., 2:].double()
    torch.testing.assert_close(factor @ factor.transpose(1, 2), cov, rtol=1e-4, atol=1e-6)


def _ctx(x: Tensor) -> Tensor:
    return torch.cat([x.double(), torch.ones(x.shape[0], 1, dtype=torch.float64)], 1)


def test_joint_thompson_draw_is_lints_draw_of_theta() -> None:
    # μ + vFz with F = φL is φ(θ̂ + vLz): the action LinTS takes for the same z.
    model = _joint_model(1)
    x = torch.randn(64, 4)
    scores = model.scores(x, None)
    explorer = ThompsonSampling(scale=0.7)
    action, _ = explorer.select(scores, None, 0, torch.Generator().manual_seed(3))
    z = torch.randn(64, scores.shape[-1] - 2, generator=torch.Generator().manual_seed(3))
    theta = model.theta[0] + 0.7 * (model._cholesky() @ z.double().T).T  # [64, D]
    phi = model.features(_ctx(x)[:, None, :], model.action_features[None])
    expected = (phi * theta[:, None, :]).sum(-1).argmax(1)
    assert torch.equal(action, expected)


def test_joint_thompson_propensities_match_frequencies_and_masks() -> None:
    model = _joint_model(2)
    row = model.scores(torch.randn(1, 4), None)
    explorer = ThompsonSampling(scale=3.0, joint_draws=4096)
    mask = torch.tensor([[True, True, False, True, True]])
    for m in (None, mask):
        probs = explorer.distribution(row, m, 0)[0]
        assert abs(float(probs.sum()) - 1.0) < 1e-5 and bool((probs > 0).sum() >= 2)
        if m is not None:
            assert float(probs[2]) == 0.0
        n = 6000
        big = row.expand(n, -1, -1)
        action, p = explorer.select(big, None if m is None else m.expand(n, -1), 0,
                                    torch.Generator().manual_seed(5))
        freq = torch.bincount(action, minlength=5).double() / n
        torch.testing.assert_close(p, probs[action], rtol=0, atol=1e-6)
        assert bool(((freq - probs.double()).abs() < 0.03).all()), (freq, probs)


def test_joint_lints_learns_the_synthetic_arm_feature_problem() -> None:
    env = SyntheticLinearBandit(n_actions=6, context_dim=4, arm_features=True, feature_dim=3,
                                noise_std=0.1)
    features = env.action_space.features  # type: ignore[union-attr]
    learner = LinearBandit(4, features, LinearBanditConfig(posterior="joint"))
    agent = nacre.Agent(learner, exploration=ThompsonSampling(scale=0.3, joint_draws=256),
                        buffer=OnlineBuffer(), seed=0)
    obs = env.reset(seed=0)
    agent.reset(obs, env.action_space)
    regret = []
    for _ in range(1500):
        result = env.step(agent.act())
        agent.observe(result)
        agent.learn(1)
        regret.append(float(result.regret[0]))  # type: ignore[index]
    early, late = np.mean(regret[:300]), np.mean(regret[-300:])
    assert late < 0.3 * early, (early, late)


@pytest.mark.parametrize("make", [lambda: LinearBandit(D, torch.eye(K)),
                                  lambda: NeuralBandit(D, K)])
def test_per_step_candidate_features_are_scored_and_learned_from(make: Any) -> None:
    """Per-step candidates ``[B, K, d_a]`` are scored row by row, and a learning batch's
    ``candidates`` give the chosen action's features (what the decision scored)."""
    torch.manual_seed(0)
    x, action, reward = torch.randn(16, D), torch.randint(K, (16,)), torch.randn(16)
    static = torch.eye(K).expand(16, K, K)
    same, given, other = (torch.manual_seed(1) and make() for _ in range(3))  # same init
    base = TransitionBatch(x, action, reward, x, torch.ones(16))
    same.learn_batch(base)
    given.learn_batch(replace(base, candidates=static.clone()))
    other.learn_batch(replace(base, candidates=torch.randn(16, K, K)))
    probe = torch.randn(3, D)
    torch.testing.assert_close(same.scores(probe, None), given.scores(probe, None))
    assert not torch.allclose(same.scores(probe, None), other.scores(probe, None))
    assert given.scores(probe, torch.randn(3, K, K)).shape[:2] == (3, K)


@pytest.mark.parametrize("mu, sigma", [
    ([0.0, -3.1], [0.01, 1.0]),  # a rarely tried arm that wins only in its tail
    ([1.0, 0.0, 0.5], [0.001, 2.0, 0.3]),
    ([0.3, 0.1, -0.5, 0.2], [0.2, 0.5, 1.5, 1e-9]),  # a point mass among wide arms
])
def test_thompson_propensities_of_rare_arms_match_monte_carlo(mu: list[float],
                                                              sigma: list[float]) -> None:
    m, s = torch.tensor([mu]), torch.tensor([sigma])
    probs = ThompsonSampling(1.0).distribution(torch.stack([m, s], -1), None, 0)[0].double()
    n = 2_000_000
    draws = m + s * torch.randn(n, len(mu), generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(draws.argmax(1), minlength=len(mu)).double() / n
    tol = 0.05 * freq + 5 * torch.sqrt(freq / n) + 1e-6  # 5% plus the Monte-Carlo noise
    assert bool(((probs - freq).abs() <= tol).all()), (probs, freq)
    assert bool((probs > 0).all())


def test_action_zero_of_the_binary_code_is_learnable() -> None:
    # With a 0/1 code, action 0 was the zero vector: outer features of it are 0, so it could
    # never be scored or learned.
    model = LinearBandit(2, BinaryActionRepresentation().code(4))
    x = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    model.learn_batch(TransitionBatch(obs=x, action=torch.zeros(200, dtype=torch.long),
                                      reward=torch.full((200,), 5.0), next_obs=x,
                                      terminated=torch.ones(200)))
    assert float(model.scores(x[:3], None)[:, 0, 0].min()) > 4.0


@pytest.mark.parametrize("text, match", [
    ("learner: disjoint_linear_bandit\nexploration: ucb\nbuffer: replay\n", "online"),
    ("learner: disjoint_linear_bandit\nexploration: ucb\nbuffer: {name: online, capacity: 10}"
     "\ntrain: {learning_starts: 100}\n", "capacity"),
    ("learner: disjoint_linear_bandit\nexploration: ucb\nbuffer: online\n"
     "train: {gradient_steps: 0}\n", "gradient_steps"),
    ("learner: {name: per_arm, base: {name: linear_bandit, posterior: joint}}\n"
     "exploration: thompson\nbuffer: online\naction_repr: one_hot\n", "joint"),
    ("learner: disjoint_linear_bandit\nexploration: {name: ucb, alpha: .nan}\nbuffer: online\n",
     "alpha"),
    ("learner: disjoint_linear_bandit\nexploration: ucb\nbuffer: online\n"
     "env: {id: bandit/synthetic-linear, normalize: {obs: true}}\n", "normalize"),
])
def test_bandit_wiring_mistakes_are_refused(text: str, match: str) -> None:
    body = text if "env:" in text else SYNTHETIC + text
    with pytest.raises(ConfigError, match=match):
        _build(body)


def test_online_buffer_is_refused_for_sequential_envs() -> None:
    with pytest.raises(ConfigError, match="one-step"):
        _build("env: {id: CartPole-v1}\nlearner: dqn\nbuffer: online\n")
