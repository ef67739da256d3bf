"""Learners: own networks and optimizers, expose ``scores`` and ``learn_batch``."""

from nacre.learners.policy import PPO, REINFORCE, PPOConfig, ReinforceConfig
from nacre.learners.value import DQN, DeepSARSA, DoubleDQN, TabularQLearning

__all__ = [
    "DQN",
    "PPO",
    "REINFORCE",
    "DeepSARSA",
    "DoubleDQN",
    "PPOConfig",
    "ReinforceConfig",
    "TabularQLearning",
]
