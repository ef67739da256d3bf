"""Bandit learning tests: each asserts a measured regret or reward that a broken learner (or a
random policy) would miss.

Measured when written (seeds 0-4, one pass over digits = 1,797 decisions): digits-linucb
averages 0.77-0.81 reward while learning and 0.94-0.99 greedy afterwards; digits-squarecb
0.71-0.78 and 0.92-0.99; with learning switched off both stay at 0.10 / 0.08 (the random rate
is 0.1). On SyntheticLinearBandit(5 arms, 8-d, noise 0.1), 2,000 decisions, seeds 0-2: the
second half's regret is 0.016-0.017x the first half's for LinUCB (α = 1) and 0.18-0.23x for
LinTS (scale 1), average regret 0.02-0.03 and 0.10, against 0.85-0.88 and a ratio of 1.00-1.03
for the uniformly random policy.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

import nacre
from nacre.data.online import OnlineBuffer
from nacre.envs.bandits import SyntheticLinearBandit
from nacre.exploration.bandit import UCB, ThompsonSampling
from nacre.learners.bandits.linear import DisjointLinearBandit, LinearBanditConfig
from nacre.types import Exploration

_BASE: list[Path] = []


def _tmp(name: str) -> Path:
    if not _BASE:
        _BASE.append(Path(tempfile.mkdtemp(prefix="nacre-bandit-learning-")))
    return _BASE[0] / name


def regrets(env: SyntheticLinearBandit, explorer: Exploration | None, steps: int, seed: int,
            config: LinearBanditConfig | None = None) -> np.ndarray:
    """Per-step mean regret of a disjoint ridge model with ``explorer`` (learning after every
    step), or of the uniformly random policy when ``explorer`` is None."""
    learner = DisjointLinearBandit(env.context_dim, env.n_actions, config)
    agent = nacre.Agent(learner, exploration=explorer, buffer=OnlineBuffer(), seed=seed)
    obs = env.reset(seed=seed)
    agent.reset(obs, env.action_space, env.available)
    rng = np.random.default_rng(seed + 1)
    out = np.empty(steps)
    for t in range(steps):
        if explorer is None:
            result = env.step(torch.from_numpy(rng.integers(env.n_actions, size=env.num_envs)))
        else:
            result = env.step(agent.act())
            agent.observe(result)
            agent.learn(1)
        assert result.regret is not None
        out[t] = result.regret.mean()
    return out


def sublinear(r: np.ndarray, random_mean: float) -> bool:
    """The acceptance: late regret well below early regret, and all of it far below random."""
    half = len(r) // 2
    return bool(r[half:].sum() < 0.5 * r[:half].sum() and r.mean() < 0.25 * random_mean)


@pytest.mark.parametrize(("name", "explorer"), [("linucb", lambda: UCB(1.0)),
                                                ("lints", lambda: ThompsonSampling(1.0))])
def test_linear_bandits_have_sublinear_regret_and_random_does_not(
        name: str, explorer: Callable[[], Exploration]) -> None:
    def env() -> SyntheticLinearBandit:
        return SyntheticLinearBandit(n_actions=5, context_dim=8, noise_std=0.1)

    random = regrets(env(), None, 2000, seed=0)
    assert random.mean() > 0.5
    assert not sublinear(random, random.mean())  # the criterion can fail
    learned = regrets(env(), explorer(), 2000, seed=0)
    half = len(learned) // 2
    assert sublinear(learned, random.mean()), (
        name, learned[:half].sum(), learned[half:].sum(), learned.mean(), random.mean())


def test_discounting_tracks_a_drifting_problem() -> None:
    # Measured (seeds 0-3, 3,000 decisions, drift 0.01 per step): the second half's average
    # regret is 0.037-0.055 without discounting and 0.013-0.017 with γ = 0.99.
    def late(discount: float) -> float:
        env = nacre.make_env("bandit/synthetic-drift", 1, n_actions=5, context_dim=8)
        assert isinstance(env, SyntheticLinearBandit) and env.drift > 0
        r = regrets(env, UCB(1.0), 3000, seed=0, config=LinearBanditConfig(discount=discount))
        return float(r[1500:].mean())

    assert late(0.99) < 0.6 * late(1.0)


@pytest.mark.parametrize(("preset", "average", "greedy"), [
    ("digits-linucb", 0.65, 0.85),
    ("digits-squarecb", 0.6, 0.85),
])
def test_digits_presets_learn_in_one_pass(preset: str, average: float, greedy: float) -> None:
    result = nacre.train(preset, steps=1797, seed=0, progress=False, out=_tmp(preset),
                         overrides=["train.eval_episodes=100", "train.log_every=1797"])
    assert result.summary["bandit/average_reward"] >= average, result.summary
    assert result.summary["final_eval_return_mean"] >= greedy, result.summary


def test_synthetic_lints_preset_regret_shrinks() -> None:
    # Measured over 10,000 decisions (seeds 0-4, exploration.scale 0.3): the second half's
    # regret is 0.03-0.39x the first half's.
    import json

    run = _tmp("synthetic-lints")
    nacre.train("synthetic-lints", steps=10_000, seed=0, progress=False, out=run,
                overrides=["train.eval_episodes=16", "train.log_every=5000"])
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    first, both = (r["bandit/cumulative_regret"] for r in logged if "bandit/cumulative_regret"
                   in r)
    assert both - first < 0.5 * first, (first, both - first)
