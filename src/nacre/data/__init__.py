"""Transition batches, preallocated ring storage and replay buffers."""

from nacre.data.batch import TransitionBatch
from nacre.data.replay import ReplayBuffer, SARSABuffer

__all__ = ["ReplayBuffer", "SARSABuffer", "TransitionBatch"]
