"""Recurrent PPO (history: recurrent): the LSTM state is carried while acting and reset per env
at episode ends; learning re-runs the cell from each rollout's starting state and recovers the
states the actions were chosen from; one update trains the cell with the heads."""

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

import nacre
from nacre.errors import ConfigError
from nacre.history import RecurrentHistory
from nacre.history.recurrent import unroll
from nacre.learners.policy.recurrent_ppo import RecurrentPPO
from nacre.losses.returns import gae

SMALL = ["env.num_envs=3", "train.train_freq=24", "train.batch_size=16",
         "history={name: recurrent, hidden: 8}", "network.hidden=[8]"]


def _run() -> Any:
    return nacre.build(nacre.load_preset("cartpole-po-recurrent-ppo").with_overrides(SMALL))


@torch.no_grad()
def test_the_state_is_carried_and_reset_per_env() -> None:
    h = RecurrentHistory(4)
    h.summary_space(gym.spaces.Box(-np.ones(2, np.float32), np.ones(2, np.float32)))
    state = h.initial(2, torch.zeros(2, 2))
    for _ in range(3):
        summary, state = h.summarize(torch.ones(2, 2), state)
    assert state is not None and summary.shape == (2, 4) and state.shape == (2, 8)
    assert torch.equal(summary[0], summary[1])
    state = h.reset(state, torch.tensor([True, False]))
    assert state is not None
    assert float(state[0].abs().sum()) == 0.0 and float(state[1].abs().sum()) > 0.0


def test_learning_re_runs_the_states_the_actions_were_chosen_from() -> None:
    run = _run()
    agent, env = run.agent, run.env
    assert isinstance(agent.learner, RecurrentPPO)
    agent.reset(env.reset(seed=0), env.action_space)
    assert agent.buffer is not None
    ends = 0
    for _ in range(4):  # rollouts of 8 steps per env; the state carries across them
        acted = []
        for _ in range(8):
            agent.act()
            assert agent._history is not None  # noqa: SLF001
            acted.append(agent._history[:, :8].clone())  # noqa: SLF001 (h, what the heads read)
            result = env.step(agent._action)  # noqa: SLF001
            ends += int((result.terminated | result.truncated).sum())
            agent.observe(result)
        rollout = agent.buffer.rollout()  # type: ignore[attr-defined]
        start = torch.zeros_like(rollout.terminated)
        start[1:] = (rollout.terminated | rollout.truncated)[:-1]
        with torch.no_grad():
            h, _ = unroll(agent.learner.lstm, rollout.obs, rollout.initial_state, start)
        assert torch.allclose(h, torch.stack(acted), atol=1e-6)
        agent.learn(16)
    assert ends > 0  # some episodes ended (and reset their env's state) on the way


def test_one_update_trains_the_lstm_and_the_heads() -> None:
    run = _run()
    agent, env = run.agent, run.env
    agent.reset(env.reset(seed=0), env.action_space)
    for _ in range(8):
        agent.observe(env.step(agent.act()))
    learner = agent.learner
    assert isinstance(learner, RecurrentPPO)
    before = [p.detach().clone() for p in (*learner.lstm.parameters(),
                                           *learner.net.parameters())]
    agent.learn(16)
    after = [*learner.lstm.parameters(), *learner.net.parameters()]
    changed = [not torch.equal(a, b) for a, b in zip(after, before, strict=True)]
    assert all(changed[:4])  # the LSTM's four tensors
    assert any(changed[4:])


def test_recurrent_history_needs_recurrent_ppo() -> None:
    with pytest.raises(ConfigError, match="only learner ppo"):
        nacre.build(nacre.load_preset("cartpole-dqn").with_overrides(
            ["history={name: recurrent, hidden: 8}"]))
    with pytest.raises(ConfigError, match="history.hidden"):
        nacre.build(nacre.load_preset("cartpole-po-recurrent-ppo").with_overrides(
            ["history={name: recurrent, hidden: 0}"]))


@torch.no_grad()
def test_returns_bootstrap_from_the_state_after_each_step() -> None:
    """GAE's next values equal those of the LSTM stepped one observation at a time from the
    state after each step, reading the true next observation (the final one where an episode
    ended): the stretched re-run changes nothing."""
    run = nacre.build(nacre.load_preset("cartpole-po-recurrent-ppo").with_overrides(
        [*SMALL, "env.normalize.obs=false", "env.kwargs={max_episode_steps: 5}"]))
    agent, env = run.agent, run.env
    agent.reset(env.reset(seed=0), env.action_space)
    for _ in range(8):
        agent.observe(env.step(agent.act()))
    assert agent.buffer is not None
    rollout = agent.buffer.rollout()  # type: ignore[attr-defined]
    learner = agent.learner
    assert isinstance(learner, RecurrentPPO) and bool(rollout.truncated.any())
    h, c = (x[None].contiguous() for x in rollout.initial_state.chunk(2, dim=1))
    values, next_values = [], []
    for t in range(rollout.steps):
        if t and bool((rollout.terminated | rollout.truncated)[t - 1].any()):
            keep = (~(rollout.terminated | rollout.truncated)[t - 1]).float()[None, :, None]
            h, c = h * keep, c * keep
        _, (h, c) = learner.lstm(rollout.obs[t].float()[None], (h, c))
        values.append(learner.net.value(h[0]))
        _, (h_next, _) = learner.lstm(rollout.next_obs[t].float()[None], (h, c))
        next_values.append(learner.net.value(h_next[0]))
    advantage, returns = gae(rollout.reward.float(), torch.stack(values),
                             torch.stack(next_values), rollout.terminated, rollout.ends,
                             learner.config.gamma, learner.config.gae_lambda)
    rows = learner.rows_of(rollout)
    assert torch.allclose(rows.returns, returns, atol=1e-5)
    assert torch.allclose(rows.advantage, advantage, atol=1e-5)
