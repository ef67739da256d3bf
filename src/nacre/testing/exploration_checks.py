"""Conformance checks for exploration modules (see :func:`check_exploration`).

The check raises :class:`AssertionError` with a message that names the property that failed; it
uses its own seeded generators and never changes the module it is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from nacre.types import ActionDistribution, Exploration


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
        if isinstance(explorer, ActionDistribution):
            for m in (None, mask):
                probs = explorer.distribution(scores.clone(), None if m is None else m.clone(),
                                              step)
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


__all__ = ["check_exploration"]
