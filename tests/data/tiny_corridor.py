"""A user's own environment, as the custom-env tests meet it: a module outside nacre that
registers ``TinyCorridor-v0`` when imported (the tests copy it to a temporary folder).

A 1-D corridor of 8 cells observed one-hot: start at the left end; action 1 steps right, 0
left; reaching the right end gives reward 1 and ends the episode; 20 steps truncate it. Random
actions reach the end in ≈ 19 % of episodes (mean return ≈ 0.19); always stepping right, in 7
steps (return 1).
"""

from typing import Any

import gymnasium as gym
import numpy as np


class Corridor(gym.Env[np.ndarray, np.int64]):
    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, length: int = 8, max_steps: int = 20) -> None:
        self.length, self.max_steps = length, max_steps
        self.observation_space = gym.spaces.Box(0.0, 1.0, (length,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.position = self.t = 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.length, np.float32)
        obs[self.position] = 1.0
        return obs

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.position = self.t = 0
        return self._obs(), {}

    def step(self, action: np.int64) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self.position = max(0, self.position + (1 if int(action) == 1 else -1))
        self.t += 1
        at_end = self.position == self.length - 1
        return self._obs(), float(at_end), at_end, self.t >= self.max_steps, {}


gym.register("TinyCorridor-v0", entry_point=Corridor)
