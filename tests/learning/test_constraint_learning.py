"""Constrained and filtered learning.

Reward-constrained: each constrained learner keeps its policy's cost under the budget on
``nacre/CostTradeoff-v0`` (reward ``a``, cost ``a²``: unconstrained ``a = 1``, under a budget α
the best policy is ``a = √α``), where the same learner without the constraint spends the most it
can. A learned cost filter stops DQN stepping into CliffWalking's cliff.

Measured when written (α = 0.25, so √α = 0.5; seed 0, final greedy action): TD3 0.53 (λ 1.00),
SAC 0.49 (λ 1.05), DDPG 0.16 (λ 2.6: its multiplier overshoots, the constraint still holds),
PPO 0.41 (λ 1.25); without the constraint TD3 and PPO take 1.0 (cost 1). A learner that ignored
the cost critic, or a multiplier that never moved, would stay at 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest

import nacre
from nacre.envs import RewardCost
from nacre.safety import RewardConstraint

BUDGET = 0.25
OFF_POLICY = ["env={id: nacre/CostTradeoff-v0, num_envs: 1}", "learner.gamma=0.9",
              "learner.tau=0.05", "train.learning_starts=500", "train.train_freq=1",
              "train.gradient_steps=1", "train.batch_size=64", "buffer.capacity=10000"]
SETUPS = {
    "td3": ("pendulum-td3", 4000, 0.01, [
        *OFF_POLICY, "network={name: deterministic, actor_hidden: [32, 32], "
        "critic_hidden: [32, 32]}",
        "exploration={name: warmup, steps: 500, inner: {name: gaussian, std: 0.2}}"]),
    "ddpg": ("pendulum-td3", 4000, 0.005, [
        *OFF_POLICY, "learner={name: ddpg, lr: 0.001, gamma: 0.9, tau: 0.05}",
        "network={name: deterministic, actor_hidden: [32, 32], critic_hidden: [32, 32], "
        "n_critics: 1}",
        "exploration={name: warmup, steps: 500, inner: {name: gaussian, std: 0.2}}"]),
    "sac": ("pendulum-sac", 4000, 0.01, [
        *OFF_POLICY, "network={name: squashed_gaussian, actor_hidden: [32, 32], "
        "critic_hidden: [32, 32]}"]),
    # λ moves once per rollout: a larger step than the off-policy learners' once per update
    "ppo": ("pendulum-ppo", 20000, 0.1, [
        "env={id: nacre/CostTradeoff-v0, num_envs: 4}", "learner.gamma=0.9",
        "learner.lr=0.003", "train.train_freq=512"]),
}


def greedy_action(tmp_path: Path, learner: str, constrained: bool) -> tuple[float, float]:
    """The trained policy's greedy action and its final multiplier λ (0 unconstrained)."""
    preset, steps, lagrange_lr, overrides = SETUPS[learner]
    safety = (f"safety={{name: reward_constrained, threshold: {BUDGET}, "
              f"lagrange_lr: {lagrange_lr}}}" if constrained else "safety={name: none}")
    result = nacre.train(preset, steps=steps, seed=0, out=tmp_path / f"{learner}-{constrained}",
                         progress=False, overrides=[*overrides, safety, "train.eval_every=0",
                                                    "train.eval_episodes=1",
                                                    "train.learn_threads=1"])
    action = float(result.agent.predict(np.ones(1, np.float32))[0])
    safety_slot = result.agent.safety
    lagrange = (float(safety_slot.lagrange) if isinstance(safety_slot, RewardConstraint)
                else 0.0)
    return action, lagrange


@pytest.mark.parametrize("learner", ["td3", "ddpg", "sac", "ppo"])
def test_a_constrained_learner_keeps_its_cost_under_the_budget(tmp_path: Path,
                                                               learner: str) -> None:
    action, lagrange = greedy_action(tmp_path, learner, constrained=True)
    assert action**2 <= BUDGET + 0.1, (action, lagrange)  # the budget holds (a ≤ 0.59)
    assert action >= 0.1, (action, lagrange)  # and the policy still earns reward
    assert lagrange > 0.3  # the multiplier is what moved it


@pytest.mark.parametrize("learner", ["td3", "ppo"])
def test_without_the_constraint_the_same_learner_spends_over_the_budget(
        tmp_path: Path, learner: str) -> None:
    action, _ = greedy_action(tmp_path, learner, constrained=False)
    assert action**2 >= 0.8


class CountFalls(gym.Wrapper[Any, Any, Any, Any]):
    """CliffWalking (100-step episodes) whose steps into the cliff cost 1; keeps the step
    numbers of the falls per copy: the first copy made is the training env."""

    copies: ClassVar[list[list[int]]] = []

    def __init__(self) -> None:
        super().__init__(RewardCost(gym.make("CliffWalking-v1", max_episode_steps=100),
                                    at_most=-100))
        self.steps, self.falls = 0, []
        CountFalls.copies.append(self.falls)

    def step(self, action: Any) -> Any:
        out = self.env.step(action)
        self.steps += 1
        if out[4]["cost"] > 0:
            self.falls.append(self.steps)
        return out


@pytest.mark.parametrize("safety", ["{name: cost_filter, threshold: 0.5}", "{name: none}"])
def test_a_learned_cost_filter_soon_stops_stepping_into_the_cliff(tmp_path: Path,
                                                                  safety: str) -> None:
    """Measured when written (seed 0, 20,000 steps, learning from step 500): with the learned
    filter 14 falls after the first 500 random steps, none after step 5,000 and none in
    evaluation; without it 147 (22 in the last 10,000 steps)."""
    CountFalls.copies = []
    config = nacre.RunConfig.from_dict({
        "env": {"id": "CliffWalking-v1"}, "learner": {"name": "dqn", "lr": 0.001},
        "network": {"name": "mlp", "hidden": [64]},
        "exploration": {"name": "epsilon_greedy", "start": 1.0, "end": 0.05,
                        "decay_fraction": 0.3},
        "buffer": {"name": "replay", "capacity": 50000},
        "train": {"learning_starts": 500, "train_freq": 4, "batch_size": 64,
                  "target_update_interval": 250, "eval_every": 10000, "eval_episodes": 5,
                  "learn_threads": 1}}).with_overrides([f"safety={safety}"])
    nacre.train(config, env=CountFalls, steps=20000, seed=0, out=tmp_path / "run",
                progress=False)
    train, *evals = CountFalls.copies
    learning = sum(step > 500 for step in train)  # after 500 random steps, the same in both
    if "cost_filter" in safety:
        assert learning <= 40 and not any(evals)
    else:
        assert learning >= 100  # what the learned filter saves
