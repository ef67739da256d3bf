"""Regression tests for the defects a review found in the policy-gradient / actor-critic code."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nacre
from nacre.config import yaml_io
from nacre.data import RolloutBuffer, StepBatch
from nacre.errors import ConfigError
from nacre.learners import REINFORCE, DiscreteSAC, ReinforceConfig
from nacre.networks import ActorCritic, CategoricalActorTwinQ, FlattenEncoder, NatureCNN
from nacre.spaces import BoxActionSpace


def test_reinforce_returns_bootstrap_only_where_the_episode_was_cut() -> None:
    # one env, γ = 0.5, reward 1 per step, a 3-step episode that terminates, then one more step
    # cut by the end of the rollout; the critic's value is whatever it is: only the cut step
    # may use it.
    torch.manual_seed(0)
    net = ActorCritic(FlattenEncoder((3,)), 2, (8,), "tanh", False)
    buf = RolloutBuffer(steps=4)
    for t in range(4):
        buf.add(StepBatch(
                np.full((1, 3), t, np.float32), np.zeros(1, np.int64), np.ones(1, np.float32),
                np.full((1, 3), t + 1, np.float32), np.array([t == 2]), np.zeros(1, bool)))
    r = buf.rollout()
    returns = REINFORCE(net, ReinforceConfig(gamma=0.5)).process(r).returns
    assert returns is not None
    with torch.no_grad():
        v_cut = net.value(r.next_obs[3])
    torch.testing.assert_close(returns[:3], torch.tensor([1.75, 1.5, 1.0]))
    torch.testing.assert_close(returns[3:], 1.0 + 0.5 * v_cut)


def test_discrete_sac_trains_a_shared_image_encoder() -> None:
    torch.manual_seed(0)
    net = CategoricalActorTwinQ(NatureCNN((4, 84, 84)), 3, (16,), (16,))
    learner = DiscreteSAC(net)
    encoder = {id(p) for p in net.encoder.parameters()}
    assert encoder and encoder <= {id(p) for p in learner.critic_optimizer.params}


def test_to_env_never_leaves_the_box() -> None:
    g = torch.Generator().manual_seed(0)
    low = torch.rand(2000, generator=g) * -5
    high = torch.rand(2000, generator=g) * 5 + 0.1
    space = BoxActionSpace(low, high)
    out = space.to_env(torch.ones(1, 2000))
    assert bool((out <= high).all() and (out >= low).all())
    out = space.to_env(-torch.ones(1, 2000))
    assert bool((out <= high).all() and (out >= low).all())


def build(text: str) -> nacre.RunConfig:
    return nacre.RunConfig.from_dict(yaml_io.loads(text))


@pytest.mark.parametrize(("learner", "network", "exploration", "match"), [
    ("sac", "squashed_gaussian", "policy", "use exploration squashed"),
    ("td3", "deterministic", "policy", "use exploration gaussian"),
    ("ppo", "actor_critic", "epsilon_greedy", "use exploration policy"),
    ("dqn", "mlp", "squashed", "use exploration greedy"),
])
def test_exploration_that_does_not_fit_the_learner_is_a_config_error(
        learner: str, network: str, exploration: str, match: str) -> None:
    env = "Pendulum-v1" if learner in ("sac", "td3", "ppo") else "CartPole-v1"
    buffer = "rollout" if learner == "ppo" else "replay"
    text = (f"env: {{id: {env}}}\nlearner: {{name: {learner}}}\nnetwork: {{name: {network}}}\n"
            f"exploration: {{name: {exploration}}}\nbuffer: {{name: {buffer}}}\n"
            "train: {learning_starts: 0, train_freq: 64}\n")
    with pytest.raises(ConfigError, match=match):
        nacre.build(build(text))


def test_on_policy_runs_refuse_learning_starts() -> None:
    text = ("env: {id: CartPole-v1}\nlearner: {name: ppo}\nnetwork: {name: actor_critic}\n"
            "exploration: {name: policy}\nbuffer: {name: rollout}\ntrain: {train_freq: 64}\n")
    with pytest.raises(ConfigError, match="learning_starts: 0"):
        nacre.build(build(text))  # the default learning_starts is 1000


def test_normalizing_discrete_observations_is_refused() -> None:
    text = ("env: {id: FrozenLake-v1, normalize: {obs: true}}\nlearner: {name: tabular_q}\n"
            "train: {steps: 100}\n")
    with pytest.raises(ConfigError, match="float Box observations"):
        nacre.build(build(text))


def test_a_run_interrupted_before_its_training_round_resumes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    run = nacre.build(nacre.load_preset("cartpole-ppo").with_overrides(
        ["env.num_envs=2", "train.train_freq=32", "train.batch_size=16", "learner.epochs=1",
         "network.hidden=[8]"]))
    agent, env = run.agent, run.env
    agent.reset(env.reset(seed=0), env.action_space)
    for _ in range(16):  # a full rollout, not trained on yet (Ctrl-C before the round)
        agent.observe(env.step(agent.act()))
    assert agent.buffer is not None and getattr(agent.buffer, "full")  # noqa: B009
    train = nacre.TrainConfig(steps=96, learning_starts=0, train_freq=32, batch_size=16,
                              learn_threads=1)
    result = nacre.fit(agent, env, train, progress=False)
    assert result.summary["env_steps"] == 96 and agent.grad_steps >= 3
