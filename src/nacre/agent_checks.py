"""What :class:`nacre.Agent` refuses to be composed of: slots that cannot work together, the
checks ``nacre.build`` also makes, for agents composed by hand."""

from __future__ import annotations

from nacre.errors import InputError
from nacre.exploration import Warmup
from nacre.types import (
    DistributionalLearner,
    EpisodicExploration,
    Exploration,
    Learner,
    RiskMeasure,
    Safety,
)


def check_slots(learner: Learner, exploration: Exploration | None, safety: Safety | None) -> None:
    """Raise :class:`nacre.errors.InputError` for slots that cannot work together."""
    if isinstance(safety, RiskMeasure) and not (
            isinstance(learner, DistributionalLearner) and learner.risk is safety):
        raise InputError("safety", "a risk measure acts through the learner: give the same "
                         "object to a distributional learner (QRDQN / IQN risk=...)")
    if isinstance(exploration, Warmup) and isinstance(exploration.inner, EpisodicExploration):
        raise InputError("exploration", "a Warmup would hide episode ends from the explorer")


__all__ = ["check_slots"]
