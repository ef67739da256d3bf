"""Exploration modules: scores → (action, propensity)."""

from nacre.exploration.bandit import UCB, FastCB, SquareCB, ThompsonSampling
from nacre.exploration.discrete import (
    Boltzmann,
    EpsilonGreedy,
    Greedy,
    LinearSchedule,
    Warmup,
    exploit_for,
    means,
    uniform_valid,
)
from nacre.exploration.policy import (
    FactoredMode,
    FactoredSampling,
    GaussianNoise,
    MeanAction,
    PolicySampling,
    SquashedGaussianSampling,
    uniform_box,
)

__all__ = [
    "UCB",
    "Boltzmann",
    "EpsilonGreedy",
    "FactoredMode",
    "FactoredSampling",
    "FastCB",
    "GaussianNoise",
    "Greedy",
    "LinearSchedule",
    "MeanAction",
    "PolicySampling",
    "SquareCB",
    "SquashedGaussianSampling",
    "ThompsonSampling",
    "Warmup",
    "exploit_for",
    "means",
    "uniform_box",
    "uniform_valid",
]
