"""nacre's Gymnasium ids (``nacre/...``), registered when :mod:`nacre` is imported so that a
YAML config can name them as it names ``CartPole-v1``.

``nacre/<Task>-PO-v0`` is a classic-control task with its velocities hidden
(:data:`~nacre.envs.partial.VELOCITY_FREE`); ``nacre/Acrobot-PO-v0`` also shows an observation
only every 2 steps, as in Pearl's Fig. 6a. Each is the task's own registration (entry point,
time limit, reward threshold) plus :class:`~nacre.envs.partial.PartialObservation` as an
additional wrapper, so ``env.kwargs`` reach the task as they would for its plain id.
``nacre/BitFlip-v0`` is :class:`~nacre.envs.bitflip.BitFlipEnv` (``env.kwargs: {n: 15}``),
``nacre/BlindCliffwalk-v0`` :class:`~nacre.envs.cliffwalk.BlindCliffwalkEnv` (``{n: 10}``),
``nacre/DeepSea-v0`` :class:`~nacre.envs.deepsea.DeepSeaEnv` (``{size: 10}``),
``nacre/MeanVarianceBandit-v0`` :class:`~nacre.envs.risky.MeanVarianceBanditEnv` and
``nacre/RiskyRoute-v0`` :class:`~nacre.envs.risky.RiskyRouteEnv` (``{length: 5}``),
``nacre/CostTradeoff-v0`` :class:`~nacre.envs.costly.CostTradeoffEnv` (``{length: 100}``),
``nacre/Recommender-v0`` :class:`~nacre.envs.recsys.RecommenderEnv` (``{n_items: 10000, k: 20}``)
and ``nacre/RecommenderBandit-v0`` :class:`~nacre.envs.recsys.RecommenderBanditEnv` (the same
with every step ending the episode, a contextual bandit with per-step candidates).
``nacre/SlowCartPole-v0`` is CartPole-v1 whose steps each cost ``step_cost_s`` seconds of busy
CPU (:class:`~nacre.envs.slow.SlowCartPole`, ``{step_cost_s: 0.002, busy: true}``), an env-bound
workload for measuring collection at scale.
``nacre/<Task>-Cost-<v>`` is a continuous-control task whose steps also report the cost
``info["cost"] = ‖a‖²`` (:class:`~nacre.envs.rewards.ActionCost`), for reward-constrained learning
(``safety: reward_constrained``). ``nacre/CliffWalking-Cost-v1`` is Gymnasium's CliffWalking
whose steps into the cliff also cost 1 (:class:`~nacre.envs.rewards.RewardCost`), for a learned
action filter (``safety: cost_filter``). ``nacre/<Task>-Dynamic-v0`` is a Discrete task whose
actions are each available with probability 0.5 per step (``info["action_mask"]``;
:class:`~nacre.envs.dynamic.DynamicActions`), for agents acting on dynamic action sets.
"""

from __future__ import annotations

import gymnasium as gym
from gymnasium.envs.registration import WrapperSpec

from nacre.envs.partial import VELOCITY_FREE

# nacre id -> (Gymnasium id, show an observation every this many steps)
PARTIAL_IDS: dict[str, tuple[str, int]] = {
    "nacre/CartPole-PO-v0": ("CartPole-v1", 1),
    "nacre/Acrobot-PO-v0": ("Acrobot-v1", 2),
    "nacre/Pendulum-PO-v0": ("Pendulum-v1", 1),
    "nacre/MountainCar-PO-v0": ("MountainCar-v0", 1),
    "nacre/MountainCarContinuous-PO-v0": ("MountainCarContinuous-v0", 1),
}
# nacre id -> the Gymnasium id whose steps also report the cost ‖a‖²
COST_IDS: dict[str, str] = {
    "nacre/Pendulum-Cost-v1": "Pendulum-v1",
    "nacre/MountainCarContinuous-Cost-v0": "MountainCarContinuous-v0",
    "nacre/HalfCheetah-Cost-v5": "HalfCheetah-v5",
    "nacre/Hopper-Cost-v5": "Hopper-v5",
    "nacre/Walker2d-Cost-v5": "Walker2d-v5",
    "nacre/Ant-Cost-v5": "Ant-v5",
}
# nacre id -> the Discrete Gymnasium id whose actions come and go (DynamicActions)
DYNAMIC_IDS: dict[str, str] = {
    "nacre/CartPole-Dynamic-v0": "CartPole-v1",
    "nacre/Acrobot-Dynamic-v0": "Acrobot-v1",
}
BITFLIP_ID = "nacre/BitFlip-v0"
CLIFFWALK_ID = "nacre/BlindCliffwalk-v0"
DEEPSEA_ID = "nacre/DeepSea-v0"
MEAN_VARIANCE_BANDIT_ID = "nacre/MeanVarianceBandit-v0"
RISKY_ROUTE_ID = "nacre/RiskyRoute-v0"
COST_TRADEOFF_ID = "nacre/CostTradeoff-v0"
CLIFF_COST_ID = "nacre/CliffWalking-Cost-v1"
RECOMMENDER_ID = "nacre/Recommender-v0"
RECOMMENDER_BANDIT_ID = "nacre/RecommenderBandit-v0"
SLOW_CARTPOLE_ID = "nacre/SlowCartPole-v0"
# nacre's own environments: id -> entry point
ENTRY_POINTS = {
    BITFLIP_ID: "nacre.envs.bitflip:BitFlipEnv",
    CLIFFWALK_ID: "nacre.envs.cliffwalk:BlindCliffwalkEnv",
    DEEPSEA_ID: "nacre.envs.deepsea:DeepSeaEnv",
    MEAN_VARIANCE_BANDIT_ID: "nacre.envs.risky:MeanVarianceBanditEnv",
    RISKY_ROUTE_ID: "nacre.envs.risky:RiskyRouteEnv",
    COST_TRADEOFF_ID: "nacre.envs.costly:CostTradeoffEnv",
    RECOMMENDER_ID: "nacre.envs.recsys:RecommenderEnv",
    RECOMMENDER_BANDIT_ID: "nacre.envs.recsys:RecommenderBanditEnv",
}


def _register_like(env_id: str, base_id: str, wrapper: WrapperSpec) -> None:
    """Register ``env_id`` as ``base_id``'s own registration (entry point, kwargs, time limit,
    reward threshold) with ``wrapper`` added."""
    base = gym.spec(base_id)
    gym.register(env_id, entry_point=base.entry_point, kwargs=dict(base.kwargs),
                 max_episode_steps=base.max_episode_steps, reward_threshold=base.reward_threshold,
                 additional_wrappers=(wrapper,))


def register_envs() -> None:
    """Register nacre's ids with Gymnasium; ids already registered are left as they are, so
    calling it again (or re-importing nacre) warns about nothing."""
    for env_id, (base_id, every) in PARTIAL_IDS.items():
        if env_id in gym.registry:
            continue
        _register_like(env_id, base_id, WrapperSpec(
            "PartialObservation", "nacre.envs.partial:PartialObservation",
            {"keep": VELOCITY_FREE[base_id], "every": every}))
    for env_id, base_id in COST_IDS.items():
        if env_id not in gym.registry:
            _register_like(env_id, base_id, WrapperSpec(
                "ActionCost", "nacre.envs.rewards:ActionCost", {"cost_fn": None, "scale": 1.0}))
    for env_id, base_id in DYNAMIC_IDS.items():
        if env_id not in gym.registry:
            _register_like(env_id, base_id, WrapperSpec(
                "DynamicActions", "nacre.envs.dynamic:DynamicActions",
                {"available_prob": 0.5, "seed": None}))
    if CLIFF_COST_ID not in gym.registry:  # a step into the cliff costs 1
        _register_like(CLIFF_COST_ID, "CliffWalking-v1", WrapperSpec(
            "RewardCost", "nacre.envs.rewards:RewardCost", {"at_most": -100.0, "cost": 1.0}))
    for env_id, entry_point in ENTRY_POINTS.items():
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=entry_point)
    if SLOW_CARTPOLE_ID not in gym.registry:  # CartPole-v1's time limit and threshold
        gym.register(SLOW_CARTPOLE_ID, entry_point="nacre.envs.slow:SlowCartPole",
                     max_episode_steps=500, reward_threshold=475.0)


__all__ = ["BITFLIP_ID", "CLIFFWALK_ID", "CLIFF_COST_ID", "COST_IDS", "COST_TRADEOFF_ID",
           "DEEPSEA_ID", "DYNAMIC_IDS", "ENTRY_POINTS", "MEAN_VARIANCE_BANDIT_ID", "PARTIAL_IDS",
           "RECOMMENDER_BANDIT_ID", "RECOMMENDER_ID", "RISKY_ROUTE_ID", "SLOW_CARTPOLE_ID",
           "register_envs"]
