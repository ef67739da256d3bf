"""Exploration modules: scores → (action, propensity)."""

from nacre.exploration.discrete import (
    Boltzmann,
    EpsilonGreedy,
    Greedy,
    LinearSchedule,
    Warmup,
    uniform_valid,
)
from nacre.exploration.policy import (
    GaussianNoise,
    MeanAction,
    PolicySampling,
    SquashedGaussianSampling,
    uniform_box,
)

__all__ = [
    "Boltzmann",
    "EpsilonGreedy",
    "GaussianNoise",
    "Greedy",
    "LinearSchedule",
    "MeanAction",
    "PolicySampling",
    "SquashedGaussianSampling",
    "Warmup",
    "uniform_box",
    "uniform_valid",
]
