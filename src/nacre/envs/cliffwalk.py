"""The blind cliffwalk of prioritized experience replay.

After Schaul et al. 2016, "Prioritized Experience Replay", §3.1 and Fig. 1: a chain of ``n``
states; in each, one of the two actions moves one state on and the other falls back to the
first state. Only the ``n``-th right action in a row is rewarded (1, and the episode ends); an
episode lasts at most ``n`` steps. A random policy reaches the reward once in ``2^n`` episodes,
so the few transitions that carry it are rare in replay: uniform sampling seldom replays them,
prioritized sampling replays them until their temporal-difference error is spent. Which action
moves on alternates along the chain.

Falling back, rather than ending the episode as in the paper, keeps both actions bootstrapped:
with a terminal zero for the wrong action, a Q network's optimistic ``max`` over untrained
values alone would tell the actions apart before any reward is seen.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class BlindCliffwalkEnv(gym.Env[np.int64, np.int64]):
    """``n`` states in a row; the observation is the state's index.

    Example:
        >>> env = BlindCliffwalkEnv(n=3)
        >>> obs, _ = env.reset(seed=0)
        >>> [env.step(a)[:3] for a in (0, 1, 0)]
        [(np.int64(1), 0.0, False), (np.int64(2), 0.0, False), (np.int64(2), 1.0, True)]
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, n: int = 10) -> None:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.n = int(n)
        self.observation_space = gym.spaces.Discrete(self.n)
        self.action_space = gym.spaces.Discrete(2)
        self.state = 0
        self.t = 0

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.int64, dict[str, Any]]:
        super().reset(seed=seed)
        self.state = self.t = 0
        return np.int64(self.state), {}

    def step(self, action: np.int64) -> tuple[np.int64, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(f"action must be 0 or 1, got {action!r}")
        self.t += 1
        self.state = self.state + 1 if int(action) == self.state % 2 else 0
        if self.state == self.n:
            return np.int64(self.n - 1), 1.0, True, False, {}
        return np.int64(self.state), 0.0, False, self.t >= self.n, {}
