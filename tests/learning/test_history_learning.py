"""Learning with history on partially observed CartPole (nacre/CartPole-PO-v0: position and
angle, no velocities). One observation cannot tell which way the pole moves: DQN on single
observations stays near 40 (best evaluation of 20k steps, seeds 0-2: 38-46), stacking the last
4 observations lets it learn (seeds 0-2: 126-193)."""

from pathlib import Path

import pytest

import nacre

PO = ["env.id=nacre/CartPole-PO-v0", "train.eval_every=4000", "train.eval_episodes=10"]


def _best(tmp_path: Path, *overrides: str) -> float:
    cfg = nacre.load_preset("cartpole-dqn").with_overrides([*PO, *overrides])
    result = nacre.train(cfg, steps=20_000, seed=0, out=tmp_path / "run", progress=False)
    return float(result.summary["best_eval_return_mean"])


def test_stacking_dqn_learns_partially_observed_cartpole(tmp_path: Path) -> None:
    assert _best(tmp_path, "history={name: stacking, k: 4}") >= 100.0


@pytest.mark.slow
def test_dqn_without_history_does_not(tmp_path: Path) -> None:
    assert _best(tmp_path) <= 70.0
