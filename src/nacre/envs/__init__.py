"""Environment adapters and the batched env contract."""

from nacre.envs.base import ActionResult, Env
from nacre.envs.gym import GymEnv, GymVectorEnv
from nacre.envs.make import make_env
from nacre.envs.wrappers import DiscreteProduct

__all__ = ["ActionResult", "DiscreteProduct", "Env", "GymEnv", "GymVectorEnv", "make_env"]
