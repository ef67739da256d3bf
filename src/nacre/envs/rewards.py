"""Reward and cost wrappers: a sparse reward, and a per-step cost in ``info["cost"]``.

:class:`SparseReward` delays every reward to the episode's last step, the credit-assignment
problem that prioritized and hindsight replay address. :class:`ActionCost` reports a cost per
step as Pearl's safe-RL experiments do (Zhu et al. 2024, §5: the cost of a MuJoCo step is the
squared norm of its action); :class:`RewardCost` reports a cost on the steps an env marks
as catastrophes by their reward (CliffWalking's −100). nacre's adapters carry ``info["cost"]``
into :attr:`ActionResult.cost <nacre.envs.base.ActionResult>`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium.utils import RecordConstructorArgs

from nacre.errors import SpaceError


class SparseReward(gym.Wrapper[Any, Any, Any, Any], RecordConstructorArgs):
    """Every reward of an episode paid at once, on its last step (terminated or truncated);
    0 on the steps before.

    With ``threshold=None`` the last step pays the episode's return, so returns are unchanged
    and only their timing moves. With a ``threshold`` it pays 1 when the return reached it
    (success) and 0 otherwise: returns become success rates.

    Example:
        >>> env = SparseReward(gym.make("CartPole-v1"))
        >>> _ = env.reset(seed=0)
        >>> env.step(0)[1]
        0.0
    """

    def __init__(self, env: gym.Env[Any, Any], threshold: float | None = None) -> None:
        RecordConstructorArgs.__init__(self, threshold=threshold)
        gym.Wrapper.__init__(self, env)
        self.threshold = threshold
        self.episode_return = 0.0

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        self.episode_return = 0.0
        return super().reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.episode_return += float(reward)
        if not (terminated or truncated):
            return obs, 0.0, terminated, truncated, info
        if self.threshold is None:
            return obs, self.episode_return, terminated, truncated, info
        return obs, float(self.episode_return >= self.threshold), terminated, truncated, info


def squared_norm(action: Any) -> float:
    """‖a‖², the cost of an action in Pearl's cost experiments."""
    return float(np.sum(np.square(np.asarray(action, dtype=np.float64))))


class ActionCost(gym.Wrapper[Any, Any, Any, Any], RecordConstructorArgs):
    """Puts ``scale * cost_fn(action)`` in each step's ``info["cost"]``, added to a cost the
    env reports itself. ``cost_fn`` defaults to :func:`squared_norm` (``Box`` actions only; it is
    computed on the action the env receives, in its own units).

    Example:
        >>> env = ActionCost(gym.make("Pendulum-v1"))
        >>> _ = env.reset(seed=0)
        >>> env.step(np.array([-2.0], np.float32))[4]["cost"]
        4.0
    """

    def __init__(self, env: gym.Env[Any, Any],
                 cost_fn: Callable[[Any], SupportsFloat] | None = None,
                 scale: float = 1.0) -> None:
        RecordConstructorArgs.__init__(self, cost_fn=cost_fn, scale=scale)
        gym.Wrapper.__init__(self, env)
        if cost_fn is None and not isinstance(env.action_space, gym.spaces.Box):
            raise SpaceError(f"ActionCost's default cost ‖a‖² needs Box actions, got "
                             f"{env.action_space}: pass cost_fn")
        self.cost_fn = squared_norm if cost_fn is None else cost_fn
        self.scale = float(scale)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        cost = self.scale * float(self.cost_fn(action))
        info = {**info, "cost": float(info.get("cost", 0.0)) + cost}
        return obs, reward, terminated, truncated, info


class RewardCost(gym.Wrapper[Any, Any, Any, Any], RecordConstructorArgs):
    """Puts ``cost`` in ``info["cost"]`` on the steps whose reward is at most ``at_most``
    (added to a cost the env reports itself; 0 on the others): a catastrophe the env signals by
    its reward becomes a cost a safety module can learn from.

    Example:
        >>> env = RewardCost(gym.make("CliffWalking-v1"), at_most=-100)
        >>> _ = env.reset(seed=0)
        >>> env.step(1)[4]["cost"], env.step(0)[4]["cost"]  # right from the start: the cliff
        (1.0, 0.0)
    """

    def __init__(self, env: gym.Env[Any, Any], at_most: float, cost: float = 1.0) -> None:
        RecordConstructorArgs.__init__(self, at_most=at_most, cost=cost)
        gym.Wrapper.__init__(self, env)
        self.at_most, self.cost = float(at_most), float(cost)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        cost = self.cost if float(reward) <= self.at_most else 0.0
        info = {**info, "cost": float(info.get("cost", 0.0)) + cost}
        return obs, reward, terminated, truncated, info


__all__ = ["ActionCost", "RewardCost", "SparseReward", "squared_norm"]
