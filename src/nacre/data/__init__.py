"""Transition batches, preallocated ring storage, replay and rollout buffers, logged datasets.

Minari datasets are read and written by :mod:`nacre.data.minari_io` (the ``offline`` extra).
"""

from nacre.data.batch import StepBatch, TransitionBatch
from nacre.data.bootstrap import BootstrapReplayBuffer
from nacre.data.dataset import Dataset, DatasetInfo
from nacre.data.online import OnlineBuffer
from nacre.data.prioritized import PrioritizedReplayBuffer
from nacre.data.replay import ReplayBuffer, SARSABuffer
from nacre.data.rollout import Rollout, RolloutBuffer
from nacre.data.sumtree import SumTree

__all__ = [
    "BootstrapReplayBuffer", "Dataset", "DatasetInfo",
    "OnlineBuffer", "PrioritizedReplayBuffer", "ReplayBuffer", "Rollout", "RolloutBuffer",
    "SARSABuffer", "StepBatch", "SumTree", "TransitionBatch",
]
