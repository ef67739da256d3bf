"""History summarizers (nacre.history): the stacking window at act time is the window replay
samples carry; each stream keeps its own history; the acting history is checkpointed."""

from pathlib import Path

import numpy as np
import pytest
import torch

import nacre
from nacre.errors import ConfigError
from nacre.history import StackingHistory
from nacre.train.evaluate import evaluate

STACK = ["history={name: stacking, k: 3}", "env.id=nacre/CartPole-PO-v0",
         "train.learning_starts=50", "train.eval_episodes=2", "network.hidden=[16]"]


def test_stacking_keeps_the_last_k_observations_per_stream() -> None:
    h = StackingHistory(3)
    state = h.initial(2, torch.zeros(2, 1))
    for t in range(1, 5):
        window, state = h.summarize(torch.tensor([[t], [10.0 * t]]), state)
    assert window[:, :, 0].tolist() == [[2, 3, 4], [20, 30, 40]]
    state = h.reset(state, torch.tensor([False, True]))
    window, state = h.summarize(torch.tensor([[5.0], [50.0]]), state)
    assert window[:, :, 0].tolist() == [[3, 4, 5], [0, 0, 50]]  # env 1's episode started anew


def test_the_acting_window_is_the_window_replay_returns() -> None:
    run = nacre.build(nacre.load_preset("cartpole-dqn").with_overrides(STACK))
    agent, env = run.agent, run.env
    agent.reset(env.reset(seed=0), env.action_space)
    seen = {}
    for _ in range(60):
        before = agent._history  # noqa: SLF001  (what the next act summarizes into)
        agent.act()
        assert before is not None and agent._history is not None  # noqa: SLF001
        seen[tuple(agent._history[0, -1].tolist())] = agent._history[0].clone()  # noqa: SLF001
        agent.observe(env.step(agent._action))  # noqa: SLF001
    assert agent.buffer is not None
    batch = agent.buffer.sample(200)
    for window in batch.obs:
        assert torch.equal(seen[tuple(window[-1].tolist())], window)
    run.env.close()


def test_evaluation_keeps_its_own_history_and_checkpoints_keep_the_agents(tmp_path: Path
                                                                           ) -> None:
    run = nacre.build(nacre.load_preset("cartpole-dqn").with_overrides(STACK))
    agent, env = run.agent, run.env
    agent.reset(env.reset(seed=0), env.action_space)
    for _ in range(5):
        agent.observe(env.step(agent.act()))
    acting = agent._history.clone()  # type: ignore[union-attr]  # noqa: SLF001
    evaluate(agent, run.make_eval_envs(), 2, seed=0)
    evaluate(agent, run.make_eval_env(), 1, seed=0)
    assert torch.equal(agent._history, acting)  # type: ignore[arg-type]  # noqa: SLF001
    state = agent.state_dict()
    assert torch.equal(state["history"], acting)
    fresh = nacre.build(nacre.load_preset("cartpole-dqn").with_overrides(STACK)).agent
    fresh.load_state_dict(state)
    assert torch.equal(fresh._history, acting)  # type: ignore[arg-type]  # noqa: SLF001
    run.env.close()


def test_predict_with_a_stream_remembers_and_without_one_does_not() -> None:
    run = nacre.build(nacre.load_preset("cartpole-dqn").with_overrides(STACK))
    stream = run.agent.stream()
    for t in range(3):
        run.agent.predict(np.array([t, 0.0], np.float32), stream=stream)
    assert stream.history is not None and stream.history[0, :, 0].tolist() == [0.0, 1.0, 2.0]
    stream.episodes_ended([True])
    assert float(stream.history.abs().sum()) == 0.0
    run.env.close()


def test_the_online_buffer_refuses_a_stacking_history() -> None:
    cfg = nacre.load_preset("cartpole-ppo").with_overrides(
        ["history={name: stacking, k: 3}", "buffer.name=online"])
    with pytest.raises(ConfigError, match="use buffer replay, prioritized or rollout"):
        nacre.build(cfg)


@pytest.mark.parametrize("history", ["{name: stacking, k: 3}",
                                     "{name: lstm, length: 3, hidden: 8, actions: true}"])
def test_rollouts_carry_the_windows_acted_on_across_rollouts(history: str) -> None:
    """Each rollout's windows are the ones the policy acted on, the first ones reaching back
    into the previous rollout (the buffer keeps its last k - 1 steps)."""
    run = nacre.build(nacre.load_preset("cartpole-ppo").with_overrides(
        [f"history={history}", "env.id=nacre/CartPole-PO-v0", "env.num_envs=2",
         "train.train_freq=10"]))
    agent, env = run.agent, run.env
    agent.reset(env.reset(seed=0), env.action_space)
    assert agent.buffer is not None
    for _ in range(3):  # three rollouts of 5 steps per env, each learned on and cleared
        acted = []
        for _ in range(5):
            agent.act()
            assert agent._history is not None  # noqa: SLF001
            window = agent._history.clone()  # noqa: SLF001
            if window.shape[-1] == 5:  # with actions: the network saw zeros in the last slot
                window[:, -1, 2:4] = 0
            acted.append(window)
            agent.observe(env.step(agent._action))  # noqa: SLF001
        rollout = agent.buffer.rollout()  # type: ignore[attr-defined]
        assert torch.equal(rollout.obs, torch.stack(acted))
        agent.learn(10)
    run.env.close()
