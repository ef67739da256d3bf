"""Environment adapters and the batched env contract."""

from nacre.envs.base import ActionResult, CatalogueEnv, Env
from nacre.envs.bitflip import BitFlipEnv
from nacre.envs.cliffwalk import BlindCliffwalkEnv
from nacre.envs.costly import CostTradeoffEnv
from nacre.envs.deepsea import DeepSeaEnv
from nacre.envs.dynamic import DynamicActions
from nacre.envs.env_checker import EnvCheck, check_env
from nacre.envs.gym import GymEnv, GymVectorEnv
from nacre.envs.make import make_env
from nacre.envs.partial import VELOCITY_FREE, PartialObservation, without_velocities
from nacre.envs.recsys import RecommenderBanditEnv, RecommenderEnv
from nacre.envs.registration import register_envs
from nacre.envs.rewards import ActionCost, RewardCost, SparseReward
from nacre.envs.risky import MeanVarianceBanditEnv, RiskyRouteEnv
from nacre.envs.sources import EnvLike
from nacre.envs.wrappers import DiscreteProduct

register_envs()  # nacre/... ids for YAML configs (nacre.envs.registration)

__all__ = ["VELOCITY_FREE", "ActionCost", "ActionResult", "BitFlipEnv", "BlindCliffwalkEnv",
           "CatalogueEnv", "CostTradeoffEnv", "DeepSeaEnv", "DiscreteProduct", "DynamicActions",
           "Env", "EnvCheck", "EnvLike", "GymEnv", "GymVectorEnv", "MeanVarianceBanditEnv",
           "PartialObservation", "RecommenderBanditEnv", "RecommenderEnv", "RewardCost",
           "RiskyRouteEnv", "SparseReward", "check_env", "make_env", "without_velocities"]
