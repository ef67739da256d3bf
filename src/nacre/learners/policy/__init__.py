"""Policy-gradient and actor-critic learners."""

from nacre.learners.policy.ddpg import DDPG, DDPGConfig
from nacre.learners.policy.ppo import PPO, PPOConfig
from nacre.learners.policy.reinforce import REINFORCE, ReinforceConfig
from nacre.learners.policy.sac import SAC, SACConfig
from nacre.learners.policy.sac_discrete import DiscreteSAC, DiscreteSACConfig
from nacre.learners.policy.td3 import TD3, TD3Config

__all__ = [
    "DDPG",
    "PPO",
    "REINFORCE",
    "SAC",
    "TD3",
    "DDPGConfig",
    "DiscreteSAC",
    "DiscreteSACConfig",
    "PPOConfig",
    "ReinforceConfig",
    "SACConfig",
    "TD3Config",
]
