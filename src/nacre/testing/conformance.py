"""Conformance checks any learner or exploration module can run against itself.

Each check raises :class:`AssertionError` with a message that names the property that failed::

    from nacre.testing import check_exploration, check_learner
    check_learner(my_learner, obs_dim=4, n_actions=2)
    check_exploration(my_explorer, n_actions=5)

The checks use their own seeded generators, so they are deterministic; they work on copies
(``copy.deepcopy``) and never change the component they are given.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.types import Exploration, Learner

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


def random_batch(
    obs_dim: int,
    n_actions: int,
    batch_size: int,
    *,
    discrete_obs: bool = False,
    next_action: bool = False,
    generator: torch.Generator | None = None,
    continuous: bool = False,
    on_policy: bool = False,
) -> TransitionBatch:
    """A batch of random transitions: Box observations ``[N, obs_dim]`` float32 (or Discrete
    indices ``[N]`` in ``0..obs_dim-1``), int64 actions (``continuous``: float actions
    ``[N, n_actions]`` in ``[-1, 1]``), N(0, 1) rewards, ~25 % terminated; ``on_policy`` adds
    the processed-rollout fields (advantage, returns, log_prob, value), random."""
    g = generator

    def obs() -> Tensor:
        if discrete_obs:
            return torch.randint(obs_dim, (batch_size,), generator=g)
        return torch.randn(batch_size, obs_dim, generator=g)

    def randn() -> Tensor:
        return torch.randn(batch_size, generator=g)

    action = (torch.rand(batch_size, n_actions, generator=g) * 2.0 - 1.0 if continuous
              else torch.randint(n_actions, (batch_size,), generator=g))
    return TransitionBatch(
        obs=obs(),
        action=action,
        reward=randn(),
        next_obs=obs(),
        terminated=(torch.rand(batch_size, generator=g) < 0.25).float(),
        next_action=torch.randint(n_actions, (batch_size,), generator=g) if next_action else None,
        advantage=randn() if on_policy else None,
        returns=randn() if on_policy else None,
        log_prob=randn() - 1.0 if on_policy else None,
        value=randn() if on_policy else None,
    )


def _scores(learner: Learner, obs: Tensor, features: Tensor | None) -> Tensor:
    with torch.inference_mode():  # how the Agent calls it
        return learner.scores(obs, features).clone()


# ------------------------------------------------------------------------------------ learners


def _update_target(learner: Learner) -> None:
    """Call the optional ``update_target`` hook (target-network learners) when there is one."""
    update = getattr(learner, "update_target", None)
    if callable(update):
        update()


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

    On-policy learners (``on_policy = True``) get batches with the processed-rollout fields.

    Checked: ``scores`` is ``[B, K]``, floating and finite for ``B`` in {1, 5} (under
    ``torch.inference_mode``, as the Agent calls it); ``learn_batch`` returns a non-empty dict of
    detached, finite, 0-d tensors, changes the state dict and the scores of the batch's states, and
    is deterministic given ``torch.manual_seed``; ``state_dict`` → ``load_state_dict`` into a
    diverged copy (its optimizer and, through the optional ``update_target`` hook, its target
    network diverged too) reproduces the scores exactly, and both continue learning identically.
    """
    if next_action is None:
        next_action = bool(getattr(learner, "needs_next_action", False))
    on_policy = bool(getattr(learner, "on_policy", False))
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
    _update_target(other)  # target networks diverge too
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
        _update_target(who)
        torch.manual_seed(seed + 3)
        who.learn_batch(third)
        _update_target(who)
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


# ------------------------------------------------------------------------------------ exploration


def _select(
    explorer: Exploration, scores: Tensor, mask: Tensor | None, step: int, seed: int
) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return explorer.select(scores.clone(), None if mask is None else mask.clone(), step, gen)


def _check_output(
    name: str, scores: Tensor, mask: Tensor | None, action: Any, propensity: Any, where: str
) -> None:
    b, k = scores.shape[:2]
    assert isinstance(action, Tensor) and isinstance(propensity, Tensor), (
        f"{name}.select{where} must return (Tensor, Tensor), got "
        f"({type(action).__name__}, {type(propensity).__name__})"
    )
    assert action.dtype == torch.int64, (
        f"{name}.select{where}: actions are {action.dtype}, not int64"
    )
    assert tuple(action.shape) == (b,), (
        f"{name}.select{where}: actions must have shape [B={b}], got {tuple(action.shape)}"
    )
    assert tuple(propensity.shape) == (b,), (
        f"{name}.select{where}: propensities must have shape [B={b}], got "
        f"{tuple(propensity.shape)}"
    )
    assert propensity.dtype == torch.float32, (
        f"{name}.select{where}: propensities are {propensity.dtype}, not float32"
    )
    bad = (action < 0) | (action >= k)
    assert not bool(bad.any()), (
        f"{name}.select{where}: actions out of range [0, {k}): {action[bad].tolist()}"
    )
    bad_p = ~((propensity > 0) & (propensity <= 1 + 1e-6))
    assert not bool(bad_p.any()), (
        f"{name}.select{where}: propensities outside (0, 1]: {propensity[bad_p].tolist()}"
    )
    if mask is not None:
        taken = mask.gather(1, action[:, None]).squeeze(1)
        assert bool(taken.all()), (
            f"{name}.select{where} picked masked actions in rows "
            f"{torch.nonzero(~taken).flatten().tolist()}"
        )


def _check_frequencies(
    name: str, action: Tensor, propensity: Tensor, where: str, z: float = 5.0
) -> None:
    """All rows had the same scores and mask: the actions are ``n`` draws of one distribution."""
    n = action.shape[0]
    reported: dict[int, float] = {}
    for a in torch.unique(action).tolist():
        ps = propensity[action == a]
        assert bool(torch.allclose(ps, ps[0].expand_as(ps), atol=1e-6)), (
            f"{name}.select{where}: identical rows report different propensities for action {a}: "
            f"{sorted(set(ps.tolist()))}"
        )
        reported[a] = float(ps[0])
    total = sum(reported.values())
    assert total <= 1.0 + 1e-5, (
        f"{name}.select{where}: propensities of the distinct chosen actions sum to {total} > 1 "
        f"({reported})"
    )
    counts = torch.bincount(action).tolist()
    for a, p in reported.items():
        expected = n * p
        tol = z * math.sqrt(max(n * p * (1 - p), 1e-12)) + 1.0
        assert abs(counts[a] - expected) <= tol, (
            f"{name}.select{where}: action {a} chosen {counts[a]} times out of {n} but its "
            f"reported propensity {p:.4f} predicts {expected:.1f} ± {tol:.1f}"
        )
    # The actions never drawn must have a small total probability: P(none in n) = total^n.
    missing = 1.0 - total
    assert n * missing <= z * z + 1.0, (
        f"{name}.select{where}: the chosen actions' propensities sum to {total:.4f}, so the "
        f"others should have been drawn ≈{n * missing:.0f} times out of {n}, but never were"
    )


def check_exploration(
    explorer: Exploration,
    n_actions: int,
    *,
    steps: Sequence[int] = (0, 1_000_000),
    deterministic: bool | None = None,
    draws: int = 4000,
    seed: int = 0,
    posterior: bool = False,
) -> None:
    """Check the :class:`~nacre.types.Exploration` contract at each step in ``steps``.

    Args:
        explorer: the exploration module under test.
        n_actions: ``K`` (at least 2).
        steps: the ``step`` values to call ``select`` with (schedules and warm-ups change
            behaviour with the step).
        deterministic: whether the explorer's choice is a function of the scores alone (then every
            propensity must be exactly 1). None: inferred, per step, from whether repeated draws
            under different generator seeds ever differ.
        draws: rows of identical scores used for the frequency test.
        seed: base seed of the generators.
        posterior: the explorer reads posterior scores ``[B, K, 2]`` = ``[μ, σ]`` (UCB,
            Thompson sampling); the check then gives it those, with ``σ`` in [0.1, 0.6].

    Checked: actions are int64 ``[B]`` in ``0..K-1``, propensities float32 ``[B]`` in (0, 1];
    masked actions are never taken and a single available action has propensity 1; scores and
    masks are not modified; a seeded ``torch.Generator`` makes choices reproducible and
    independent of the global RNG; over ``draws`` rows with identical scores, each action's
    empirical frequency matches its reported propensity (binomial tolerance of 5 σ), with and
    without a mask and with tied scores; deterministic explorers report propensity 1.
    """
    if n_actions < 2:
        raise ValueError(f"check_exploration needs n_actions >= 2, got {n_actions}")
    name = type(explorer).__name__
    k = n_actions
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(64, k, generator=g)
    mask = torch.rand(64, k, generator=g) < 0.5
    mask[torch.arange(64), torch.randint(k, (64,), generator=g)] = True  # >= 1 available per row
    only = torch.zeros(8, k, dtype=torch.bool)
    only[torch.arange(8), torch.arange(8) % k] = True  # exactly one available action
    tied = torch.zeros(1, k)
    tied[0, : max(2, k // 2)] = 1.0  # several best actions
    single = scores[:1]
    half = torch.zeros(1, k, dtype=torch.bool)
    half[0, 1::2] = True  # the odd actions available; the best of the raw scores may be masked
    half_scores = torch.arange(k, dtype=torch.float32).flip(0)[None]
    if posterior:  # σ per action; tied actions get equal spreads so they stay tied
        scores = torch.stack([scores, 0.1 + 0.5 * torch.rand(64, k, generator=g)], -1)
        tied = torch.stack([tied, torch.full_like(tied, 0.3)], -1)
        single = scores[:1]
        half_scores = torch.stack([half_scores, torch.full_like(half_scores, 0.2)], -1)

    for step in steps:
        where = f"(step={step})"
        # -- shapes, ranges, masks
        for m in (None, mask):
            scores_in, mask_in = scores.clone(), None if m is None else m.clone()
            action, p = explorer.select(scores_in, mask_in, step, torch.Generator().manual_seed(1))
            _check_output(name, scores, m, action, p, where)
            assert torch.equal(scores_in, scores), f"{name}.select{where} modified the scores"
            assert m is None or (mask_in is not None and torch.equal(mask_in, m)), (
                f"{name}.select{where} modified the mask"
            )
        action, p = _select(explorer, scores[:8], only, step, seed)
        _check_output(name, scores[:8], only, action, p, where + " with one available action")
        assert torch.allclose(p, torch.ones_like(p), atol=1e-6), (
            f"{name}.select{where}: the only available action must have propensity 1, got "
            f"{p.tolist()}"
        )

        # -- reproducibility with a seeded generator, independent of the global RNG
        torch.manual_seed(seed + 11)
        a1, p1 = _select(explorer, scores, mask, step, seed + 5)
        torch.manual_seed(seed + 12)
        a2, p2 = _select(explorer, scores, mask, step, seed + 5)
        assert torch.equal(a1, a2) and torch.equal(p1, p2), (
            f"{name}.select{where} is not reproducible with a seeded torch.Generator (or it "
            "draws from the global RNG)"
        )

        # -- the full action distribution, where the explorer defines one
        distribution = getattr(explorer, "distribution", None)
        if distribution is not None:
            for m in (None, mask):
                probs = distribution(scores.clone(), None if m is None else m.clone(), step)
                assert tuple(probs.shape) == (scores.shape[0], k), (
                    f"{name}.distribution{where}: expected shape [B, K], got "
                    f"{tuple(probs.shape)}")
                assert torch.allclose(probs.sum(1), torch.ones(scores.shape[0]), atol=1e-5), (
                    f"{name}.distribution{where}: rows sum to {probs.sum(1).tolist()}, not 1")
                assert bool((probs >= 0).all()), f"{name}.distribution{where}: negative entries"
                if m is not None:
                    assert bool((probs[~m] == 0).all()), (
                        f"{name}.distribution{where} gives probability to masked actions")
                action, p = _select(explorer, scores, m, step, seed + 3)
                chosen = probs.gather(1, action[:, None]).squeeze(1)
                assert torch.allclose(chosen, p, atol=1e-5), (
                    f"{name}.select{where}: propensities {p[:4].tolist()}… differ from the "
                    f"distribution's {chosen[:4].tolist()}…")

        # -- empirical frequencies vs reported propensities
        draws_seen: list[tuple[str, Tensor]] = []
        varies = False
        for row, m in ((single, None), (tied, None), (single, mask[:1]), (half_scores, half)):
            big = row.expand(draws, *row.shape[1:]).contiguous()
            big_mask = None if m is None else m.expand(draws, k).contiguous()
            label = f"{where} on {draws} identical rows{'' if m is None else ' with a mask'}"
            action, p = _select(explorer, big, big_mask, step, seed + 7)
            _check_output(name, big, big_mask, action, p, label)
            _check_frequencies(name, action, p, label)
            other, _ = _select(explorer, big, big_mask, step, seed + 8)
            varies = varies or bool((action != action[0]).any()) or not torch.equal(action, other)
            draws_seen.append((label, p))
        if deterministic:
            assert not varies, f"{name}.select{where}: declared deterministic but its choice varies"
        if deterministic or (deterministic is None and not varies):
            for label, p in draws_seen:
                assert bool((p == 1.0).all()), (
                    f"{name}.select{label}: the choice is deterministic, so its propensity must "
                    f"be 1, got {sorted(set(p.tolist()))}"
                )

__all__ = ["check_exploration", "check_learner", "random_batch"]
