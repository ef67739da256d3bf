"""Learning over dynamic action sets, in seconds: masks from an off-the-shelf Gymnasium env
(Taxi-v4's ``info["action_mask"]``) and a two-tower actor over the recommender's slates."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import nacre
from nacre.envs.recsys import RecommenderEnv, random_policy

TAXI = """
env: {id: Taxi-v4}
learner: {name: tabular_q, lr: 0.5, gamma: 0.99}
exploration: {name: epsilon_greedy, start: 1.0, end: 0.05, decay_fraction: 0.3}
buffer: {name: replay, capacity: 20000}
train: {steps: 15000, learning_starts: 100, batch_size: 32, eval_every: 0, eval_episodes: 20}
"""


def test_masked_q_learning_solves_taxi_from_yaml(tmp_path: Path) -> None:
    (tmp_path / "taxi.yaml").write_text(TAXI)
    result = nacre.train(nacre.load_config(tmp_path / "taxi.yaml"), out=tmp_path / "run",
                         progress=False)
    # the optimum is about 8; an agent that has not learned to deliver times out at 200 steps
    # of -1 each
    assert result.summary["final_eval_return_mean"] >= 5.0


def _random_slots(users: range) -> float:
    """Mean return of a uniformly random slot of each slate, for each user."""
    env, rng, returns = RecommenderEnv(), np.random.default_rng(0), []
    for user in users:
        _, info = env.reset(seed=user)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, info = env.step(random_policy(info, rng))
            total, done = total + reward, terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def test_two_tower_ppo_beats_random_slates_on_the_recommender(tmp_path: Path) -> None:
    result = nacre.train("recsys-masked-ppo", steps=24_576, out=tmp_path / "run",
                         progress=False, overrides=["train.eval_every=0",
                                                    "train.eval_episodes=5"])
    users = range(5000, 5100)
    env = nacre.make_env("nacre/Recommender-v0")
    learned = float(np.mean(nacre.evaluate(result.agent, env, len(users), seed=users.start)))
    random = _random_slots(users)
    assert learned >= random + 1.5, (learned, random)
