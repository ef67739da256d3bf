"""Property-based fuzzing of nacre's public boundary (Hypothesis): every input is either used
or refused with a typed nacre error; nothing invalid is stored or learned from silently; and the
learner's parameters stay finite whatever it is fed.

Each test states its own oracle of what is valid, independently of the code under test. The
default run generates ~1,300 cases (derandomized, so CI is reproducible); ``-m slow`` runs the
same properties on 10x more random cases.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nacre
from nacre.data.batch import StepBatch, TransitionBatch
from nacre.data.replay import ReplayBuffer
from nacre.errors import NacreError
from nacre.spaces import DiscreteActionSpace
from nacre.train.checkpoint import flatten_tree

FAST = settings(max_examples=250, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=2500, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

OBS_DIM, N_ACTIONS = 4, 2
SPECIAL = [math.nan, math.inf, -math.inf, 3e38, -3e38, 1e-45]


def agent() -> nacre.Agent:
    run = nacre.build(nacre.load_preset("cartpole-dqn").with_overrides(
        ["network.hidden=[8]", "train.accelerate=off"]))
    return run.agent


AGENT = agent()


def finite_parameters(a: nacre.Agent) -> bool:
    """Networks and optimizer moments alike."""
    _, tensors = flatten_tree(a.learner.state_dict())
    return all(bool(torch.isfinite(t).all()) for t in tensors.values() if t.is_floating_point())


def numbers(special: bool = True) -> st.SearchStrategy[float]:
    base = st.floats(-10, 10, allow_nan=False, allow_subnormal=False, width=32)
    return st.one_of(base, st.sampled_from(SPECIAL)) if special else base


@st.composite
def batches(draw: st.DrawFn) -> tuple[TransitionBatch, bool]:
    """A batch and whether it is valid (by this oracle)."""
    n = draw(st.integers(1, 6))
    width = draw(st.sampled_from([OBS_DIM, OBS_DIM, OBS_DIM, 3]))
    rows = {name: draw(st.sampled_from([n, n, n, n + 1])) for name in
            ("obs", "action", "reward", "next_obs", "terminated")}
    obs = np.array(draw(st.lists(numbers(), min_size=rows["obs"] * width,
                                 max_size=rows["obs"] * width)), np.float32)
    nxt = np.array(draw(st.lists(numbers(), min_size=rows["next_obs"] * width,
                                 max_size=rows["next_obs"] * width)), np.float32)
    action = draw(st.lists(st.integers(-2, 4), min_size=rows["action"],
                           max_size=rows["action"]))
    reward = draw(st.lists(numbers(), min_size=rows["reward"], max_size=rows["reward"]))
    terminated = draw(st.lists(st.sampled_from([0.0, 1.0, 0.0, 1.0, -3.0, 0.5]),
                               min_size=rows["terminated"], max_size=rows["terminated"]))
    propensity = draw(st.one_of(st.none(), st.lists(
        st.sampled_from([1.0, 0.5, 0.25, 0.0, -1.0, 2.0, math.nan, math.inf]),
        min_size=n, max_size=n)))
    batch = TransitionBatch(
        obs=torch.from_numpy(obs.reshape(rows["obs"], width)),
        action=torch.tensor(action, dtype=torch.int64),
        reward=torch.tensor(reward, dtype=torch.float32),
        next_obs=torch.from_numpy(nxt.reshape(rows["next_obs"], width)),
        terminated=torch.tensor(terminated),
        propensity=None if propensity is None else torch.tensor(propensity))
    f32 = np.float32
    valid = (
        width == OBS_DIM and len(set(rows.values())) == 1
        and all(np.isfinite(f32(x)) for x in [*obs, *nxt, *reward])
        and all(0 <= a < N_ACTIONS for a in action)
        and all(t in (0.0, 1.0) for t in terminated)
        and (propensity is None or all(0.0 < p <= 1.0 for p in propensity))
    )
    return batch, valid


def check_learn_batch(case: tuple[TransitionBatch, bool]) -> None:
    batch, valid = case
    try:
        AGENT.learn_batch(batch)
        refused = False
    except NacreError:
        refused = True
    assert refused != valid, f"valid={valid} but refused={refused}: {batch}"
    assert finite_parameters(AGENT)


@FAST
@given(batches())
def test_learn_batch_uses_or_refuses_and_parameters_stay_finite(
        case: tuple[TransitionBatch, bool]) -> None:
    check_learn_batch(case)


@pytest.mark.slow
@SLOW
@given(batches())
def test_learn_batch_fuzz_more(case: tuple[TransitionBatch, bool]) -> None:
    check_learn_batch(case)


@st.composite
def observations(draw: st.DrawFn) -> tuple[Any, bool]:
    kind = draw(st.sampled_from(["array", "array", "tensor", "scalar", "list"]))
    b = draw(st.integers(0, 3))
    width = draw(st.sampled_from([OBS_DIM, OBS_DIM, 5, 1]))
    ndim = draw(st.sampled_from([2, 2, 2, 1, 3]))
    values = draw(st.lists(numbers(), min_size=b * width, max_size=b * width))
    arr = np.array(values, np.float32)
    shaped = arr.reshape(b, width) if ndim == 2 else (
        arr if ndim == 1 else arr.reshape(b, width, 1))
    obs: Any = {"array": shaped, "tensor": torch.from_numpy(shaped), "scalar": 1.0,
                "list": shaped.tolist()}[kind]
    valid = (kind in ("array", "tensor") and ndim == 2 and b >= 1 and width == OBS_DIM
             and bool(np.isfinite(arr).all()))
    return obs, valid


@FAST
@given(observations(), st.booleans())
def test_decide_returns_valid_actions_or_refuses(case: tuple[Any, bool], exploit: bool) -> None:
    obs, valid = case
    AGENT.action_space = DiscreteActionSpace(N_ACTIONS)
    try:
        action, propensity = AGENT.decide(obs, exploit=exploit)
    except NacreError:
        assert not valid, obs
        return
    assert valid, obs
    assert action.shape == (obs.shape[0],) and bool(((action >= 0) & (action < 2)).all())
    assert bool(((propensity > 0) & (propensity <= 1)).all())


@st.composite
def steps(draw: st.DrawFn) -> tuple[StepBatch, bool]:
    b = 2
    rows = draw(st.sampled_from([b, b, b, 1]))
    obs = np.array(draw(st.lists(numbers(), min_size=b * OBS_DIM, max_size=b * OBS_DIM)),
                   np.float32).reshape(b, OBS_DIM)
    action = draw(st.lists(st.one_of(st.integers(-2, 7), st.sampled_from([0.5, math.nan])),
                           min_size=rows, max_size=rows))
    reward = draw(st.lists(numbers(), min_size=b, max_size=b))
    terminated = draw(st.lists(st.sampled_from([False, True, 0, 1, -3, 2]), min_size=b,
                               max_size=b))
    propensity = draw(st.one_of(st.none(), st.sampled_from([0.5, 2.0, -1.0, math.nan]),
                                st.lists(st.sampled_from([1.0, 0.3, 0.0, -1.0, 2.0, math.nan,
                                                          math.inf]), min_size=b, max_size=b)))
    step = StepBatch(obs, np.array(action), np.array(reward, np.float32), obs.copy(),
                     np.array(terminated), np.zeros(b, np.bool_),
                     None if propensity is None else np.array(propensity, np.float64))
    props = [] if propensity is None else np.atleast_1d(propensity).tolist()
    valid = (rows == b and bool(np.isfinite(obs).all())
             and all(isinstance(a, int) and 0 <= a < N_ACTIONS for a in action)
             and all(np.isfinite(np.float32(r)) for r in reward)
             and all(t in (0, 1) for t in terminated)
             and all(0.0 < p <= 1.0 for p in props))
    return step, valid


@FAST
@given(steps())
def test_replay_add_stores_only_valid_steps(case: tuple[StepBatch, bool]) -> None:
    step, valid = case
    buffer = ReplayBuffer(16, seed=0, action_space=DiscreteActionSpace(N_ACTIONS))
    good = StepBatch(np.zeros((2, OBS_DIM), np.float32), np.zeros(2, np.int64),
                     np.zeros(2, np.float32), np.zeros((2, OBS_DIM), np.float32),
                     np.zeros(2, np.bool_), np.zeros(2, np.bool_))
    buffer.add(good)  # fixes the shapes
    try:
        buffer.add(step)
    except NacreError:
        assert not valid
        assert len(buffer) == 2  # nothing of the refused step was stored
        return
    assert valid
    sample = buffer.sample(64)
    assert bool(((sample.action >= 0) & (sample.action < N_ACTIONS)).all())
    assert bool(torch.isfinite(sample.reward).all())


@FAST
@given(st.one_of(st.integers(-3, 3), st.floats(allow_nan=True, allow_subnormal=False),
                 st.booleans(), st.none()),
       st.one_of(st.integers(-3, 3), st.floats(-1, 3, allow_subnormal=False), st.booleans()))
def test_learn_takes_counts_or_refuses(batch_size: Any, gradient_steps: Any) -> None:
    run = RUN
    valid = (type(batch_size) is int and batch_size >= 1
             and type(gradient_steps) is int and gradient_steps >= 0)
    try:
        run.agent.learn(batch_size, gradient_steps)
    except NacreError:
        assert not valid
        return
    assert valid


def _run_with_four_steps() -> Any:
    run = nacre.build(nacre.load_preset("cartpole-dqn").with_overrides(["network.hidden=[8]"]))
    run.agent.reset(run.env.reset(seed=0), run.env.action_space)
    for _ in range(4):
        run.agent.observe(run.env.step(run.agent.act()))
    return run


RUN = _run_with_four_steps()

OVERRIDES = st.sampled_from([
    "network.hidden=[-5]", "network.hidden=[0]", "network.hidden=[8.5]", "network.hidden=[8]",
    "buffer.capacity=1e300", "buffer.capacity=-1", "buffer.capacity=0", "buffer.capacity=100",
    "learner.lr=nan", "learner.lr=-1", "learner.lr=0.001", "learner.gamma=2",
    "learner.gamma=0.5", "train.batch_size=0", "train.checkpoint_interval_s=nan",
    "env.max_faults=-2", "env.num_envs=0", "env.num_envs=2", "train.steps=0",
])


@FAST
@given(st.lists(OVERRIDES, min_size=1, max_size=3))
def test_config_values_build_or_refuse_with_a_config_error(overrides: list[str]) -> None:
    try:
        nacre.build(nacre.load_preset("cartpole-dqn").with_overrides(overrides))
    except nacre.ConfigError:
        return
    except NacreError as exc:
        raise AssertionError(f"{overrides}: {type(exc).__name__} is not a ConfigError") from exc
