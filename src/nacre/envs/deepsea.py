"""DeepSea, bsuite's test of deep exploration.

Osband et al. 2019, "Behaviour Suite for Reinforcement Learning" (bsuite), and Osband et al.
2019, "Deep Exploration via Randomized Value Functions" (arXiv:1703.07608): an ``N``×``N``
grid whose agent starts in the top-left cell and falls one row per step, so an episode lasts
exactly ``N`` steps. Each step it moves left or right. Going right costs
``unscaled_move_cost / N``, going left is free, and going right from the last column pays 1:
the treasure, reached only by going right on every one of the ``N`` steps. A random policy
finds it once in ``2^N`` episodes and a myopic one learns to go left, so dithering exploration
(ε-greedy, Boltzmann) fails beyond small ``N``.

Which of the two actions means "right" is drawn once per cell (``randomize_actions``), so no
single action is right everywhere. The stochastic variant (``deterministic=False``) makes a right
move fail with probability ``1/N`` (the column stays, the cost is paid) and adds N(0, 1) noise
to the rewards of the last row's first and last cells, as bsuite does.

Departures from bsuite: the action mapping is drawn with ``np.random.default_rng(mapping_seed)``
(bsuite's ``RandomState`` gives another mapping for the same seed); ``randomize_actions=False``
does not warn; the noise and failed moves come from the env's ``np_random``
(``reset(seed=...)``).
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _check_int(name: str, value: object, least: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    if value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    return int(value)


class DeepSeaEnv(gym.Env[np.ndarray, np.int64]):
    """An ``size``×``size`` grid to fall through; only going right every step pays.

    The observation is a float32 ``(size, size)`` array with a single 1 at the agent's
    ``(row, column)``; the observation after the last step is all zeros (the agent has left the
    grid), as in bsuite. There are two actions; :attr:`action_mapping` ``[row, column]`` is the
    one that moves right in that cell (the other moves left). ``terminated`` is True after
    exactly ``size`` steps and ``truncated`` is always False.

    ``info`` at reset and at every step:

    - ``"treasure"``: True on the step that pays the +1 (the last step, from the last column,
      going right), False otherwise. Its mean over episodes is the rate of finding the treasure.
    - ``"bad_episode"``: True from the step on which the agent chose left while still on the
      diagonal (``column == row``, the only path to the treasure) to the episode's end: bsuite's
      "bad episode", a deviation from the optimal path. A failed right move of the stochastic
      variant also leaves the diagonal but is not the agent's fault and is not counted.

    :attr:`optimal_return` is the expected return of going right every step, bsuite's regret
    reference.

    Example:
        >>> env = DeepSeaEnv(size=3)
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape, info
        ((3, 3), {'treasure': False, 'bad_episode': False})
        >>> returns = 0.0
        >>> for _ in range(3):
        ...     obs, reward, terminated, truncated, info = env.step(env.right_action())
        ...     returns += reward
        >>> terminated, truncated, info["treasure"], round(returns, 6), env.optimal_return
        (True, False, True, 0.99, 0.99)
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, size: int = 10, deterministic: bool = True,
                 unscaled_move_cost: float = 0.01, randomize_actions: bool = True,
                 mapping_seed: int = 0) -> None:
        self.size = _check_int("size", size, 1)
        self.deterministic = _check_bool("deterministic", deterministic)
        self.randomize_actions = _check_bool("randomize_actions", randomize_actions)
        self.mapping_seed = _check_int("mapping_seed", mapping_seed, 0)
        if (isinstance(unscaled_move_cost, (bool, np.bool_))
                or not isinstance(unscaled_move_cost, (int, float, np.integer, np.floating))
                or not math.isfinite(unscaled_move_cost) or unscaled_move_cost < 0):
            raise ValueError("unscaled_move_cost must be a finite number >= 0, "
                             f"got {unscaled_move_cost!r}")
        self.unscaled_move_cost = float(unscaled_move_cost)
        n = self.size
        if self.randomize_actions:
            mapping = np.random.default_rng(self.mapping_seed).integers(0, 2, (n, n))
        else:
            mapping = np.ones((n, n), np.int64)
        self._action_mapping = mapping.astype(np.int64)
        self._action_mapping.setflags(write=False)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (n, n), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.row = 0
        self.column = 0
        self.bad_episode = False

    @property
    def action_mapping(self) -> np.ndarray:
        """``[size, size]`` int64, read-only: the action that moves right in each cell."""
        return self._action_mapping

    @property
    def optimal_return(self) -> float:
        """The expected return of going right on every step, bsuite's formula:
        ``1 - unscaled_move_cost`` (deterministic), ``(1 - 1/N)**(N - 1) - unscaled_move_cost``
        (stochastic: the first ``N - 1`` right moves must all succeed to stand in the last column
        on the last row; ``N`` moves cost ``unscaled_move_cost / N`` each; the noise has mean 0).

        In the stochastic variant this is the always-right policy's value, not quite the best:
        once a failed move leaves the diagonal the treasure is out of reach, and going left from
        then on saves the remaining move costs, for ``(1 - 1/N)**(N - 1) -
        unscaled_move_cost * (1 - (1 - 1/N)**N)``. The difference is below
        ``unscaled_move_cost`` (0.01 by default); bsuite's regret uses the formula above."""
        n = self.size
        reach = 1.0 if self.deterministic else (1.0 - 1.0 / n) ** (n - 1)
        return reach - self.unscaled_move_cost

    def right_action(self) -> int:
        """The action that moves right from the agent's current cell (the optimal action)."""
        return int(self._action_mapping[min(self.row, self.size - 1), self.column])

    def _obs(self) -> np.ndarray:
        obs = np.zeros((self.size, self.size), np.float32)
        if self.row < self.size:  # after the last step the agent has left the grid
            obs[self.row, self.column] = 1.0
        return obs

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.row = self.column = 0
        self.bad_episode = False
        return self._obs(), {"treasure": False, "bad_episode": False}

    def step(self, action: np.int64 | int) -> tuple[np.ndarray, float, bool, bool,
                                                    dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(f"action must be 0 or 1, got {action!r}")
        if self.row >= self.size:
            raise RuntimeError("the episode has ended (after size steps): call reset()")
        n, last = self.size, self.size - 1
        right = int(action) == self._action_mapping[self.row, self.column]
        treasure = right and self.column == last
        reward = 1.0 if treasure else 0.0
        if not self.deterministic and self.row == last and self.column in (0, last):
            reward += float(self.np_random.standard_normal())
        if right:
            reward -= self.unscaled_move_cost / n
            if self.deterministic or self.np_random.random() >= 1.0 / n:
                self.column = min(self.column + 1, last)
        else:
            if self.column == self.row:  # left the only path to the treasure
                self.bad_episode = True
            self.column = max(self.column - 1, 0)
        self.row += 1
        return (self._obs(), reward, self.row == n, False,
                {"treasure": treasure, "bad_episode": self.bad_episode})


__all__ = ["DeepSeaEnv"]
