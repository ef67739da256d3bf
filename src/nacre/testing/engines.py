"""A learner driven through an engine, so that :func:`~nacre.testing.check_learner` checks an
accelerated kernel (:mod:`nacre.accel`) the way it checks a learner."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.kinds import LearnerKind, ScoresKind
from nacre.types import Engine, Metrics


class EngineLearner:
    """The :class:`~nacre.types.Learner` protocol over ``engine``: scores and updates go through
    the engine (one ``learn_batch`` is one update of the whole batch), state through its
    learner. Copies copy the engine and its learner together.

    Example::

        from nacre.accel import kernel_for
        check_learner(EngineLearner(kernel_for(my_dqn)), obs_dim=4, n_actions=2)
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.learner = learner = engine.learner
        # the declared kinds do not change over a learner's life
        self.kind: LearnerKind = learner.kind
        self.scores_kind: ScoresKind = learner.scores_kind
        self.gamma: float | None = learner.gamma
        self.needs_next_action: bool = learner.needs_next_action

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        return self.engine.scores(state, action_features)

    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        return self.engine.learn_batches(batch, len(batch))

    def update_target(self) -> None:
        self.learner.update_target()

    def state_dict(self) -> dict[str, Any]:
        return self.learner.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.learner.load_state_dict(state)


__all__ = ["EngineLearner"]
