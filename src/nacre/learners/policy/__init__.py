"""Policy-gradient and actor-critic learners."""

from nacre.learners.policy.ppo import PPO, PPOConfig
from nacre.learners.policy.reinforce import REINFORCE, ReinforceConfig

__all__ = ["PPO", "REINFORCE", "PPOConfig", "ReinforceConfig"]
