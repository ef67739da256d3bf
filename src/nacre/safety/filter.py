"""Action filters: safety modules that remove actions from the available set, state by state.

A filter says which actions are allowed in each state (:meth:`FunctionFilter.allowed`,
``[B, K]`` bool). The agent applies it on every decision, before exploration, so no explorer,
greedy or not, can take a forbidden action, and the propensity logged is that of the filtered
distribution (what the explorer computes on the masked scores). Learning applies it too: the
TD target's ``max_a'`` runs over the actions allowed at ``s'`` (the batch's ``next_mask``), so
values are learned for the policy that can actually be followed, not for one that would take a
forbidden action.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial

import torch
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.errors import InputError
from nacre.learners.engine import Restrict
from nacre.types import ActionFilter, LearnedFilter, Safety


class FunctionFilter:
    """The actions ``allowed(state)`` allows: a function of a batch of states ``[B, ...]`` (the
    states the learner sees) to a ``[B, K]`` bool mask.

    Example:
        >>> import torch
        >>> never_first = FunctionFilter(lambda s: torch.tensor([[False, True, True]]).expand(
        ...     s.shape[0], -1))
        >>> never_first.filter(torch.zeros(2, 4), torch.zeros(2, 3), None)
        tensor([[False,  True,  True],
                [False,  True,  True]])
    """

    def __init__(self, allowed: Callable[[Tensor], Tensor]) -> None:
        self._allowed = allowed

    def allowed(self, state: Tensor) -> Tensor:
        """The allowed actions ``[B, K]`` (bool) in each state."""
        mask = self._allowed(state)
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.ndim != 2 \
                or mask.shape[0] != state.shape[0]:
            got = (f"{mask.dtype} of shape {list(mask.shape)}" if isinstance(mask, Tensor)
                   else type(mask).__name__)
            raise InputError("safety.allowed", f"must return a bool tensor [B, K] for "
                             f"{state.shape[0]} states, got {got}")
        return mask

    def filter(self, state: Tensor, scores: Tensor, mask: Tensor | None) -> Tensor:
        allowed = self.allowed(state).to(scores.device)
        if allowed.shape[1] != scores.shape[1]:
            raise InputError("safety.allowed", f"returned masks of {allowed.shape[1]} actions "
                             f"for {scores.shape[1]} actions")
        out = allowed if mask is None else allowed & mask
        empty = ~out.any(dim=1)
        if bool(empty.any()):
            row = int(empty.nonzero()[0, 0])
            raise InputError("safety", f"the action filter allows no available action in "
                             f"state {row} of the batch: make it allow at least one")
        return out


def restrict_next(action_filter: ActionFilter, batch: TransitionBatch) -> TransitionBatch:
    """``batch`` whose TD targets may only bootstrap from actions the filter allows at
    ``next_obs`` (combined with any ``next_mask`` it had)."""
    allowed = action_filter.allowed(batch.next_obs).to(batch.next_obs.device)
    mask = allowed if batch.next_mask is None else batch.next_mask & allowed
    return replace(batch, next_mask=mask)


def learn_then_restrict(action_filter: LearnedFilter, batch: TransitionBatch
                        ) -> TransitionBatch:
    """A learned filter first steps on the batch the learner is about to learn from, then
    restricts the batch's targets as :func:`restrict_next` does."""
    action_filter.learn_batch(batch)
    return restrict_next(action_filter, batch)


def restrict_for(safety: Safety) -> Restrict | None:
    """What the agent applies to each batch before the learner sees it: nothing without an
    action filter."""
    if isinstance(safety, LearnedFilter):
        return partial(learn_then_restrict, safety)
    return partial(restrict_next, safety) if isinstance(safety, ActionFilter) else None


__all__ = ["FunctionFilter", "learn_then_restrict", "restrict_for", "restrict_next"]
