"""How the agent drives a learner with its own readable update.

:class:`LearnerEngine` is the :class:`~nacre.types.Engine` of ``train.accelerate: off`` and of
every learner no kernel of :mod:`nacre.accel` covers: acting calls the learner's ``scores``, a
training round of ``k`` updates calls its ``learn_batch`` on ``k`` consecutive batches, and an
on-policy round calls its ``learn_rollout``. Accelerated engines subclass it and replace what
they compute faster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.data.rollout import Rollout
from nacre.data.validate import stored_batches
from nacre.errors import InputError
from nacre.kinds import BufferKind, LearnerKind
from nacre.threads import learning_threads
from nacre.types import (
    Buffer,
    Engine,
    Learner,
    Metrics,
    PriorityBuffer,
    RolloutLearner,
    RolloutStore,
    TDLearner,
)

_ROWS_PER_DRAW = 8192
Restrict = Callable[[TransitionBatch], TransitionBatch]  # e.g. an action filter's next_mask
Prepare = Callable[[Rollout], Rollout]  # e.g. candidate sets represented as when acting


class LearnerEngine:
    """The readable path: the learner's own methods, one batch at a time."""

    def __init__(self, learner: Learner) -> None:
        self.learner = learner

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        return self.learner.scores(state, action_features)

    def learn_batches(self, batch: TransitionBatch, batch_size: int) -> Metrics:
        """``len(batch) / batch_size`` consecutive updates (metrics: the last one's)."""
        metrics: Metrics = {}
        for part in batch.split(batch_size):
            metrics = self.learner.learn_batch(part)
        return metrics

    def learn_rollout(self, rollout: Rollout, batch_size: int, progress: float) -> Metrics:
        if self.learner.kind is not LearnerKind.ROLLOUT:
            raise InputError("buffer", f"{type(self.learner).__name__} does not learn from "
                             "on-policy rollouts; use a replay buffer")
        return cast(RolloutLearner, self.learner).learn_rollout(rollout, batch_size, progress)


# isinstance against a runtime Protocol inspects every member (~17 µs): a training round with
# train_freq 1 would pay it every env step, so it is asked once per buffer class
_PRIORITY: dict[type, bool] = {}


def _prioritized(buffer: Buffer) -> bool:
    cls = type(buffer)
    if cls not in _PRIORITY:
        _PRIORITY[cls] = isinstance(buffer, PriorityBuffer)
    return _PRIORITY[cls]


def learn_round(engine: Engine, buffer: Buffer, batch_size: int, gradient_steps: int,
                progress: float, device: torch.device, restrict: Restrict | None = None,
                prepare: Prepare | None = None) -> tuple[Metrics, int]:
    """One training round as the buffer's kind says (:meth:`nacre.Agent.learn`): ``(metrics,
    number of updates)``; nothing when the buffer has nothing to hand over yet. ``restrict``
    changes each sampled batch, ``prepare`` each rollout, before the learner reads them."""
    kind = buffer.kind
    if not buffer.can_sample and kind is not BufferKind.ROLLOUT:
        return {}, 0  # nothing new (online), or a SARSA step whose next action is unknown yet
    with learning_threads():
        if kind is BufferKind.ROLLOUT:
            return learn_rollout(engine, cast(RolloutStore, buffer), batch_size, progress,
                                 device, prepare)
        with stored_batches():  # checked when they were added
            if kind is BufferKind.ONLINE:
                return learn_online(engine, buffer, batch_size, device, restrict)
            return learn_replay(engine, buffer, batch_size, gradient_steps, device, progress,
                                restrict), gradient_steps


def learn_replay(engine: Engine, buffer: Buffer, batch_size: int, gradient_steps: int,
                 device: torch.device, progress: float = 0.0, restrict: Restrict | None = None
                 ) -> Metrics:
    """``gradient_steps`` updates on batches of ``batch_size`` sampled from ``buffer``
    (metrics: the last one's); ``progress`` ∈ [0, 1] is how far the run is; ``restrict``
    changes each batch before it is learned from."""
    if _prioritized(buffer):
        return learn_prioritized(engine, cast(PriorityBuffer, buffer), batch_size,
                                 gradient_steps, device, progress, restrict)
    metrics: Metrics = {}
    # One draw of k × batch_size i.i.d. rows is the same distribution as k draws of batch_size
    # rows, at a fraction of the indexing cost; k is capped so a draw of large observations
    # (images) stays small.
    per_draw = max(1, min(gradient_steps, _ROWS_PER_DRAW // batch_size))
    for start in range(0, gradient_steps, per_draw):
        k = min(per_draw, gradient_steps - start)
        batch = buffer.sample(batch_size * k)
        if batch.obs.device != device:
            batch = batch.to(device)
        if restrict is not None:
            batch = restrict(batch)
        metrics = engine.learn_batches(batch, batch_size)
    return metrics


def learn_online(engine: Engine, buffer: Buffer, batch_size: int, device: torch.device,
                 restrict: Restrict | None = None) -> tuple[Metrics, int]:
    """Every transition the buffer holds, once, in batches of at most ``batch_size``:
    ``(metrics of the last, number of updates)``."""
    batch = buffer.sample(batch_size)  # every pending row, once
    if batch.obs.device != device:
        batch = batch.to(device)
    if restrict is not None:
        batch = restrict(batch)
    return engine.learn_batches(batch, batch_size), -(-len(batch) // batch_size)


def learn_rollout(engine: Engine, buffer: RolloutStore, batch_size: int, progress: float,
                  device: torch.device, prepare: Prepare | None = None) -> tuple[Metrics, int]:
    """One on-policy round on the buffer's rollout, which is then cleared: ``(metrics, number
    of updates)``."""
    rollout = buffer.rollout()
    if rollout.obs.device != device:
        rollout = rollout.to(device)
    if prepare is not None:
        rollout = prepare(rollout)
    metrics = engine.learn_rollout(rollout, batch_size, progress)
    buffer.clear()
    return metrics, int(metrics.pop("updates", torch.tensor(1)))


def learn_prioritized(engine: Engine, buffer: PriorityBuffer, batch_size: int,
                      gradient_steps: int, device: torch.device, progress: float,
                      restrict: Restrict | None = None) -> Metrics:
    """:func:`learn_replay` from a prioritized buffer (Schaul et al. 2016, Algorithm 1): β set
    for ``progress``, then per update one draw (the priorities of the last update count), the
    learner's TD errors of the batch, the update, and the rows' new priorities."""
    learner = engine.learner
    if not isinstance(learner, TDLearner):
        raise InputError("buffer", f"a prioritized buffer needs a learner that reports TD "
                         f"errors (DQN, Double DQN); {type(learner).__name__} does not")
    buffer.anneal(progress)
    metrics: Metrics = {}
    for _ in range(gradient_steps):
        batch = buffer.sample(batch_size)
        index = batch.index
        if index is None:
            raise InputError("buffer", f"{type(buffer).__name__}.sample must set batch.index")
        if batch.obs.device != device:
            batch = batch.to(device)
        if restrict is not None:
            batch = restrict(batch)
        td_error = learner.td_error(batch)
        metrics = engine.learn_batches(batch, batch_size)
        buffer.update_priorities(index, td_error)
    return metrics


__all__ = ["LearnerEngine", "Prepare", "Restrict", "learn_online", "learn_prioritized",
           "learn_replay", "learn_rollout", "learn_round"]
