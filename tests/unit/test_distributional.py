"""Quantile regression (``nacre.losses.distributional``), risk measures (``nacre.safety.risk``),
the quantile head and QR-DQN's update, against hand-computed numbers."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from nacre.data import TransitionBatch
from nacre.learners import QRDQN, DoubleQRDQN, QRDQNConfig
from nacre.losses.distributional import (
    quantile_huber_loss,
    quantile_midpoints,
    quantile_td_target,
)
from nacre.networks import FlattenEncoder, QNetwork, QuantileQHead, VanillaQHead
from nacre.safety import CVaR, MeanVariance, RiskNeutral
from nacre.types import RiskMeasure


def t(*values: float) -> Tensor:
    return torch.tensor(values, dtype=torch.float32)


def test_midpoints() -> None:
    torch.testing.assert_close(quantile_midpoints(4), t(0.125, 0.375, 0.625, 0.875))
    with pytest.raises(ValueError, match="n must be"):
        quantile_midpoints(0)


def test_quantile_td_target() -> None:
    # row 0: 1 + 0.5 * [2, 4] = [2, 3]; row 1 terminated: [-1, -1]
    out = quantile_td_target(t(1, -1), t(2, 4, 6, 8).view(2, 2), t(0, 1), 0.5)
    torch.testing.assert_close(out, t(2, 3, -1, -1).view(2, 2))
    per_row = quantile_td_target(t(0, 0), torch.ones(2, 2), t(0, 0), t(0.5, 0.25))
    torch.testing.assert_close(per_row, t(0.5, 0.5, 0.25, 0.25).view(2, 2))


def test_quantile_huber_loss_hand_computed() -> None:
    # θ = [0, 1] at τ = [.25, .75]; target samples [.5, 3]; u_ij = T_j − θ_i
    # i=0: u = [.5, 3], both ≥ 0 → weight .25; Huber(.5) = .125, Huber(3) = 2.5
    #      → mean_j .25·[.125, 2.5] = .328125
    # i=1: u = [-.5, 2] → weights |.75 − 1| = .25 and .75; Huber = .125 and 1.5
    #      → mean_j [.03125, 1.125] = .578125
    # loss = .328125 + .578125 = .90625
    theta = t(0, 1).view(1, 2).requires_grad_(True)
    target, taus = t(0.5, 3).view(1, 2), t(0.25, 0.75)
    loss = quantile_huber_loss(theta, target, taus)
    assert loss.item() == pytest.approx(0.90625)
    # ∂/∂θ_0 = −mean_j .25·clip(u) = −(.25·.5 + .25·1)/2 = −.1875
    # ∂/∂θ_1 = −(.25·(−.5) + .75·1)/2 = −.3125
    loss.backward()
    assert theta.grad is not None
    torch.testing.assert_close(theta.grad, t(-0.1875, -0.3125).view(1, 2))
    # κ = 2: Huber_2(3) = 2·(3 − 1) = 4, Huber_2(2) = 2, divided by κ
    # i=0: .25·[.0625, 2] → .2578125; i=1: [.25·.0625, .75·1] → .3828125
    assert quantile_huber_loss(theta, target, taus, kappa=2.0).item() == pytest.approx(0.640625)
    with pytest.raises(ValueError, match="kappa"):
        quantile_huber_loss(theta, target, taus, kappa=0.0)


def test_quantile_huber_loss_weights_rows() -> None:
    theta, taus = torch.zeros(2, 2), t(0.25, 0.75)
    # u ≥ 0 everywhere, so the weights are τ: row 0 (.25 + .75)·Huber(1) = .5, row 1 1.5
    target = t(1, 1, 2, 2).view(2, 2)
    assert quantile_huber_loss(theta, target, taus).item() == pytest.approx(1.0)
    weighted = quantile_huber_loss(theta, target, taus, weight=t(2, 0))
    assert weighted.item() == pytest.approx(0.5)


def test_risk_measures_hand_computed() -> None:
    q = t(0, 0, 10, 10, 4, 4, 4, 4).view(2, 4)  # mean 5, var 25 | mean 4, var 0
    torch.testing.assert_close(RiskNeutral().value(q), t(5, 4))
    torch.testing.assert_close(MeanVariance(0.0).value(q), t(5, 4))
    torch.testing.assert_close(MeanVariance(0.1).value(q), t(2.5, 4))
    torch.testing.assert_close(CVaR(0.5).value(q), t(0, 4))
    torch.testing.assert_close(CVaR(1.0).value(q), t(5, 4))
    # α = .6 covers slices [0, .25), [.25, .5) and .1 of [.5, .75): (0 + 0 + .1·10)/.6
    torch.testing.assert_close(CVaR(0.6).value(q[:1]), t(10 / 6))
    # crossing quantiles are sorted before the tail is read
    torch.testing.assert_close(CVaR(0.5).value(t(10, 0, 10, 0)), torch.tensor(0.0))
    for bad in (lambda: MeanVariance(-1.0), lambda: CVaR(0.0), lambda: CVaR(1.5)):
        with pytest.raises(ValueError):
            bad()


def test_risk_measures_allow_every_action() -> None:
    mask = torch.tensor([[True, False]])
    for risk in (RiskNeutral(), MeanVariance(1.0), CVaR(0.1)):
        assert risk.filter(torch.zeros(1, 1), torch.zeros(1, 2), mask) is mask


def test_quantile_head_shapes_and_dueling() -> None:
    torch.manual_seed(0)
    head = QuantileQHead(3, 2, 5, (8,), "relu")
    assert head(torch.zeros(4, 3)).shape == (4, 2, 5)
    dueling = QuantileQHead(3, 2, 5, (8,), "relu", dueling=True)
    x = torch.randn(4, 3)
    out = dueling(x)
    assert dueling.value is not None
    advantage = dueling.mlp(x).view(4, 2, 5)
    expected = dueling.value(x).unsqueeze(1) + advantage - advantage.mean(1, keepdim=True)
    torch.testing.assert_close(out, expected)
    with pytest.raises(ValueError, match="n_quantiles"):
        QuantileQHead(3, 2, 0, (8,), "relu")


class _Fixed(QuantileQHead):
    """A head returning set quantiles ``[K, N]`` for every state (to test action choice)."""

    def __init__(self, quantiles: Tensor) -> None:
        torch.nn.Module.__init__(self)
        self.n_actions, self.n_quantiles = quantiles.shape
        self.quantiles = torch.nn.Parameter(quantiles)
        self.value = None

    def forward(self, features: Tensor, action_features: Tensor | None = None) -> Tensor:
        return self.quantiles.expand(features.shape[0], -1, -1)


def _learner(quantiles: Tensor, risk: RiskMeasure | None = None,
             cls: type[QRDQN] = QRDQN) -> QRDQN:
    net = QNetwork(FlattenEncoder((1,)), _Fixed(quantiles))
    return cls(net, QRDQNConfig(gamma=1.0), risk)


def test_target_bootstraps_from_the_risk_measures_choice() -> None:
    # a0: always 4 (mean 4, var 0); a1: 0 or 10 (mean 5, var 25)
    quantiles = t(4, 4, 4, 4, 0, 0, 10, 10).view(2, 4)
    batch = TransitionBatch(torch.zeros(1, 1), torch.zeros(1, dtype=torch.long), t(1),
                            torch.zeros(1, 1), t(0))
    expected: dict[RiskMeasure | None, Tensor] = {
        None: t(1, 1, 11, 11), MeanVariance(1.0): t(5, 5, 5, 5), CVaR(0.25): t(5, 5, 5, 5)}
    for risk, target in expected.items():
        learner = _learner(quantiles.clone(), risk)
        torch.testing.assert_close(learner.target_quantiles(batch), target.view(1, 4))
        assert learner.scores(torch.zeros(1, 1)).argmax().item() == (1 if risk is None else 0)


def test_double_qr_dqn_picks_with_the_online_net() -> None:
    learner = _learner(t(4, 4, 0, 10).view(2, 2), cls=DoubleQRDQN)
    with torch.no_grad():  # the target net now prefers a0, the online net a1
        learner.target.head.quantiles.copy_(t(9, 9, 1, 1).view(2, 2))
    batch = TransitionBatch(torch.zeros(1, 1), torch.zeros(1, dtype=torch.long), t(0),
                            torch.zeros(1, 1), t(0))
    torch.testing.assert_close(learner.target_quantiles(batch), t(1, 1).view(1, 2))


def test_qr_dqn_learns_a_two_point_distribution() -> None:
    """One-step returns of 0 or 10 with equal chance: the 4 quantiles at τ = 1/8 … 7/8 go to
    0, 0, 10, 10 (the minimizers of the quantile loss), and the mean score to 5."""
    torch.manual_seed(0)
    net = QNetwork(FlattenEncoder((1,)), QuantileQHead(1, 1, 4, (16,), "relu"))
    learner = QRDQN(net, QRDQNConfig(lr=3e-2, kappa=0.1, adam_eps=1e-8))
    n = 64
    batch = TransitionBatch(torch.ones(n, 1), torch.zeros(n, dtype=torch.long),
                            t(*([0.0, 10.0] * (n // 2))), torch.ones(n, 1), torch.ones(n))
    for _ in range(1500):
        learner.learn_batch(batch)
    quantiles = learner.quantiles(torch.ones(1, 1))[0, 0]
    torch.testing.assert_close(quantiles, t(0, 0, 10, 10), atol=0.3, rtol=0)
    assert learner.scores(torch.ones(1, 1)).item() == pytest.approx(5.0, abs=0.3)


def test_qr_dqn_needs_a_quantile_head() -> None:
    with pytest.raises(ValueError, match="QuantileQHead"):
        QRDQN(QNetwork(FlattenEncoder((1,)), VanillaQHead(1, 2, (4,), "relu")))


def test_qr_dqn_state_round_trip_and_td_error() -> None:
    torch.manual_seed(1)
    make = lambda: QRDQN(QNetwork(FlattenEncoder((2,)),  # noqa: E731
                                  QuantileQHead(2, 3, 4, (8,), "relu")))
    a, b = make(), make()
    batch = TransitionBatch(torch.randn(8, 2), torch.randint(0, 3, (8,)), torch.randn(8),
                            torch.randn(8, 2), torch.zeros(8))
    a.learn_batch(batch)
    b.load_state_dict(a.state_dict())
    x = torch.randn(5, 2)
    torch.testing.assert_close(a.scores(x), b.scores(x))
    assert a.td_error(batch).shape == (8,)
