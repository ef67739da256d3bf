"""The learned action filter (``safety: cost_filter``): what it allows, how its cost critic
learns from replay batches, how ``nacre.build`` wires it and what it refuses, and its state in
the agent's checkpoint."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

import nacre
from nacre.data import TransitionBatch
from nacre.errors import ConfigError
from nacre.networks import FlattenEncoder
from nacre.safety import CostFilter

CLIFF = {
    "env": {"id": "nacre/CliffWalking-Cost-v1", "kwargs": {"max_episode_steps": 100}},
    "learner": {"name": "dqn", "lr": 0.001, "gamma": 0.99},
    "network": {"name": "mlp", "hidden": [32]},
    "exploration": {"name": "epsilon_greedy", "start": 1.0, "end": 0.05,
                    "decay_fraction": 0.3},
    "safety": {"name": "cost_filter", "threshold": 0.5},
    "buffer": {"name": "replay", "capacity": 10000},
    "train": {"learning_starts": 100, "train_freq": 4, "batch_size": 32,
              "target_update_interval": 250, "eval_every": 0, "eval_episodes": 1},
}


def _filter(threshold: float = 0.5) -> CostFilter:
    return CostFilter(FlattenEncoder((1,)), 3, threshold, hidden=(16,), lr=0.01)


def _fixed_costs(f: CostFilter, costs: torch.Tensor) -> None:
    """Make Q_c(s, ·) = ``costs`` whatever s (last layer: zero weights, bias = costs)."""
    last = f.net[1].linears()[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(costs)


def test_it_allows_the_actions_under_the_threshold_and_the_safest_where_none_is() -> None:
    f = _filter()
    _fixed_costs(f, torch.tensor([0.9, 0.2, 0.4]))
    state = torch.zeros(2, 1)
    assert f.allowed(state).tolist() == [[False, True, True]] * 2
    _fixed_costs(f, torch.tensor([0.9, 0.7, 0.8]))  # none under 0.5: the least costly
    assert f.allowed(state).tolist() == [[False, True, False]] * 2
    # the env's mask binds: where it and the filter share nothing, the env's mask is kept
    mask = torch.tensor([[True, False, True], [True, True, True]])
    assert f.filter(state, torch.zeros(2, 3), mask).tolist() == [[True, False, True],
                                                                [False, True, False]]


def test_its_cost_critic_learns_each_actions_cost() -> None:
    f = _filter()
    g = torch.Generator().manual_seed(0)
    action = torch.randint(3, (64,), generator=g)
    obs = torch.zeros(64, 1)
    cost = (action == 0).float()  # action 0 is the catastrophe
    batch = TransitionBatch(obs, action, torch.zeros(64), obs, torch.zeros(64), cost=cost)
    for _ in range(200):
        f.learn_batch(batch)
    assert f.costs(obs[:1]).detach().squeeze(0).tolist() == pytest.approx([1, 0, 0], abs=0.05)
    assert f.allowed(obs[:1]).tolist() == [[False, True, True]]
    with pytest.raises(ConfigError, match="reports none"):
        f.learn_batch(TransitionBatch(obs, action, torch.zeros(64), obs, torch.zeros(64)))
    with pytest.raises(ConfigError, match="n_step: 1"):
        f.learn_batch(TransitionBatch(obs, action, torch.zeros(64), obs, torch.zeros(64),
                                      cost=cost, discount=torch.full((64,), 0.9)))


@pytest.mark.parametrize(("override", "message"), [
    ({"learner": {"name": "ppo"}, "network": {"name": "actor_critic"},
      "exploration": {"name": "policy"}, "buffer": {"name": "rollout"},
      "train": {"learning_starts": 0, "train_freq": 128, "gradient_steps": 1,
                "batch_size": 32, "eval_every": 0, "eval_episodes": 1}},
     "restricts the actions of value learners"),
    ({"env": {"id": "nacre/Pendulum-Cost-v1"}}, "needs a discrete action space"),
    ({"safety": {"name": "cost_filter", "threshold": -1}}, "threshold must be >= 0"),
    ({"safety": {"name": "cost_filter", "gamma": 1.0}}, r"gamma must be in \[0, 1\)"),
])
def test_misconfigurations_are_config_errors(override: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        nacre.build(nacre.RunConfig.from_dict({**CLIFF, **override}))


def test_the_agent_logs_and_checkpoints_the_learned_filter(tmp_path: Path) -> None:
    result = nacre.train(nacre.RunConfig.from_dict(CLIFF), steps=600, out=tmp_path / "run",
                         progress=False, overrides=["train.log_every=200"])
    logged = [json.loads(line)
              for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any(math.isfinite(row.get("cost_filter_loss", math.nan)) for row in logged)
    f = result.agent.safety
    assert isinstance(f, CostFilter)
    loaded = nacre.load(tmp_path / "run").safety
    assert isinstance(loaded, CostFilter) and loaded is not f
    for a, b in zip(f.net.parameters(), loaded.net.parameters(), strict=True):
        assert torch.equal(a, b)
    cells = torch.arange(48)
    assert torch.equal(f.allowed(cells), loaded.allowed(cells))


def test_a_learned_filter_needs_replay_batches() -> None:
    config = nacre.load_preset("synthetic-lints").with_overrides(
        ["safety={name: cost_filter}"])
    with pytest.raises(ConfigError, match="learns from replay batches"):
        nacre.build(config)
