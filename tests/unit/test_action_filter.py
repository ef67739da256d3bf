"""The action filter: no explorer, greedy choice or TD target uses a forbidden action, and the
propensities are those of the filtered distribution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

import nacre
from nacre.data import TransitionBatch
from nacre.errors import ConfigError, InputError
from nacre.exploration import EpsilonGreedy
from nacre.learners import DQN
from nacre.networks import FlattenEncoder, QNetwork, VanillaQHead
from nacre.safety.examples import cliff_walking_allowed
from nacre.safety.filter import FunctionFilter, restrict_next

FORBID_FIRST = FunctionFilter(lambda s: torch.tensor([False, True, True]).expand(s.shape[0], -1))


def test_the_filter_keeps_the_available_and_allowed_actions() -> None:
    mask = torch.tensor([[True, True, False], [True, False, True]])
    out = FORBID_FIRST.filter(torch.zeros(2, 1), torch.zeros(2, 3), mask)
    assert out.tolist() == [[False, True, False], [False, False, True]]
    with pytest.raises(InputError, match="allows no available action in state 0"):
        FORBID_FIRST.filter(torch.zeros(1, 1), torch.zeros(1, 3),
                            torch.tensor([[True, False, False]]))
    for bad in (lambda s: torch.ones(s.shape[0], 3), lambda s: torch.ones(1, 3, dtype=torch.bool),
                lambda s: [[True]]):
        with pytest.raises(InputError, match="must return a bool tensor"):
            FunctionFilter(bad).filter(torch.zeros(2, 1), torch.zeros(2, 3), None)  # type: ignore[arg-type]


def test_td_targets_bootstrap_from_allowed_actions_only() -> None:
    net = QNetwork(FlattenEncoder((1,)), VanillaQHead(1, 3, (), "relu"))
    with torch.no_grad():  # Q(s') = [10, 1, 2] for every state: the forbidden action is best
        net.head.mlp[0].weight.zero_()
        net.head.mlp[0].bias.copy_(torch.tensor([10.0, 1.0, 2.0]))
    learner = DQN(net)
    batch = TransitionBatch(torch.zeros(2, 1), torch.zeros(2, dtype=torch.long), torch.zeros(2),
                            torch.zeros(2, 1), torch.zeros(2),
                            next_mask=torch.tensor([[True, True, True], [True, True, False]]))
    restricted = restrict_next(FORBID_FIRST, batch)
    assert restricted.next_mask is not None
    assert restricted.next_mask.tolist() == [[False, True, True], [False, True, False]]
    targets = learner.td_targets(restricted) / learner.gamma
    torch.testing.assert_close(targets, torch.tensor([2.0, 1.0]))


def test_exploration_never_takes_a_forbidden_action_and_reports_its_propensity() -> None:
    explore = EpsilonGreedy(1.0)  # always random
    state, scores = torch.zeros(512, 1), torch.tensor([[5.0, 1.0, 0.0]]).expand(512, -1)
    mask = FORBID_FIRST.filter(state, scores, None)
    action, propensity = explore.select(scores, mask, 0, torch.Generator().manual_seed(0))
    assert bool((action != 0).all()) and set(action.tolist()) == {1, 2}
    torch.testing.assert_close(propensity, torch.full((512,), 0.5))


def _cliff_config(*overrides: str) -> nacre.RunConfig:
    return nacre.RunConfig.from_dict({
        "env": {"id": "CliffWalking-v1", "kwargs": {"max_episode_steps": 100}},
        "learner": {"name": "dqn", "lr": 0.001},
        "network": {"name": "mlp", "hidden": [64]},
        "exploration": {"name": "epsilon_greedy", "start": 1.0, "end": 0.05,
                        "decay_fraction": 0.3},
        "safety": {"name": "action_filter",
                   "allowed": "nacre.safety.examples:cliff_walking_allowed"},
        "buffer": {"name": "replay", "capacity": 10000},
        "train": {"steps": 4000, "learning_starts": 200, "train_freq": 4, "batch_size": 64,
                  "target_update_interval": 250, "eval_every": 2000, "eval_episodes": 2,
                  "log_every": 2000},
    }).with_overrides(list(overrides))


class CountFalls(gym.Wrapper[Any, Any, Any, Any]):
    """Counts the steps into the cliff (reward −100), in every copy made."""

    falls: list[int] = []

    def step(self, action: Any) -> Any:
        out = self.env.step(action)
        if out[1] <= -100:
            CountFalls.falls.append(1)
        return out


def _falls(tmp_path: Path, *overrides: str) -> tuple[int, float]:
    CountFalls.falls = []
    result = nacre.train(_cliff_config("env.kwargs={}", *overrides), out=tmp_path / "run",
                         progress=False,
                         env=lambda: CountFalls(gym.make("CliffWalking-v1",
                                                         max_episode_steps=100)))
    return len(CountFalls.falls), float(result.summary["final_eval_return_mean"])


def test_a_filtered_dqn_never_falls_off_the_cliff(tmp_path: Path) -> None:
    falls, final = _falls(tmp_path / "filtered")
    assert falls == 0
    assert final >= -17.0  # the path along the edge takes 13 steps
    unfiltered, _ = _falls(tmp_path / "unfiltered", "safety=none")
    assert unfiltered > 50  # the same run without the filter: random play falls often


def test_the_filter_is_refused_where_updates_would_not_see_it() -> None:
    with pytest.raises(ConfigError, match="restricts the actions of value learners"):
        nacre.build(nacre.load_preset("cartpole-ppo").with_overrides(
            ["safety={name: action_filter, allowed: 'nacre.safety.examples:"
             "cliff_walking_allowed'}"]))
    for spec, message in (("nope", "expected 'module:function'"),
                          ("no_such_module_x:f", "cannot import module"),
                          ("nacre.safety.examples:missing", "has no function")):
        with pytest.raises(ConfigError, match=message):
            nacre.build(_cliff_config(f"safety.allowed={spec}"))


def test_the_example_filter_forbids_exactly_the_cliff() -> None:
    env = gym.make("CliffWalking-v1")
    for cell in range(36):
        for action in range(4):
            env.reset(seed=0)
            env.unwrapped.s = cell  # type: ignore[attr-defined]
            _, reward, *_ = env.step(action)
            allowed = bool(cliff_walking_allowed(torch.tensor([cell]))[0, action])
            assert allowed == (reward > -100), (cell, action)
    assert np.all(cliff_walking_allowed(torch.arange(48)).sum(1).numpy() >= 3)


def test_targets_with_no_allowed_next_action_do_not_bootstrap() -> None:
    from nacre.learners import QRDQN
    from nacre.losses.td import sarsa_target
    from nacre.networks import QuantileQHead

    torch.manual_seed(0)
    learner = QRDQN(QNetwork(FlattenEncoder((1,)), QuantileQHead(1, 2, 4, (8,), "relu")))
    batch = TransitionBatch(torch.zeros(2, 1), torch.zeros(2, dtype=torch.long),
                            torch.tensor([1.0, 2.0]), torch.ones(2, 1), torch.zeros(2),
                            next_mask=torch.tensor([[True, False], [False, False]]))
    target = learner.target_quantiles(batch)
    assert bool((target[1] == 2.0).all()) and not bool((target[0] == 1.0).all())
    # SARSA's fallback for a truncated row (next action -1) keeps to the mask too
    q = torch.tensor([[5.0, 1.0]])
    out = sarsa_target(torch.zeros(1), q, torch.tensor([-1]), torch.zeros(1), 1.0,
                       torch.tensor([[False, True]]))
    assert out.item() == 1.0


def test_learn_batch_keeps_to_the_filter() -> None:
    net = QNetwork(FlattenEncoder((1,)), VanillaQHead(1, 3, (), "relu"))
    with torch.no_grad():  # Q = [10, 1, 2] everywhere: bootstrapping from a0 would pull to 10
        net.head.mlp[0].weight.zero_()
        net.head.mlp[0].bias.copy_(torch.tensor([10.0, 1.0, 2.0]))
    agent = nacre.Agent(DQN(net, nacre.DQNConfig(lr=1e-9)), safety=FORBID_FIRST)
    batch = TransitionBatch(torch.zeros(4, 1), torch.ones(4, dtype=torch.long), torch.zeros(4),
                            torch.zeros(4, 1), torch.zeros(4))
    seen: list[TransitionBatch] = []
    original = agent.learner.learn_batch
    agent.learner.learn_batch = lambda b: seen.append(b) or original(b)  # type: ignore[method-assign]
    agent.learn_batch(batch)
    assert seen[0].next_mask is not None and not bool(seen[0].next_mask[:, 0].any())
