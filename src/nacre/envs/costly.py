"""An environment where reward and cost pull apart, with a known constrained optimum.

:class:`CostTradeoffEnv` pays the action as reward and charges its square as cost
(``info["cost"] = a²``): an unconstrained learner pushes ``a`` to 1 and spends a cost of 1 per
step; under a budget ``α ≤ 1`` on the discounted cost rate the best policy is ``a = √α``. The
episode is ``length`` steps of the same state (truncated, so values bootstrap through the
end), which keeps the discounted cost rate of every state equal to the per-step cost. It is
the smallest check of a reward-constrained learner (``safety: reward_constrained``): seconds of
training show whether it settles on the budget.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class CostTradeoffEnv(gym.Env[np.ndarray, np.ndarray]):
    """Reward ``a``, cost ``a²``, for ``a ∈ [-1, 1]``; ``length`` steps per episode.

    Example:
        >>> env = CostTradeoffEnv()
        >>> _ = env.reset(seed=0)
        >>> obs, reward, terminated, truncated, info = env.step(np.array([0.5], np.float32))
        >>> reward, info["cost"], terminated
        (0.5, 0.25, False)
    """

    metadata: dict[str, Any] = {"render_modes": []}
    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, length: int = 100) -> None:
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        self.length = int(length)
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.t = 0
        return np.ones(1, np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1.0, 1.0))
        self.t += 1
        return np.ones(1, np.float32), a, False, self.t >= self.length, {"cost": a * a}


__all__ = ["CostTradeoffEnv"]
