"""Reward-constrained learning (RCPO): the Lagrangian's maths, how ``nacre.build`` wires the
cost critic into TD3, DDPG, SAC and PPO, what it refuses, rollouts that carry costs, and the
multiplier and cost critic in checkpoints."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import nacre
from nacre import accel
from nacre.data import RolloutBuffer, StepBatch
from nacre.envs import CostTradeoffEnv, check_env
from nacre.errors import CheckpointError, ConfigError
from nacre.learners import DDPG, PPO, SAC, TD3
from nacre.learners.policy.costs import CostCritic, CostValue
from nacre.losses import cost_rate, lagrange_step, penalized
from nacre.safety import RewardConstraint
from nacre.types import CostConstraint

TD3_ON_COST = ["env={id: nacre/CostTradeoff-v0, num_envs: 1}",
               "network={name: deterministic, actor_hidden: [16], critic_hidden: [16]}",
               "safety={name: reward_constrained, threshold: 0.1, lagrange_lr: 0.01}",
               "train.learning_starts=50", "train.train_freq=1", "train.gradient_steps=1",
               "train.batch_size=16", "train.eval_every=0", "train.eval_episodes=1",
               "exploration={name: gaussian, std: 0.1}"]


def _config(preset: str, *overrides: str) -> nacre.RunConfig:
    return nacre.load_preset(preset).with_overrides(list(overrides))


def test_the_lagrangian_by_hand() -> None:
    assert float(cost_rate(torch.tensor([2.0, 4.0]), gamma=0.75)) == pytest.approx(0.75)
    lam = torch.tensor(1.0)
    assert float(lagrange_step(lam, torch.tensor(0.5), 0.2, lr=2.0)) == pytest.approx(1.6)
    assert float(lagrange_step(lam, torch.tensor(0.0), 0.2, lr=10.0)) == 0.0  # projected
    assert penalized(torch.tensor([3.0]), torch.tensor([2.0]), 0.5).tolist() == [2.0]
    c = RewardConstraint(threshold=0.2, lagrange_lr=1.0)
    assert isinstance(c, CostConstraint)
    assert float(c.update(torch.tensor(0.7))) == pytest.approx(0.5)  # over budget: up
    assert float(c.update(torch.tensor(0.0))) == pytest.approx(0.3)  # under: down, to >= 0
    assert float(c.update(torch.tensor(0.0))) == pytest.approx(0.1)
    assert float(c.update(torch.tensor(0.0))) == 0.0


@pytest.mark.parametrize(("preset", "overrides", "kind"), [
    ("pendulum-cost-rctd3", [], TD3),
    ("pendulum-td3", ["learner={name: ddpg}", "network.n_critics=1"], DDPG),
    ("pendulum-sac", [], SAC),
    ("pendulum-ppo", [], PPO),
])
def test_build_hands_the_constraint_to_the_learner_and_skips_the_fast_path(
        preset: str, overrides: list[str], kind: type) -> None:
    run = nacre.build(_config(preset, "env.id=nacre/Pendulum-Cost-v1", *overrides,
                              "safety={name: reward_constrained, threshold: 0.3}"))
    learner = run.agent.learner
    assert type(learner) is kind and learner.cost is not None
    assert learner.cost.constraint is run.agent.safety
    assert isinstance(learner.cost, CostValue if kind is PPO else CostCritic)
    # a reward-constrained update is the readable one: no kernel claims it
    assert not any(covers(learner) for covers, _ in accel.KERNELS)
    plain = nacre.build(_config(preset, *overrides, "safety={name: none}")).agent.learner
    assert plain.cost is None


@pytest.mark.parametrize(("preset", "overrides", "message"), [
    ("cartpole-dqn", [], "constrains the cost of actor-critic learners"),
    ("cartpole-po-recurrent-ppo", [], "not with history 'recurrent'"),
    ("pendulum-td3", ["safety.threshold=-1"], "threshold must be >= 0"),
    ("pendulum-td3", ["safety.lagrange_lr=0"], "lagrange_lr must be > 0"),
])
def test_misconfigurations_are_config_errors(preset: str, overrides: list[str],
                                             message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        nacre.build(_config(preset, "safety={name: reward_constrained}", *overrides))


def test_an_env_without_costs_is_a_config_error_naming_the_wrapper(tmp_path: Path) -> None:
    config = _config("pendulum-td3", *TD3_ON_COST[1:], "env={id: Pendulum-v1, num_envs: 1}")
    with pytest.raises(ConfigError, match="reports none.*ActionCost"):
        nacre.train(config, steps=80, out=tmp_path / "run", progress=False)


@pytest.mark.parametrize("window", [1, 2])
def test_rollouts_carry_the_steps_costs(window: int) -> None:
    def fill(costs: bool) -> RolloutBuffer:
        buf = RolloutBuffer(steps=3, window=window)
        for t in range(3):
            buf.add(StepBatch(np.full((2, 1), t, np.float32), np.zeros(2, np.int64),
                              np.ones(2, np.float32), np.full((2, 1), t + 1, np.float32),
                              np.zeros(2, bool), np.zeros(2, bool),
                              cost=np.array([t, 10 * t], np.float32) if costs else None))
        return buf

    rollout = fill(costs=True).rollout()
    assert rollout.cost is not None
    assert rollout.cost.tolist() == [[0, 0], [1, 10], [2, 20]]
    assert fill(costs=False).rollout().cost is None


def test_the_multiplier_and_cost_critic_are_checkpointed(tmp_path: Path) -> None:
    result = nacre.train(_config("pendulum-td3", *TD3_ON_COST, "safety.threshold=0"), steps=300,
                         out=tmp_path / "run", progress=False)
    learner = result.agent.learner
    assert isinstance(learner, TD3) and learner.cost is not None
    assert float(learner.cost.lagrange) > 0  # any cost is over a budget of 0
    loaded = nacre.load(tmp_path / "run")
    twin = loaded.learner
    assert isinstance(twin, TD3) and twin.cost is not None
    assert float(twin.cost.lagrange) == float(learner.cost.lagrange)
    assert twin.cost.constraint is loaded.safety
    for a, b in zip(learner.cost.critic.parameters(), twin.cost.critic.parameters(),
                    strict=True):
        assert torch.equal(a, b)
    plain = nacre.build(_config("pendulum-td3", *TD3_ON_COST[:2], "safety={name: none}"))
    with pytest.raises(CheckpointError, match="holds no cost critic"):
        twin.load_state_dict(plain.agent.learner.state_dict())


def test_the_cost_critic_regresses_on_the_batch_costs() -> None:
    run = nacre.build(_config("pendulum-td3", *TD3_ON_COST))
    learner = run.agent.learner
    assert isinstance(learner, TD3) and learner.cost is not None
    g = torch.Generator().manual_seed(0)
    obs = torch.ones(32, 1)
    action = torch.rand(32, 1, generator=g) * 2 - 1
    batch = nacre.data.TransitionBatch(obs, action, torch.zeros(32), obs, torch.ones(32),
                                       cost=action[:, 0] ** 2)  # terminal: Q_c = a²
    for _ in range(1000):
        metrics = learner.learn_batch(batch)
    target = action[:, 0] ** 2
    for fitted in learner.cost.critic(obs, action).detach():  # each of the twin critics
        assert (fitted - target).square().mean() < 0.1 * target.var()  # 90 % of the variance
    assert {"cost_critic_loss", "cost_rate", "lagrange"} <= set(metrics)


@pytest.mark.parametrize(("preset", "overrides"), [
    ("pendulum-sac", []), ("pendulum-ppo", []),
    ("pendulum-td3", ["learner={name: ddpg}", "network.n_critics=1"])])
def test_every_constrained_learner_checkpoints_its_cost_critic_and_multiplier(
        preset: str, overrides: list[str]) -> None:
    config = _config(preset, "env.id=nacre/Pendulum-Cost-v1", *overrides,
                     "safety={name: reward_constrained, threshold: 0.1, lagrange_lr: 1.0}")
    learner = nacre.build(config).agent.learner
    assert isinstance(learner, TD3 | SAC | PPO) and learner.cost is not None
    learner.cost.constraint.update(torch.tensor(0.6))  # λ = 0.5
    twin = nacre.build(config.with_overrides(["seed=1"])).agent.learner
    assert isinstance(twin, TD3 | SAC | PPO) and twin.cost is not None
    twin.load_state_dict(learner.state_dict())
    assert float(twin.cost.lagrange) == pytest.approx(0.5)
    saved, loaded = learner.cost.state_dict(), twin.cost.state_dict()
    net = "net" if isinstance(learner, PPO) else "critic"
    for key, value in saved[net].items():
        assert torch.equal(value, loaded[net][key])


def test_the_cost_envs_report_the_squared_action() -> None:
    assert all(check.passed for check in check_env(CostTradeoffEnv))
    for env_id in ("nacre/CostTradeoff-v0", "nacre/Pendulum-Cost-v1"):
        env = gym.make(env_id)
        env.reset(seed=0)
        assert env.step(np.array([0.5], np.float32))[4]["cost"] == pytest.approx(0.25)


def test_the_measured_rate_by_hand() -> None:
    constraint = RewardConstraint(threshold=0.1, lagrange_lr=1.0)
    constraint.use_discount(0.5)
    two = torch.tensor([False, False])
    constraint.record(torch.tensor([1.0, 1.0]), two)  # episodes in flight before λ's first step
    assert float(constraint.update(torch.tensor(0.3))) == pytest.approx(0.2)  # the estimate
    constraint.record(torch.tensor([1.0, 2.0]), torch.tensor([True, False]))
    assert constraint.measured.isnan()  # env 0's episode began before learning: not counted
    # env 0: a counted episode of costs 4, (autoreset step: skipped), 2; env 1 goes on
    constraint.record(torch.tensor([4.0, 0.0]), two)
    constraint.record(torch.tensor([9.0, 0.0]), two, valid=torch.tensor([False, True]))
    constraint.record(torch.tensor([2.0, 0.0]), torch.tensor([True, False]))
    assert float(constraint.measured) == pytest.approx(0.5 * (4 + 0.5 * 2))
    # λ now moves on the measured 2.5, whatever the learner estimates
    assert float(constraint.update(torch.tensor(0.0))) == pytest.approx(0.2 + 2.4)
    critic = RewardConstraint(threshold=0.1, lagrange_lr=1.0, rate_from="critic")
    critic.use_discount(0.5)
    critic.update(torch.tensor(0.1))
    critic.record(torch.tensor([5.0]), torch.tensor([True]))
    critic.record(torch.tensor([5.0]), torch.tensor([True]))
    assert critic.measured.isnan()
    assert float(critic.update(torch.tensor(0.3))) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="rate_from"):
        RewardConstraint(threshold=0.1, rate_from="returns")  # type: ignore[arg-type]


def test_the_agent_measures_the_episodes_it_acts_in() -> None:
    run = nacre.build(_config("pendulum-td3", *TD3_ON_COST))
    agent, constraint = run.agent, run.agent.safety
    assert isinstance(constraint, RewardConstraint) and constraint.gamma == pytest.approx(0.98)
    constraint.update(torch.tensor(0.0))  # learning began: episodes from the next reset count
    obs = run.env.reset(seed=0)
    agent.reset(obs, run.env.action_space)
    discounted, t, done = 0.0, 0, False
    while not done:
        result = run.env.step(agent.act())
        agent.observe(result)
        assert result.cost is not None
        discounted += 0.98 ** t * float(result.cost[0])
        t, done = t + 1, bool(result.terminated[0] or result.truncated[0])
    assert float(constraint.measured) == pytest.approx(0.02 * discounted, rel=1e-5)
    for _ in range(5):  # into the next episode
        agent.observe(run.env.step(agent.act()))
    # the measured rate and the episode in flight are checkpointed with λ
    twin = nacre.build(_config("pendulum-td3", *TD3_ON_COST)).agent
    twin.load_state_dict(agent.state_dict())
    assert isinstance(twin.safety, RewardConstraint)
    for key, value in constraint.state_dict().items():
        assert torch.equal(twin.safety.state_dict()[key], value), key
    assert float(constraint.state_dict()["sums"][0]) > 0
    # a reset cuts the episode in flight: it is not measured
    agent.reset(run.env.reset(seed=1), run.env.action_space)
    assert float(constraint.state_dict()["sums"][0]) == 0
