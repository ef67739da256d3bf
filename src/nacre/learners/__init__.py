"""Learners: own networks and optimizers, expose ``scores`` and ``learn_batch``."""

from nacre.learners.policy import (
    DDPG,
    PPO,
    REINFORCE,
    SAC,
    TD3,
    DDPGConfig,
    PPOConfig,
    ReinforceConfig,
    SACConfig,
    TD3Config,
)
from nacre.learners.value import DQN, DeepSARSA, DoubleDQN, TabularQLearning

__all__ = [
    "DDPG",
    "DQN",
    "PPO",
    "REINFORCE",
    "SAC",
    "TD3",
    "DeepSARSA",
    "DDPGConfig",
    "DoubleDQN",
    "PPOConfig",
    "ReinforceConfig",
    "SACConfig",
    "TD3Config",
    "TabularQLearning",
]
