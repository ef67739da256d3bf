"""Policy-gradient and actor-critic learners."""

from nacre.learners.policy.ppo import PPO, PPOConfig

__all__ = ["PPO", "PPOConfig"]
