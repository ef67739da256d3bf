"""The bit-flipping environment of hindsight experience replay.

Andrychowicz et al. 2017, "Hindsight Experience Replay", §3.1: the state is ``n`` bits, an
action flips one of them, and the reward is −1 on every step until the state equals a goal drawn
at random (0 then, and the episode ends); an episode lasts at most ``n`` steps. With ``n`` beyond
about 13 random exploration almost never sees the goal, so DQN learns nothing without HER.

Observations follow Gymnasium-Robotics' ``GoalEnv`` convention, a ``Dict`` of
``observation``, ``achieved_goal`` and ``desired_goal`` (here the state is its own achieved goal),
and :meth:`BitFlipEnv.compute_reward` recomputes rewards for other goals, batched, as HER
relabelling needs. nacre stores the ``Dict`` as one flat vector in Gymnasium's flatten order
(keys sorted: achieved goal, desired goal, observation).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class BitFlipEnv(gym.Env[dict[str, Any], np.int64]):
    """``n`` bits to turn into a goal, one flip per step.

    Example:
        >>> env = BitFlipEnv(n=4)
        >>> obs, _ = env.reset(seed=0)
        >>> sorted(obs), obs["observation"].shape
        (['achieved_goal', 'desired_goal', 'observation'], (4,))
        >>> float(env.compute_reward(obs["desired_goal"], obs["desired_goal"], {}))
        0.0
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, n: int = 15, max_steps: int | None = None) -> None:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.n = int(n)
        self.max_steps = self.n if max_steps is None else int(max_steps)
        bits = gym.spaces.Box(0.0, 1.0, (self.n,), np.float32)
        self.observation_space = gym.spaces.Dict(
            {"observation": bits, "achieved_goal": bits, "desired_goal": bits})
        self.action_space = gym.spaces.Discrete(self.n)
        self.state = np.zeros(self.n, np.float32)
        self.goal = np.zeros(self.n, np.float32)
        self.t = 0

    def compute_reward(self, achieved_goal: np.ndarray, desired_goal: np.ndarray,
                       info: Any) -> np.ndarray:
        """0 where ``achieved_goal`` equals ``desired_goal``, −1 elsewhere, over the last axis
        (so ``[..., n]`` goals give ``[...]`` rewards, float32). ``info`` is unused; it is in
        the signature for Gymnasium-Robotics' ``GoalEnv`` API."""
        reached = np.all(np.asarray(achieved_goal) == np.asarray(desired_goal), axis=-1)
        return np.where(reached, 0.0, -1.0).astype(np.float32)

    def _obs(self) -> dict[str, np.ndarray]:
        return {"observation": self.state.copy(), "achieved_goal": self.state.copy(),
                "desired_goal": self.goal.copy()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        self.state = self.np_random.integers(0, 2, self.n).astype(np.float32)
        self.goal = self.state
        while np.array_equal(self.goal, self.state):  # an episode with nothing to do teaches
            self.goal = self.np_random.integers(0, 2, self.n).astype(np.float32)  # nothing
        self.t = 0
        return self._obs(), {"is_success": 0.0}

    def step(self, action: np.int64 | int) -> tuple[dict[str, np.ndarray], float, bool, bool,
                                                    dict[str, Any]]:
        a = int(action)
        if not 0 <= a < self.n:
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        self.state = self.state.copy()
        self.state[a] = 1.0 - self.state[a]
        self.t += 1
        reward = float(self.compute_reward(self.state, self.goal, None))
        success = reward == 0.0
        return (self._obs(), reward, success, not success and self.t >= self.max_steps,
                {"is_success": float(success)})


__all__ = ["BitFlipEnv"]
