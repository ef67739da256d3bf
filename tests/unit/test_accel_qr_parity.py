"""The QR-DQN kernel (nacre.accel.qr_dqn) against QR-DQN's readable update: the same parameters,
optimizer moments and metrics after many updates, up to float rounding; what it covers."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch
from test_accel_parity import close, same_metrics, same_state, twins

from nacre.accel import kernel_for
from nacre.accel.qr_dqn import QRDQNKernel
from nacre.learners import QRDQN, DoubleQRDQN, QRDQNConfig
from nacre.networks import FlattenEncoder, QNetwork, QuantileQHead
from nacre.safety import CVaR, MeanVariance
from nacre.testing import random_batch
from nacre.types import RiskMeasure

OBS, ACT, N = 5, 3, 4


def quantile_net(dueling: bool = False) -> QNetwork:
    torch.manual_seed(0)
    return QNetwork(FlattenEncoder((OBS,)), QuantileQHead(OBS, ACT, N, (32, 32), "relu",
                                                          dueling))


@pytest.mark.parametrize("cls", [QRDQN, DoubleQRDQN])
@pytest.mark.parametrize(("kappa", "clip"), [(1.0, 10.0), (0.5, 0.05), (2.0, None)])
@pytest.mark.parametrize("weighted", [False, True])
def test_qr_kernel_matches_the_readable_update(cls: type[QRDQN], kappa: float,
                                               clip: float | None, weighted: bool) -> None:
    learner = cls(quantile_net(), QRDQNConfig(lr=1e-2, kappa=kappa, max_grad_norm=clip),
                  MeanVariance(0.5))
    fast, slow = twins(learner)
    assert isinstance(fast, QRDQNKernel)
    g = torch.Generator().manual_seed(1)
    for round_ in range(13):  # 13 rounds of 8 updates, one short last batch each
        batch = random_batch(OBS, ACT, 8 * 16 - 4, generator=g)
        if weighted:
            batch = replace(batch, weight=torch.rand(len(batch), generator=g))
        if round_ % 2:  # n-step style per-row discounts
            batch = replace(batch, discount=torch.rand(len(batch), generator=g))
        same_metrics(fast.learn_batches(batch, 16), slow.learn_batches(batch, 16))
        if round_ % 3 == 2:
            fast.learner.update_target()
            slow.learner.update_target()
    same_state(fast.learner, slow.learner)
    start = quantile_net()  # the same initial parameters: training must have moved them
    assert not any(torch.allclose(p, p0) for p, p0 in zip(
        learner.q.parameters(), start.parameters(), strict=True))


@pytest.mark.parametrize("risk", [None, MeanVariance(1.0), CVaR(0.25)])
def test_qr_kernel_acts_like_the_learner(risk: RiskMeasure | None) -> None:
    fast, slow = twins(QRDQN(quantile_net(), QRDQNConfig(), risk))
    for rows in (1, 7):
        state = torch.randn(rows, OBS)
        close(fast.scores(state, None), slow.scores(state, None), f"scores of {rows} rows")


def test_qr_kernel_covers_exactly_its_networks() -> None:
    assert kernel_for(QRDQN(quantile_net(dueling=True))) is None  # a value stream
    frozen = QRDQN(quantile_net())
    next(frozen.q.parameters()).requires_grad_(False)
    assert kernel_for(frozen) is None

    class Custom(QRDQN):  # a subclass may change the update
        pass

    assert kernel_for(Custom(quantile_net())) is None


def test_a_copied_qr_kernel_continues_like_the_original() -> None:
    fast = kernel_for(QRDQN(quantile_net(), QRDQNConfig(lr=1e-2)))
    assert isinstance(fast, QRDQNKernel)
    copied = copy.deepcopy(fast)
    batch = random_batch(OBS, ACT, 64, generator=torch.Generator().manual_seed(3))
    same_metrics(fast.learn_batches(batch, 16), copied.learn_batches(batch, 16))
    same_state(fast.learner, copied.learner)
