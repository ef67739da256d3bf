"""Prioritized replay: the sum-tree against brute force, sampling ∝ p^α, importance weights,
β annealing, priorities from TD errors and exact resume through a safetensors checkpoint."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import safetensors.torch
import torch

from nacre.data import PrioritizedReplayBuffer, ReplayBuffer, StepBatch, SumTree
from nacre.errors import InputError
from nacre.train.checkpoint import flatten_tree, unflatten_tree
from nacre.types import PriorityBuffer


def _check_tree(tree: SumTree, priority: np.ndarray) -> None:
    """Every node against brute force: totals, minima and the inner sums."""
    assert tree.total == pytest.approx(priority.sum(), rel=1e-12)
    positive = priority[priority > 0]
    assert tree.min == (positive.min() if positive.size else np.inf)
    n = tree.leaves
    assert np.allclose(tree.sums[1:n], tree.sums[2:2 * n:2] + tree.sums[3:2 * n:2])
    np.testing.assert_array_equal(tree.priorities(np.arange(tree.capacity)), priority)


@pytest.mark.parametrize("capacity", [1, 2, 5, 64, 1000])
def test_sum_tree_totals_after_batched_updates_match_brute_force(capacity: int) -> None:
    rng = np.random.default_rng(capacity)
    tree, priority = SumTree(capacity), np.zeros(capacity)
    for _ in range(30):
        index = rng.integers(0, capacity, size=rng.integers(1, 80))  # repeats included
        index = np.unique(index)  # a repeated slot's value is unspecified: brute force needs one
        value = rng.random(index.size) * (rng.random(index.size) > 0.2)  # some zeros
        tree.update(index, value)
        priority[index] = value
        _check_tree(tree, priority)
    rebuilt = SumTree(capacity)
    rebuilt.assign(priority)
    np.testing.assert_allclose(rebuilt.sums, tree.sums)
    np.testing.assert_array_equal(rebuilt.mins, tree.mins)


def test_repeated_slots_in_one_update_take_one_of_their_values() -> None:
    tree = SumTree(8)
    tree.update(np.array([3, 3, 5]), np.array([2.0, 2.0, 1.0]))
    assert tree.total == 3.0
    _check_tree(tree, np.array([0, 0, 0, 2.0, 0, 1.0, 0, 0]))


def test_sum_tree_descent_is_the_prefix_sum_search() -> None:
    rng = np.random.default_rng(0)
    priority = rng.random(100) * (rng.random(100) > 0.3)
    tree = SumTree(100)
    tree.assign(priority)
    mass = rng.random(5000) * priority.sum()
    expected = np.searchsorted(np.cumsum(priority), mass, side="right")
    np.testing.assert_array_equal(tree.sample(mass), expected)


def test_zero_priorities_are_never_sampled_even_at_the_edges() -> None:
    tree = SumTree(6)
    tree.update(np.array([1, 4]), np.array([1.0, 2.0]))
    total = tree.total
    edges = np.array([0.0, 1.0, np.nextafter(1.0, 0), np.nextafter(total, 0), total, 2 * total])
    assert set(tree.sample(edges).tolist()) <= {1, 4}
    with pytest.raises(InputError, match="every priority is 0"):
        SumTree(3).sample(np.array([0.0]))


def test_stratified_sampling_frequencies_are_proportional_to_priority() -> None:
    priority = np.array([1.0, 0.0, 2.0, 3.0, 4.0, 0.5, 0.0, 9.5])
    tree = SumTree(8)
    tree.assign(priority)
    rng = np.random.default_rng(1)
    counts = np.bincount(np.concatenate([tree.stratified(rng.random(64)) for _ in range(2000)]),
                         minlength=8)
    freq = counts / counts.sum()
    np.testing.assert_allclose(freq, priority / priority.sum(), atol=0.005)


def test_sum_tree_refuses_bad_input() -> None:
    tree = SumTree(4)
    with pytest.raises(InputError, match="index"):
        tree.update(np.array([4]), np.array([1.0]))
    with pytest.raises(InputError, match="priority"):
        tree.update(np.array([0]), np.array([-1.0]))
    with pytest.raises(InputError, match="priority"):
        tree.update(np.array([0]), np.array([np.nan]))


# ------------------------------------------------------------------------------ the buffer
def _fill(buf: ReplayBuffer, steps: int, num_envs: int = 1, start: int = 0,
          valid: list[bool] | None = None) -> None:
    for t in range(start, start + steps):
        ids = np.array([10.0 * t + b for b in range(num_envs)], dtype=np.float32)
        buf.add(StepBatch(ids[:, None], np.zeros(num_envs, np.int64), ids, ids[:, None] + 1000,
                          np.zeros(num_envs, bool), np.zeros(num_envs, bool),
                          valid=None if valid is None else np.array(valid)))


def test_it_is_a_priority_buffer_and_new_transitions_get_the_largest_priority() -> None:
    buf = PrioritizedReplayBuffer(8, alpha=1.0, seed=0)
    assert isinstance(buf, PriorityBuffer)
    assert not isinstance(ReplayBuffer(8), PriorityBuffer)
    _fill(buf, 4)
    batch = buf.sample(4)
    assert batch.index is not None and batch.weight is not None
    np.testing.assert_array_equal(batch.weight.numpy(), 1.0)  # all equal: weights 1
    buf.update_priorities(torch.arange(4), torch.tensor([0.5, -3.0, 1.0, 0.0]))
    assert buf.max_priority == pytest.approx(3.0 + 1e-6)
    _fill(buf, 1, start=4)
    assert buf.sample(1) is not None  # flushes the new row's priority
    assert buf.tree.priorities(np.array([4]))[0] == pytest.approx(3.0 + 1e-6)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
def test_samples_follow_priorities_to_the_alpha(alpha: float) -> None:
    buf = PrioritizedReplayBuffer(16, alpha=alpha, epsilon=0.01, seed=0)
    _fill(buf, 8, num_envs=2)
    td = torch.tensor([0.0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7], dtype=torch.float32)
    buf.update_priorities(torch.arange(16), td)
    counts = torch.zeros(16)
    for _ in range(500):
        batch = buf.sample(64)
        assert batch.index is not None
        counts += torch.bincount(batch.index, minlength=16)
        # each row's data is the slot's: slot t · B + b holds obs 10 t + b
        slot = batch.index
        np.testing.assert_array_equal(batch.obs[:, 0].numpy(),
                                      (10 * (slot // 2) + slot % 2).numpy())
    p = (td.double().abs() + 0.01) ** alpha
    np.testing.assert_allclose(counts / counts.sum(), p / p.sum(), atol=0.006)


def test_importance_weights_are_the_papers_normalized_formula() -> None:
    buf = PrioritizedReplayBuffer(10, alpha=0.7, beta0=0.5, epsilon=1e-3, seed=3)
    _fill(buf, 10)
    td = torch.linspace(-2.0, 3.0, 10)
    buf.update_priorities(torch.arange(10), td)
    p = (td.double().abs() + 1e-3) ** 0.7
    prob, n = p / p.sum(), 10
    w_all = (n * prob) ** -0.5
    for progress, beta in [(0.0, 0.5), (0.5, 0.75), (1.0, 1.0)]:
        buf.anneal(progress)
        assert buf.beta == pytest.approx(beta)
        batch = buf.sample(32)
        assert batch.index is not None and batch.weight is not None
        expected = ((n * prob[batch.index]) ** -beta) / ((n * prob) ** -beta).max()
        np.testing.assert_allclose(batch.weight.numpy(), expected.numpy(), rtol=1e-6)
        assert float(batch.weight.max()) <= 1.0
    assert w_all.argmax() == int(torch.argmin(td.abs()))
    with pytest.raises(InputError, match="progress"):
        buf.anneal(1.5)


def test_reset_steps_are_never_sampled_and_nonfinite_errors_get_the_max() -> None:
    buf = PrioritizedReplayBuffer(8, seed=0)
    _fill(buf, 4, num_envs=2, valid=[True, False])
    for _ in range(20):
        batch = buf.sample(16)
        assert batch.index is not None
        assert bool((batch.index % 2 == 0).all())
    buf.update_priorities(torch.tensor([0, 2]), torch.tensor([float("nan"), 5.0]))
    p = buf.tree.priorities(np.array([0, 2]))
    assert p[0] == p[1] == pytest.approx((5.0 + 1e-6) ** 0.6)


def test_bad_arguments_are_refused() -> None:
    for kwargs in ({"alpha": -1.0}, {"beta0": 1.5}, {"epsilon": 0.0}):
        with pytest.raises(InputError):
            PrioritizedReplayBuffer(8, **kwargs)  # type: ignore[arg-type]
    buf = PrioritizedReplayBuffer(8)
    with pytest.raises(InputError, match="cannot sample"):
        buf.sample(4)
    _fill(buf, 2)
    with pytest.raises(InputError, match="td_error"):
        buf.update_priorities(torch.arange(2), torch.zeros(3))


def _through_safetensors(state: dict) -> dict:
    skeleton, tensors = flatten_tree(state)
    loaded = safetensors.torch.load(safetensors.torch.save(tensors))
    return dict(unflatten_tree(json.loads(json.dumps(skeleton)), loaded))


@pytest.mark.parametrize("n_step", [1, 3])
def test_resume_from_a_checkpoint_is_exact(n_step: int) -> None:
    def run(buf: PrioritizedReplayBuffer, steps: int, start: int) -> list[torch.Tensor]:
        out = []
        for k in range(steps):
            _fill(buf, 3, num_envs=2, start=start + 3 * k)
            batch = buf.sample(8)
            assert batch.index is not None and batch.weight is not None
            buf.update_priorities(batch.index, batch.reward * 0.01 - 0.5)
            buf.anneal(k / steps)
            out += [batch.index, batch.weight, batch.reward]
        return out

    a = PrioritizedReplayBuffer(12, n_step=n_step, gamma=0.9, seed=5)
    run(a, 4, 0)
    _fill(a, 2, num_envs=2, start=100)  # pending rows not yet in the tree
    b = PrioritizedReplayBuffer(12, n_step=n_step, gamma=0.9, seed=99)
    b.load_state_dict(_through_safetensors(a.state_dict()))
    assert b.beta == a.beta and b.max_priority == a.max_priority
    for x, y in zip(run(a, 5, 200), run(b, 5, 200), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    np.testing.assert_array_equal(a.tree.sums, b.tree.sums)


def test_an_empty_buffer_round_trips() -> None:
    a = PrioritizedReplayBuffer(8, seed=0)
    b = PrioritizedReplayBuffer(8, seed=1)
    b.load_state_dict(_through_safetensors(a.state_dict()))
    _fill(b, 2)
    assert len(replace(b.sample(2), weight=None)) == 2


# ------------------------------------------------------------------------------ wiring
YAML = """
env: {id: CartPole-v1}
learner: {name: dqn, lr: 0.001}
network: {name: mlp, hidden: [16]}
buffer: {name: prioritized, capacity: 1000, alpha: 0.5, beta0: 0.2}
train: {steps: 400, learning_starts: 100, batch_size: 16, eval_every: 0}
"""


def test_prioritized_replay_is_configured_from_yaml_and_trains() -> None:
    import nacre
    from nacre.config import yaml_io

    cfg = nacre.RunConfig.from_dict(yaml_io.loads(YAML))
    assert nacre.RunConfig.from_dict(yaml_io.loads(cfg.to_yaml())) == cfg
    run = nacre.build(cfg)
    buf = run.agent.buffer
    assert isinstance(buf, PrioritizedReplayBuffer)
    assert (buf.alpha, buf.beta0, buf.epsilon, buf.capacity) == (0.5, 0.2, 1e-6, 1000)
    nacre.fit(run.agent, run.env, cfg.train, progress=False)
    run.env.close()
    assert 0.2 < buf.beta <= 1.0
    stored = buf.tree.priorities(np.arange(len(buf)))
    assert len(np.unique(stored)) > 10  # TD errors replaced the initial priorities


@pytest.mark.parametrize(("edit", "message"), [
    ("alpha: -1", "buffer.alpha"), ("beta0: 2", "buffer.beta0"), ("epsilon: 0", "buffer.epsilon"),
])
def test_bad_configs_name_the_field(edit: str, message: str) -> None:
    import nacre
    from nacre.config import yaml_io
    from nacre.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        nacre.RunConfig.from_dict(yaml_io.loads(YAML.replace("alpha: 0.5, beta0: 0.2", edit)))


def test_a_learner_without_td_errors_is_refused() -> None:
    import nacre
    from nacre.config import yaml_io
    from nacre.errors import ConfigError

    text = nacre.load_preset("pendulum-sac").to_yaml()
    cfg = yaml_io.loads(text)
    cfg["buffer"] = {"name": "prioritized"}
    with pytest.raises(ConfigError, match="does not report"):
        nacre.build(nacre.RunConfig.from_dict(cfg))
