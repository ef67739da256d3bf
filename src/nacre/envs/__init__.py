"""Environment adapters and the batched env contract."""

from nacre.envs.base import ActionResult, Env
from nacre.envs.env_checker import EnvCheck, check_env
from nacre.envs.gym import GymEnv, GymVectorEnv
from nacre.envs.make import make_env
from nacre.envs.sources import EnvLike
from nacre.envs.wrappers import DiscreteProduct

__all__ = ["ActionResult", "DiscreteProduct", "Env", "EnvCheck", "EnvLike", "GymEnv",
           "GymVectorEnv", "check_env", "make_env"]
