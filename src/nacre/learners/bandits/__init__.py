"""Contextual-bandit learners: linear (joint or per arm), neural and neural-linear."""

from nacre.learners.bandits.linear import DisjointLinearBandit, LinearBandit, LinearBanditConfig
from nacre.learners.bandits.neural import NeuralBandit, NeuralBanditConfig, NeuralLinearBandit
from nacre.learners.bandits.per_arm import PerArm

__all__ = [
    "DisjointLinearBandit",
    "LinearBandit",
    "LinearBanditConfig",
    "NeuralBandit",
    "NeuralBanditConfig",
    "NeuralLinearBandit",
    "PerArm",
]
