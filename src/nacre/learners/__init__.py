"""Learners: own networks and optimizers, expose ``scores`` and ``learn_batch``."""

from nacre.learners.policy import (
    DDPG,
    PPO,
    REINFORCE,
    SAC,
    TD3,
    DDPGConfig,
    DiscreteSAC,
    DiscreteSACConfig,
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
    "DiscreteSAC",
    "DiscreteSACConfig",
    "DoubleDQN",
    "PPOConfig",
    "ReinforceConfig",
    "SACConfig",
    "TD3Config",
    "TabularQLearning",
]
