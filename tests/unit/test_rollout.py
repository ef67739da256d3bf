"""The on-policy rollout buffer, PPO's rollout processing, and Box actions in the Agent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nacre
from nacre.data import RolloutBuffer, StepBatch
from nacre.errors import InputError
from nacre.learners import PPO, PPOConfig
from nacre.losses import gae
from nacre.networks import ActorCritic, FlattenEncoder
from nacre.spaces import BoxActionSpace


def fill(buf: RolloutBuffer, steps: int, envs: int = 2, valid: bool = True) -> None:
    for t in range(steps):
        buf.add(StepBatch(
                np.full((envs, 3), t, np.float32), np.arange(envs), np.full(envs, float(t)),
                np.full((envs, 3), t + 1, np.float32), np.zeros(envs, bool),
                np.array([t == 1] + [False] * (envs - 1)),
                valid=None if valid else np.array([t != 2] + [True] * (envs - 1))))


def test_rollout_is_time_major_and_refuses_to_wrap() -> None:
    buf = RolloutBuffer(steps=4)
    fill(buf, 4)
    r = buf.rollout()
    assert r.obs.shape == (4, 2, 3) and r.reward[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert r.truncated[:, 0].tolist() == [False, True, False, False] and bool(r.valid.all())
    with pytest.raises(InputError, match="already holds 4 steps"):
        fill(buf, 1)
    with pytest.raises(InputError, match="not sampled"):
        buf.sample(2)
    buf.clear()
    with pytest.raises(InputError, match="empty"):
        buf.rollout()
    fill(buf, 2)
    assert buf.rollout().reward.shape == (2, 2)


def test_rollout_state_dict_round_trip_mid_rollout() -> None:
    buf = RolloutBuffer(steps=4)
    fill(buf, 3, valid=False)
    twin = RolloutBuffer(steps=4)
    twin.load_state_dict(buf.state_dict())
    a, b = buf.rollout(), twin.rollout()
    for name in ("obs", "action", "reward", "next_obs", "terminated", "truncated", "valid"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert a.valid[:, 0].tolist() == [True, True, False]
    fill(twin, 1)
    assert twin.full


def ppo(continuous: bool = False) -> PPO:
    torch.manual_seed(0)
    net = ActorCritic(FlattenEncoder((3,)), 2, (8,), "tanh", continuous)
    return PPO(net, PPOConfig(gamma=0.9, gae_lambda=0.8))


def test_process_computes_gae_from_the_critic_and_drops_reset_steps() -> None:
    learner = ppo()
    buf = RolloutBuffer(steps=4)
    fill(buf, 4, valid=False)  # env 0: truncated at t=1, a NEXT_STEP reset step at t=2
    r = buf.rollout()
    batch = learner.process(r)
    assert len(batch) == 7  # 8 rows minus the reset step
    with torch.no_grad():
        v = learner.net.value(r.obs.reshape(8, 3)).view(4, 2)
        nv = learner.net.value(r.next_obs.reshape(8, 3)).view(4, 2)
    ends = r.terminated | r.truncated | ~r.valid
    adv, ret = gae(r.reward, v, nv, r.terminated, ends, 0.9, 0.8)
    keep = r.valid.reshape(-1)
    torch.testing.assert_close(batch.advantage, adv.reshape(-1)[keep])
    torch.testing.assert_close(batch.returns, ret.reshape(-1)[keep])
    # the truncated step bootstraps from the value of its true final observation
    torch.testing.assert_close(adv[1, 0], r.reward[1, 0] + 0.9 * nv[1, 0] - v[1, 0])


def test_box_actions_are_scaled_to_the_env_and_stored_normalized() -> None:
    space = BoxActionSpace(torch.tensor([-2.0, 0.0]), torch.tensor([2.0, 10.0]))
    raw = torch.tensor([[-1.0, 1.0], [0.5, -3.0]])
    torch.testing.assert_close(space.to_env(raw), torch.tensor([[-2.0, 10.0], [1.0, 0.0]]))
    torch.testing.assert_close(space.from_env(space.to_env(raw[:1])), raw[:1])

    learner = ppo(continuous=True)
    buf = RolloutBuffer(steps=2)
    agent = nacre.Agent(learner, exploration=nacre.PolicySampling(), buffer=buf, seed=0)
    obs = np.zeros((1, 3), np.float32)
    agent.reset(obs, space)
    action = agent.act()
    assert bool((action >= space.low).all() and (action <= space.high).all())
    env_action, _ = agent.decide(obs, exploit=True)  # the mean, in env units
    with torch.no_grad():
        mean = learner.net.policy(torch.from_numpy(obs))
    torch.testing.assert_close(env_action, space.to_env(mean))
    agent.observe(nacre.ActionResult(obs=obs, next_obs=obs, reward=np.zeros(1, np.float32),
                                     terminated=np.zeros(1, bool), truncated=np.zeros(1, bool)))
    stored = buf.rollout().action[0]
    assert stored.shape == (1, 2)
    assert not torch.equal(stored, action)  # normalized, not env units
    torch.testing.assert_close(space.to_env(stored), action)


def test_reinforce_reward_to_go_by_hand() -> None:
    from nacre.learners import REINFORCE, ReinforceConfig

    torch.manual_seed(0)
    net = ActorCritic(FlattenEncoder((3,)), 2, (8,), "tanh", False)
    buf = RolloutBuffer(steps=4)
    fill(buf, 4)  # rewards 0, 1, 2, 3; env 0 truncated at t=1; no termination
    r = buf.rollout()
    plain = REINFORCE(net, ReinforceConfig(gamma=0.5, baseline=False)).process(r)
    # env 0 (rows 0, 2, 4, 6): G_1 = 1 (cut, no bootstrap), G_0 = 0 + .5·1; G_3 = 3,
    # G_2 = 2 + .5·3 (the rollout's end cuts the second episode)
    torch.testing.assert_close(plain.returns[[0, 2, 4, 6]], torch.tensor([0.5, 1.0, 3.5, 3.0]))
    with_baseline = REINFORCE(net, ReinforceConfig(gamma=0.5)).process(r)
    with torch.no_grad():
        nv = net.value(r.next_obs.reshape(8, 3)).view(4, 2)
    # with a baseline the cut steps bootstrap from the critic: G_1 = 1 + .5·V(s'_1)
    torch.testing.assert_close(with_baseline.returns[2], 1.0 + 0.5 * nv[1, 0])
    torch.testing.assert_close(with_baseline.returns[6], 3.0 + 0.5 * nv[3, 0])


def test_a_cleared_rollout_buffer_round_trips_its_state() -> None:
    buf = RolloutBuffer(steps=2)
    fill(buf, 2)
    buf.clear()  # what a checkpoint at a rollout boundary holds
    twin = RolloutBuffer(steps=2)
    twin.load_state_dict(buf.state_dict())
    assert len(twin) == 0
    fill(twin, 2)
    assert twin.full and twin.rollout().obs.shape == (2, 2, 3)
