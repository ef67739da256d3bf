"""Transition batches, preallocated ring storage, replay and rollout buffers."""

from nacre.data.batch import StepBatch, TransitionBatch
from nacre.data.online import OnlineBuffer
from nacre.data.replay import ReplayBuffer, SARSABuffer
from nacre.data.rollout import Rollout, RolloutBuffer

__all__ = [
    "OnlineBuffer", "ReplayBuffer", "Rollout", "RolloutBuffer", "SARSABuffer", "StepBatch",
    "TransitionBatch",
]
