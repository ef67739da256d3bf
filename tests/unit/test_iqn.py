"""IQN: the implicit quantile head, the update at sampled levels, risk-sensitive choice of the
bootstrap action, exact state round trip, and its wiring."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

import nacre
from nacre.data import TransitionBatch
from nacre.errors import ConfigError
from nacre.learners import IQN, IQNConfig
from nacre.networks import FlattenEncoder, ImplicitQuantileHead, ImplicitQuantileNetwork
from nacre.safety import CVaR, MeanVariance


def _net(obs: int = 1, actions: int = 1, hidden: tuple[int, ...] = (32,)
         ) -> ImplicitQuantileNetwork:
    torch.manual_seed(0)
    return ImplicitQuantileNetwork(FlattenEncoder((obs,)),
                                   ImplicitQuantileHead(obs, actions, hidden, "relu", 16))


def test_the_head_embeds_each_level_with_cosines() -> None:
    net = _net(obs=3, actions=2)
    features, taus = torch.randn(4, 3), torch.rand(4, 5)
    out = net(features, taus)
    assert out.shape == (4, 2, 5)
    head = net.head
    i = torch.arange(16, dtype=torch.float32)
    embedding = torch.relu(head.embed(torch.cos(torch.pi * i * taus[1, 2])))
    torch.testing.assert_close(out[1, :, 2], head.mlp(features[1] * embedding))
    with pytest.raises(ValueError, match="n_cos"):
        ImplicitQuantileHead(3, 2, (4,), "relu", 0)


def test_iqn_learns_the_quantile_function_of_a_two_point_return() -> None:
    """One-step returns of 0 or 10, equally likely: the quantile at τ < ½ goes to 0, above ½
    to 10; the mean score to 5."""
    learner = IQN(_net(), IQNConfig(lr=3e-3, kappa=0.1, adam_eps=1e-8, n_quantiles=16,
                                    n_target_quantiles=16), seed=0)
    n = 128
    batch = TransitionBatch(torch.ones(n, 1), torch.zeros(n, dtype=torch.long),
                            torch.tensor([0.0, 10.0] * (n // 2)), torch.ones(n, 1), torch.ones(n))
    for _ in range(1500):
        learner.learn_batch(batch)
    quantiles = learner.q(torch.ones(1, 1), torch.tensor([[0.1, 0.3, 0.7, 0.9]]))[0, 0]
    torch.testing.assert_close(quantiles, torch.tensor([0.0, 0.0, 10.0, 10.0]), atol=1.0, rtol=0)
    assert learner.scores(torch.ones(1, 1)).item() == pytest.approx(5.0, abs=1.0)


class _Fixed(ImplicitQuantileHead):
    """Action 0: always 4; action 1: 0 below τ = ½, 10 above (mean 5, variance 25)."""

    def __init__(self) -> None:
        super().__init__(1, 2, (), "relu", 1)

    def forward(self, features: Tensor, taus: Tensor) -> Tensor:
        safe = torch.full_like(taus, 4.0)
        return torch.stack([safe, torch.where(taus < 0.5, 0.0, 10.0)], dim=1)


@pytest.mark.parametrize(("risk", "best"), [(None, 1), (MeanVariance(1.0), 0), (CVaR(0.25), 0)])
def test_iqn_acts_and_bootstraps_under_its_risk_measure(risk: object, best: int) -> None:
    learner = IQN(ImplicitQuantileNetwork(FlattenEncoder((1,)), _Fixed()),
                  IQNConfig(gamma=1.0), risk)  # type: ignore[arg-type]
    assert int(learner.scores(torch.zeros(1, 1)).argmax()) == best
    batch = TransitionBatch(torch.zeros(64, 1), torch.zeros(64, dtype=torch.long),
                            torch.zeros(64), torch.zeros(64, 1), torch.zeros(64))
    target = learner.target_quantiles(batch)
    if best == 0:
        assert bool((target == 4.0).all())
    else:
        assert set(target.unique().tolist()) == {0.0, 10.0}


def test_iqn_state_round_trip_continues_exactly() -> None:
    make = lambda: IQN(_net(obs=2, actions=3), IQNConfig(lr=1e-3), seed=5)  # noqa: E731
    a, b = make(), make()
    g = torch.Generator().manual_seed(0)
    batch = TransitionBatch(torch.randn(16, 2, generator=g), torch.randint(0, 3, (16,),
                            generator=g), torch.randn(16, generator=g),
                            torch.randn(16, 2, generator=g), torch.zeros(16))
    a.learn_batch(batch)
    b.load_state_dict(a.state_dict())
    ma, mb = a.learn_batch(batch), b.learn_batch(batch)  # the same sampled levels too
    torch.testing.assert_close(ma["loss"], mb["loss"], rtol=0, atol=0)
    assert a.td_error(batch).shape == (16,)


def test_iqn_wiring() -> None:
    cfg = nacre.load_preset("meanvar-bandit-qrdqn").with_overrides(
        ["learner={name: iqn, lr: 0.001}", "network={name: implicit_quantile_mlp, hidden: [16]}"])
    run = nacre.build(cfg)
    assert isinstance(run.agent.learner, IQN) and run.agent.learner.risk is run.agent.safety
    with pytest.raises(ConfigError, match="implicit_quantile_mlp"):
        nacre.build(cfg.with_overrides(["network={name: mlp}"]))
    with pytest.raises(ConfigError, match="n_quantiles"):
        nacre.build(cfg.with_overrides(["learner.n_quantiles=0"]))
