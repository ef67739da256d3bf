"""Exploration modules: scores → (action, propensity)."""

from nacre.exploration.discrete import (
    Boltzmann,
    EpsilonGreedy,
    Greedy,
    LinearSchedule,
    Warmup,
    uniform_valid,
)
from nacre.exploration.policy import MeanAction, PolicySampling

__all__ = [
    "Boltzmann",
    "EpsilonGreedy",
    "Greedy",
    "LinearSchedule",
    "MeanAction",
    "PolicySampling",
    "Warmup",
    "uniform_valid",
]
