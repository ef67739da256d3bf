"""Learners: own networks and optimizers, expose ``scores`` and ``learn_batch``."""

from nacre.learners.policy import (
    PPO,
    REINFORCE,
    SAC,
    TD3,
    PPOConfig,
    ReinforceConfig,
    SACConfig,
    TD3Config,
)
from nacre.learners.value import DQN, DeepSARSA, DoubleDQN, TabularQLearning

__all__ = [
    "DQN",
    "PPO",
    "REINFORCE",
    "SAC",
    "TD3",
    "DeepSARSA",
    "DoubleDQN",
    "PPOConfig",
    "ReinforceConfig",
    "SACConfig",
    "TD3Config",
    "TabularQLearning",
]
