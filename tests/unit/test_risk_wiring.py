"""How ``nacre.build`` wires distributional learners and risk measures, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import nacre
from nacre.errors import ConfigError
from nacre.learners import QRDQN, DoubleQRDQN
from nacre.safety import CVaR, MeanVariance, RiskNeutral


def _config(*overrides: str) -> nacre.RunConfig:
    return nacre.load_preset("meanvar-bandit-qrdqn").with_overrides(list(overrides))


def test_the_safety_slots_risk_measure_is_the_learners() -> None:
    run = nacre.build(_config())
    learner = run.agent.learner
    assert isinstance(learner, QRDQN) and isinstance(learner.risk, MeanVariance)
    assert learner.risk is run.agent.safety and learner.risk.beta == 2.0
    run = nacre.build(_config("safety=none", "learner.name=double_qr_dqn"))
    assert isinstance(run.agent.learner, DoubleQRDQN)
    assert isinstance(run.agent.learner.risk, RiskNeutral)  # no risk measure: the mean
    run = nacre.build(_config("safety={name: cvar, alpha: 0.2}"))
    assert isinstance(run.agent.learner, QRDQN) and isinstance(run.agent.learner.risk, CVaR)


@pytest.mark.parametrize(("overrides", "message"), [
    (["learner={name: dqn}"], "network 'quantile_mlp' outputs return quantiles"),
    (["network={name: mlp}"], "set network.name: quantile_mlp"),
    (["learner={name: dqn}", "network={name: mlp}"], "values a return distribution"),
    (["safety.beta=-1"], "beta must be >= 0"),
    (["safety={name: cvar, alpha: 0}"], "alpha must be in"),
    (["network.n_quantiles=0"], "n_quantiles must be >= 1"),
    (["learner.kappa=0"], "kappa"),
])
def test_misconfigurations_are_config_errors(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        nacre.build(_config(*overrides))


def test_qr_dqn_with_prioritized_replay_n_step_and_dueling(tmp_path: Path) -> None:
    result = nacre.train(_config(
        "buffer={name: prioritized, capacity: 5000, alpha: 0.6, beta0: 0.4, n_step: 3}",
        "network.dueling=true"), steps=600, out=tmp_path / "run", progress=False,
        overrides=["train.eval_every=0", "train.eval_episodes=5"])
    assert result.summary["grad_steps"] > 0
    assert np.isfinite(result.summary["final_eval_return_mean"])


def test_a_saved_qr_dqn_agent_acts_the_same_after_loading(tmp_path: Path) -> None:
    result = nacre.train(_config(), steps=400, out=tmp_path / "run", progress=False,
                         overrides=["train.eval_every=0", "train.eval_episodes=2"])
    agent = result.agent
    loaded = nacre.load(tmp_path / "run")
    assert isinstance(loaded.learner, QRDQN) and isinstance(loaded.learner.risk, MeanVariance)
    obs = np.ones((3, 1), np.float32)
    torch.testing.assert_close(loaded.learner.scores(torch.from_numpy(obs)),
                               agent.learner.scores(torch.from_numpy(obs)))
    assert (loaded.predict(obs) == agent.predict(obs)).all()


def test_agents_composed_by_hand_are_checked_too() -> None:
    from nacre.exploration import Warmup
    from nacre.exploration.deep import FollowMember
    from nacre.networks import FlattenEncoder, QNetwork, QuantileQHead

    net = QNetwork(FlattenEncoder((1,)), QuantileQHead(1, 2, 4, (8,), "relu"))
    risk = CVaR(0.1)
    nacre.Agent(QRDQN(net, risk=risk), safety=risk)  # the same object: fine
    with pytest.raises(nacre.InputError, match="risk measure acts through the learner"):
        nacre.Agent(QRDQN(net), safety=CVaR(0.1))
    with pytest.raises(nacre.InputError, match="Warmup would hide episode ends"):
        nacre.Agent(QRDQN(net), exploration=Warmup(FollowMember(), 10))
