"""Risk-sensitive acting from QR-DQN's learned return distribution: the safety slot's risk
measure decides which arm (bandit) or route (a stochastic MDP) the greedy policy takes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

import nacre

QUICK = ["train.eval_every=0", "train.log_every=1000", "train.eval_episodes=50"]


def _final(steps: int, *overrides: str) -> float:
    out = Path(tempfile.mkdtemp(prefix="nacre-risk-")) / "run"
    result = nacre.train("meanvar-bandit-qrdqn", steps=steps, seed=0, progress=False, out=out,
                         overrides=[*QUICK, *overrides])
    return float(result.summary["final_eval_return_mean"])


IQN = ["learner={name: iqn, lr: 0.001, n_quantiles: 16, n_target_quantiles: 16}",
       "network={name: implicit_quantile_mlp, hidden: [32], n_cos: 16}"]


@pytest.mark.parametrize("learner", ["qr_dqn", "iqn"])
@pytest.mark.parametrize(("beta", "arm_mean"), [(0.0, 10.0), (2.0, 6.0)])
def test_mean_variance_bandit_takes_the_arm_beta_prefers(beta: float, arm_mean: float,
                                                         learner: str) -> None:
    # arms N(6, 1) and N(10, 9): under E − β·Var the first is worth more once β > 0.5; the
    # greedy policy's mean return over 50 episodes says which arm it pulls (±3·3/√50 ≈ 1.3)
    extra = IQN if learner == "iqn" else []
    assert _final(2500, f"safety.beta={beta}", *extra) == pytest.approx(arm_mean, abs=1.5)


@pytest.mark.parametrize(("safety", "route"), [
    ("safety=risk_neutral", "risky"), ("safety={name: cvar, alpha: 0.25}", "safe")])
def test_risky_route_follows_the_risk_measure(safety: str, route: str) -> None:
    # 5 steps of 1.0 (safe: return 5 exactly) or of N(1.5, 9) (risky: mean 7.5, sd 6.7; its
    # CVaR at 25 % is about −1): the spread must be carried back through 5 bootstraps
    final = _final(6000, "env.id=nacre/RiskyRoute-v0", "learner.gamma=1.0", safety)
    if route == "safe":
        assert final == 5.0
    else:
        assert final > 6.0
