"""Conformance checks any learner (or exploration module, :mod:`.exploration_checks`) can run
against itself.

Each check raises :class:`AssertionError` with a message that names the property that failed::

    from nacre.testing import check_exploration, check_learner
    check_learner(my_learner, obs_dim=4, n_actions=2)
    check_exploration(my_explorer, n_actions=5)

The checks use their own seeded generators, so they are deterministic; they work on copies
(``copy.deepcopy``) and never change the component they are given.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.kinds import LearnerKind
from nacre.testing.batches import random_batch
from nacre.types import Learner

# ------------------------------------------------------------------------------------ helpers


def _tensors(tree: Any, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
    """Every tensor in a nested state tree, with a dotted path."""
    if isinstance(tree, Tensor):
        yield prefix, tree
    elif isinstance(tree, Mapping):
        for key, value in tree.items():
            yield from _tensors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(tree, list | tuple):
        for i, value in enumerate(tree):
            yield from _tensors(value, f"{prefix}[{i}]")


def _snapshot(tree: Any) -> dict[str, Tensor]:
    return {name: t.detach().clone() for name, t in _tensors(tree)}


def _same(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a.cpu(), b.cpu()))


def _differing(before: Mapping[str, Tensor], after: Mapping[str, Tensor]) -> list[str]:
    names = set(before) | set(after)
    return sorted(n for n in names if n not in before or n not in after
                  or not _same(before[n], after[n]))


def _scores(learner: Learner, obs: Tensor, features: Tensor | None) -> Tensor:
    with torch.inference_mode():  # how the Agent calls it
        return learner.scores(obs, features).clone()


# ------------------------------------------------------------------------------------ learners


def check_learner(
    learner: Learner,
    obs_dim: int,
    n_actions: int,
    *,
    discrete_obs: bool = False,
    next_action: bool | None = None,
    action_features: Tensor | None = None,
    batch_size: int = 32,
    seed: int = 0,
    continuous: bool = False,
    deterministic: bool = False,
    squashed: bool = False,
    updates_per_policy_change: int = 1,
    posterior: bool = False,
) -> None:
    """Check the :class:`~nacre.types.Learner` contract on copies of ``learner``.

    Args:
        learner: the learner under test (left unchanged).
        obs_dim: the observation size (Box observations ``[B, obs_dim]``), or the number of
            states when ``discrete_obs`` (observations are indices ``[B]``).
        n_actions: ``K``, the number of actions scored.
        discrete_obs: observations are integer indices (tabular learners).
        next_action: give batches a ``next_action`` (default: ``learner.needs_next_action``).
        action_features: ``[K, d_a]`` features passed to ``scores`` (state-action learners).
        batch_size: size of the random batches learned from.
        seed: seed of every random draw the check makes.
        continuous: Box actions of dimension ``n_actions``; ``scores`` are then ``[B, 2, d]``
            (Gaussian mean and log standard deviation), or ``[B, d]`` actions in ``[-1, 1]``
            with ``deterministic``, or ``[B, 3, d]`` = (tanh μ, μ, log σ) with ``squashed``.
        updates_per_policy_change: learners with a delayed actor (TD3's ``policy_delay``) change
            their scores only every that many updates.
        posterior: the learner scores ``[B, K, 2]`` = ``[μ, σ]`` (bandit posteriors); ``σ``
            must be non-negative.

    On-policy learners (``kind`` ROLLOUT) get batches with the processed-rollout fields.

    Checked: ``scores`` is ``[B, K]``, floating and finite for ``B`` in {1, 5} (under
    ``torch.inference_mode``, as the Agent calls it); ``learn_batch`` returns a non-empty dict of
    detached, finite, 0-d tensors, changes the state dict and the scores of the batch's states, and
    is deterministic given ``torch.manual_seed``; ``state_dict`` → ``load_state_dict`` into a
    diverged copy (its optimizer and, through ``update_target``, its target network diverged
    too) reproduces the scores exactly, and both continue learning identically.
    """
    if next_action is None:
        next_action = learner.needs_next_action
    on_policy = learner.kind is LearnerKind.ROLLOUT
    g = torch.Generator().manual_seed(seed)

    def batch() -> TransitionBatch:
        return random_batch(obs_dim, n_actions, batch_size, discrete_obs=discrete_obs,
                            next_action=next_action, generator=g, continuous=continuous,
                            on_policy=on_policy)

    def states(b: int) -> Tensor:
        return random_batch(obs_dim, n_actions, b, discrete_obs=discrete_obs, generator=g).obs

    def score(who: Learner, obs: Tensor) -> Tensor:
        return _scores(who, obs, action_features)

    name = type(learner).__name__
    work = copy.deepcopy(learner)

    # -- scores
    for b in (1, 5):
        s = score(work, states(b))
        assert isinstance(s, Tensor), f"{name}.scores returned {type(s).__name__}, not a Tensor"
        expected = ((b, n_actions, 2) if posterior
                    else (b, n_actions) if not continuous or deterministic
                    else (b, 3 if squashed else 2, n_actions))
        assert tuple(s.shape) == expected, (
            f"{name}.scores: expected shape {list(expected)}, got {tuple(s.shape)}"
        )
        assert s.is_floating_point(), f"{name}.scores: expected floating scores, got {s.dtype}"
        assert bool(torch.isfinite(s).all()), f"{name}.scores: non-finite values {s.tolist()}"
        if posterior:
            assert bool((s[..., 1] >= 0).all()), f"{name}.scores: negative σ {s[..., 1].tolist()}"

    # -- learn_batch: metrics and effect
    first = batch()
    before = _snapshot(work.state_dict())
    scores_before = score(work, first.obs)
    torch.manual_seed(seed)
    metrics = work.learn_batch(first)
    assert isinstance(metrics, dict) and metrics, (
        f"{name}.learn_batch must return a non-empty dict of metrics, got {metrics!r}"
    )
    for key, value in metrics.items():
        assert isinstance(key, str), f"{name}.learn_batch: metric key {key!r} is not a str"
        assert isinstance(value, Tensor), (
            f"{name}.learn_batch: metric {key!r} is {type(value).__name__}, not a Tensor"
        )
        assert value.ndim == 0, (
            f"{name}.learn_batch: metric {key!r} must be a scalar (0-d), got {tuple(value.shape)}"
        )
        assert not value.requires_grad and value.grad_fn is None, (
            f"{name}.learn_batch: metric {key!r} is not detached (it keeps the autograd graph)"
        )
        assert bool(torch.isfinite(value)), f"{name}.learn_batch: metric {key!r} = {value}"
    after = _snapshot(work.state_dict())
    assert _differing(before, after), (
        f"{name}.learn_batch did not change any tensor of the state dict"
    )
    for _ in range(updates_per_policy_change - 1):
        work.learn_batch(first)
    scores_after = score(work, first.obs)
    assert not torch.equal(scores_before, scores_after), (
        f"{name}.learn_batch did not change the scores of the states it learned from"
    )

    # -- determinism given torch.manual_seed
    second = batch()
    twin_a, twin_b = copy.deepcopy(work), copy.deepcopy(work)
    torch.manual_seed(seed + 1)
    metrics_a = twin_a.learn_batch(second)
    torch.manual_seed(seed + 1)
    metrics_b = twin_b.learn_batch(second)
    differ = _differing(_snapshot(twin_a.state_dict()), _snapshot(twin_b.state_dict()))
    assert not differ, (
        f"{name}.learn_batch is not deterministic given torch.manual_seed: {differ} differ"
    )
    assert metrics_a.keys() == metrics_b.keys() and all(
        _same(metrics_a[k], metrics_b[k]) for k in metrics_a
    ), f"{name}.learn_batch metrics are not deterministic: {metrics_a} vs {metrics_b}"

    # -- state_dict round trip into a copy that has diverged
    saved = copy.deepcopy(work.state_dict())
    other = copy.deepcopy(work)
    torch.manual_seed(seed + 2)
    diverge = batch()
    for _ in range(updates_per_policy_change):
        other.learn_batch(diverge)
    other.update_target()  # target networks diverge too
    probe = states(5)
    assert not torch.equal(score(other, probe), score(work, probe)), (
        f"{name}: learning on another batch did not change the scores (cannot test loading)"
    )
    other.load_state_dict(saved)
    assert torch.equal(score(other, probe), score(work, probe)), (
        f"{name}: load_state_dict(state_dict()) does not reproduce the scores"
    )
    third, fourth = batch(), batch()
    for who in (work, other):
        who.update_target()
        torch.manual_seed(seed + 3)
        who.learn_batch(third)
        who.update_target()
        torch.manual_seed(seed + 4)
        who.learn_batch(fourth)
    differ = _differing(_snapshot(work.state_dict()), _snapshot(other.state_dict()))
    assert not differ, (
        f"{name}: after load_state_dict the next update differs from the original's: {differ} "
        "(is all optimizer / target state in state_dict?)"
    )
    assert torch.equal(score(other, probe), score(work, probe)), (
        f"{name}: after load_state_dict the next update changes the scores differently"
    )


__all__ = ["check_learner"]
