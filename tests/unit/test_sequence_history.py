"""Sequence summarizers (history: lstm | transformer): the windows carry a step marker, the
networks ignore the padding before an episode's start, burn-in steps pass no gradient, and the
sequence model is trained with (and copied into the target of) the learner's networks."""

import numpy as np
import pytest
import torch
from torch import nn

import nacre
from nacre.config.build import Run
from nacre.errors import ConfigError
from nacre.history import SequenceHistory
from nacre.learners.value.dqn import DQN
from nacre.networks.encoders import FlattenEncoder
from nacre.networks.sequence import LSTMWindowEncoder, TransformerWindowEncoder
from nacre.spaces import (
    ActionFeatures,
    BoxActionSpace,
    DiscreteActionSpace,
    MultiDiscreteActionSpace,
    SequenceReader,
)

LSTM = ["history={name: lstm, length: 4, hidden: 16}", "env.id=nacre/CartPole-PO-v0",
        "train.learning_starts=50", "train.eval_episodes=2", "network.hidden=[16]"]


def _window(steps: list[list[float]], length: int) -> torch.Tensor:
    """One marked window: zero padding, then ``steps`` (oldest first)."""
    w = torch.zeros(1, length, len(steps[0]) + 1)
    for i, s in enumerate(steps):
        w[0, length - len(steps) + i] = torch.tensor([*s, 1.0])
    return w


def test_windows_mark_the_episode_steps_and_reset_per_stream() -> None:
    h = SequenceHistory(3, SequenceReader("lstm"))
    state = h.initial(2, torch.zeros(2, 1))
    for t in range(1, 3):
        window, state = h.summarize(torch.tensor([[t], [10.0 * t]]), state)
    assert window[0].tolist() == [[0, 0], [1, 1], [2, 1]]
    state = h.reset(state, torch.tensor([False, True]))
    window, state = h.summarize(torch.tensor([[3.0], [30.0]]), state)
    assert window.tolist() == [[[1, 1], [2, 1], [3, 1]], [[0, 0], [0, 0], [30, 1]]]


def test_lstm_reads_the_episode_steps_as_torchs_lstm_does() -> None:
    torch.manual_seed(0)
    enc = LSTMWindowEncoder(3, 8, burn_in=0)
    ref = nn.LSTM(3, 8, batch_first=True)
    with torch.no_grad():  # the same weights
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ref, f"{name}_l0").copy_(getattr(enc.lstm.cell, name))
    steps = [[0.5, -1.0], [0.2, 0.3], [1.0, 0.0]]
    window = _window(steps, 6)
    _, (h_ref, _) = ref(window[:, 3:])  # the three episode steps only, from a zero state
    assert torch.allclose(enc(window), h_ref[0], atol=1e-6)
    garbage = window.clone()
    garbage[0, :3, :2] = torch.randn(3, 2)  # what padding holds must not matter
    assert torch.allclose(enc(garbage), enc(window), atol=1e-6)


def test_transformer_ignores_the_padding() -> None:
    torch.manual_seed(0)
    enc = TransformerWindowEncoder(3, 5, hidden=16, layers=2, heads=2)
    window = _window([[0.5, -1.0], [0.2, 0.3]], 5)
    garbage = window.clone()
    garbage[0, :3, :2] = torch.randn(3, 2)
    assert torch.allclose(enc(garbage), enc(window), atol=1e-5)
    other = window.clone()
    other[0, 3, 0] = 2.0  # an episode step does matter
    assert not torch.allclose(enc(other), enc(window), atol=1e-3)


def test_burn_in_steps_pass_no_gradient() -> None:
    torch.manual_seed(0)
    enc = LSTMWindowEncoder(2, 8, burn_in=2)
    window = _window([[0.1], [0.2], [0.3], [0.4]], 4).requires_grad_(True)
    enc(window).sum().backward()
    assert window.grad is not None
    assert float(window.grad[0, :2].abs().sum()) == 0.0
    assert float(window.grad[0, 2:, 0].abs().sum()) > 0.0


@pytest.mark.parametrize("actions", [False, True])
def test_the_acting_window_is_the_window_replay_returns(actions: bool) -> None:
    run = nacre.build(nacre.load_preset("cartpole-dqn").with_overrides(
        [*LSTM, f"history.actions={str(actions).lower()}"]))
    agent, env = run.agent, run.env
    agent.reset(env.reset(seed=0), env.action_space)
    seen = {}
    for _ in range(60):
        agent.act()
        assert agent._history is not None  # noqa: SLF001
        window = agent._history[0].clone()  # noqa: SLF001
        if actions:  # the action was written after the choice: the network saw zeros there
            assert window[-1, 2:4].tolist() in ([1, 0], [0, 1])
            assert window[-1, 2:4].argmax().item() == agent._action[0].item()  # noqa: SLF001
            window[-1, 2:4] = 0
        seen[tuple(window[-1].tolist())] = window
        agent.observe(env.step(agent._action))  # noqa: SLF001
    assert agent.buffer is not None
    batch = agent.buffer.sample(200)
    assert batch.obs.shape == (200, 4, 5 if actions else 3)
    for window in batch.obs:
        assert torch.equal(seen[tuple(window[-1].tolist())], window)
    # the next window is the one the next decision reads (unless the episode ended there)
    nexts = [w for w, done in zip(batch.next_obs, batch.terminated, strict=True) if not done
             and tuple(w[-1].tolist()) in seen]
    assert len(nexts) > 150
    for window in nexts:
        assert torch.equal(seen[tuple(window[-1].tolist())], window)
    run.env.close()


def test_actions_are_encoded_per_space() -> None:
    one_hot = ActionFeatures(DiscreteActionSpace(3))
    assert one_hot.encode(torch.tensor([2, 0])).tolist() == [[0, 0, 1], [1, 0, 0]]
    box = ActionFeatures(BoxActionSpace(torch.zeros(2), torch.ones(2)))
    assert box.encode(torch.tensor([[0.5, -3.0]])).tolist() == [[0.5, -1.0]]
    multi = ActionFeatures(MultiDiscreteActionSpace((2, 3)))
    assert multi.encode(torch.tensor([[1, 2]])).tolist() == [[0, 1, 0, 0, 1]]
    assert (one_hot.width, box.width, multi.width) == (3, 2, 5)


def test_stacking_with_actions_flattens_marked_rows() -> None:
    run = nacre.build(nacre.load_preset("cartpole-po-stack-dqn").with_overrides(
        ["history={name: stacking, k: 3, actions: true}"]))
    assert isinstance(run.agent.history, SequenceHistory)
    assert run.agent.history.reader is None
    assert isinstance(run.agent.learner.q.encoder, FlattenEncoder)  # type: ignore[attr-defined]
    assert run.agent.learner.q.encoder.out_dim == 3 * (2 + 2 + 1)  # type: ignore[attr-defined]
    run.env.close()


def _acted(steps: int, *overrides: str) -> Run:
    """A PO-CartPole DQN run (``overrides`` on top) whose agent has acted ``steps`` steps."""
    run = nacre.build(nacre.load_preset("cartpole-dqn").with_overrides([*LSTM, *overrides]))
    run.agent.reset(run.env.reset(seed=0), run.env.action_space)
    for _ in range(steps):
        run.agent.observe(run.env.step(run.agent.act()))
    return run


@pytest.mark.parametrize("history", ["lstm", "transformer"])
def test_one_update_trains_the_sequence_model_and_the_target_copies_it(history: str) -> None:
    run = _acted(80, f"history={{name: {history}, length: 4, hidden: 16}}",
                 "train.target_update_interval=1")
    agent = run.agent
    online = agent.learner.q.encoder  # type: ignore[attr-defined]
    before = [p.detach().clone() for p in online.parameters()]
    agent.learn(32)
    after = list(online.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(after, before, strict=True))
    target = agent.learner.target.encoder  # type: ignore[attr-defined]
    for p, q in zip(online.parameters(), target.parameters(), strict=True):
        assert p is not q
    run.env.close()


@pytest.mark.parametrize("history", ["lstm", "transformer"])
def test_the_prediction_task_trains_the_encoder_with_the_q_loss(history: str) -> None:
    # predict: 2 — the features, with the action taken, must give the observations of the next
    # window's last 2 steps; on one fixed batch the error falls as the encoder learns them
    run = _acted(200, f"history={{name: {history}, length: 4, hidden: 16, predict: 2}}",
                 "learner.lr=0.003")
    agent = run.agent
    learner = agent.learner
    assert isinstance(learner, DQN) and learner.q.predictor is not None
    assert learner.q.predictor.rows == 2 and learner.q.predictor.observation_width == 2
    batch = agent.buffer.sample(64)
    encoder_before = [p.detach().clone() for p in learner.q.encoder.parameters()]
    first = float(learner.learn_batch(batch)["prediction_loss"])
    for _ in range(150):
        last = float(learner.learn_batch(batch)["prediction_loss"])
    assert last < 0.3 * first
    assert any(not torch.equal(a, b) for a, b in
               zip(learner.q.encoder.parameters(), encoder_before, strict=True))
    run.env.close()


def test_the_prediction_task_needs_a_learner_that_trains_it() -> None:
    with pytest.raises(ConfigError, match="history.predict"):
        nacre.build(nacre.load_preset("cartpole-ppo").with_overrides(
            ["env.id=nacre/CartPole-PO-v0", "history={name: lstm, length: 4, predict: 1}"]))


def test_predict_streams_carry_the_window() -> None:
    run = nacre.build(nacre.load_preset("cartpole-dqn").with_overrides(LSTM))
    stream = run.agent.stream()
    for t in range(3):
        run.agent.predict(np.array([t, 0.0], np.float32), stream=stream)
    assert stream.history is not None
    assert stream.history[0, :, 2].tolist() == [0.0, 1.0, 1.0, 1.0]
    run.env.close()


@pytest.mark.parametrize(("override", "message"), [
    ("history={name: lstm, length: 1}", "must hold >= 2 steps"),
    ("history={name: lstm, length: 4, burn_in: 4}", "burn_in must be in"),
    ("history={name: lstm, hidden: 0}", "history.hidden"),
    ("history={name: transformer, hidden: 15, heads: 2}", "multiple of history.heads"),
    ("history={name: lstm, length: 4, predict: 5}", "history.predict"),
    ("history={name: lstm, predict: 2, predict_weight: 0}", "history.predict_weight"),
])
def test_bad_sequence_settings_are_refused(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        nacre.build(nacre.load_preset("cartpole-dqn").with_overrides([override]))


def test_image_observations_are_refused_with_a_reason() -> None:
    h = SequenceHistory(4, SequenceReader("lstm"))
    import gymnasium as gym

    with pytest.raises(ConfigError, match="reads vectors"):
        h.summary_space(gym.spaces.Box(0, 255, (3, 8, 8), np.uint8))
