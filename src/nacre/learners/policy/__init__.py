"""Policy-gradient and actor-critic learners."""

from nacre.learners.policy.ppo import PPO, PPOConfig
from nacre.learners.policy.reinforce import REINFORCE, ReinforceConfig
from nacre.learners.policy.sac import SAC, SACConfig
from nacre.learners.policy.td3 import TD3, TD3Config

__all__ = [
    "PPO",
    "REINFORCE",
    "SAC",
    "TD3",
    "PPOConfig",
    "ReinforceConfig",
    "SACConfig",
    "TD3Config",
]
