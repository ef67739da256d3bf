"""Exploration modules: scores → (action, propensity)."""

from nacre.exploration.discrete import (
    Boltzmann,
    EpsilonGreedy,
    Greedy,
    LinearSchedule,
    Warmup,
    uniform_valid,
)

__all__ = ["Boltzmann", "EpsilonGreedy", "Greedy", "LinearSchedule", "Warmup", "uniform_valid"]
