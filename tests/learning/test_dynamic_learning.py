"""Learning over dynamic action sets, in seconds: masks from an off-the-shelf Gymnasium env
(Taxi-v4's ``info["action_mask"]``) and a two-tower actor over the recommender's slates."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import nacre
from nacre.envs.recsys import random_policy

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


def _serve(agent: nacre.Agent | None, users: range) -> float:
    env = nacre.make_env("nacre/Recommender-v0")
    rng, returns = np.random.default_rng(0), []
    for user in users:
        obs, done, total = env.reset(seed=user), False, 0.0
        available = env.available
        while not done:
            assert available is not None
            if agent is None:  # a uniformly random slot of the slate
                slot = random_policy({"action_mask": available.mask[0].numpy()}, rng)
                action = np.array([slot])
            else:
                action = agent.decide(obs, available, exploit=True)[0].numpy()
            step = env.step(action)
            total += float(step.reward[0])
            done = bool(step.terminated[0] or step.truncated[0])
            obs, available = step.obs, step.available
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def test_two_tower_ppo_beats_random_slates_on_the_recommender(tmp_path: Path) -> None:
    result = nacre.train("recsys-masked-ppo", steps=24_576, out=tmp_path / "run",
                         progress=False, overrides=["train.eval_every=0",
                                                    "train.eval_episodes=5"])
    users = range(5000, 5100)
    learned, random = _serve(result.agent, users), _serve(None, users)
    assert learned >= random + 1.5, (learned, random)
