"""Tiny deterministic Gymnasium environments for tests.

* :class:`IdentityEnv` (``nacre/Identity-v0``): the observation is a one-hot code of a random
  target in ``0..n-1``; the reward is 1 when the action equals the target. Every episode lasts
  ``episode_length`` (10) steps and ends by *truncation* (the observation does not show the time,
  so a time limit is not a terminal state). The best return is ``episode_length``; a DQN reaches
  a return of 9 or more within a few thousand steps.
* :class:`ChainEnv` (``nacre/Chain-v0``): ``n`` states in a row observed as Discrete indices,
  start in state 0, action 1 moves right and action 0 moves left (staying at 0). Entering the last
  state gives reward 1 and terminates; ``max_steps`` truncates. :meth:`ChainEnv.optimal_q` gives
  the exact optimal action values, for tabular learners.

* :class:`TargetEnv` (``nacre/Target-v0``): continuous control in one step: the observation is a
  random target in ``[-1, 1]^d`` (Box actions in ``[-2, 2]^d``) and the reward is minus the
  distance of the action to the target. Episodes last ``episode_length`` (10) steps and end by
  truncation. A uniformly random policy earns ≈ −1.1 per step for d = 1 (≈ −11 per
  episode); the optimum is 0.

Call :func:`register_fakes` (idempotent) before ``gymnasium.make`` / :func:`nacre.make_env`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

IDENTITY_ID = "nacre/Identity-v0"
CHAIN_ID = "nacre/Chain-v0"
TARGET_ID = "nacre/Target-v0"


class IdentityEnv(gym.Env[np.ndarray, np.int64]):
    """Reward 1 for naming the target shown as a one-hot ``float32`` vector of length ``n``."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self, n: int = 4, episode_length: int = 10, render_mode: str | None = None
    ) -> None:
        if n < 2:
            raise ValueError(f"IdentityEnv needs n >= 2, got {n}")
        if episode_length < 1:
            raise ValueError(f"IdentityEnv needs episode_length >= 1, got {episode_length}")
        self.n = n
        self.episode_length = episode_length
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0.0, 1.0, (n,), np.float32)
        self.action_space = gym.spaces.Discrete(n)
        self._target = 0
        self._t = 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.n, dtype=np.float32)
        obs[self._target] = 1.0
        return obs

    def _draw(self) -> None:
        self._target = int(self.np_random.integers(self.n))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._t = 0
        self._draw()
        return self._obs(), {"target": self._target}

    def step(self, action: np.int64) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        reward = 1.0 if int(action) == self._target else 0.0
        self._t += 1
        self._draw()
        truncated = self._t >= self.episode_length
        return self._obs(), reward, False, truncated, {"target": self._target}


class ChainEnv(gym.Env[np.int64, np.int64]):
    """A corridor of ``n`` states; reward 1 and termination on entering state ``n - 1``."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, n: int = 5, max_steps: int = 50, render_mode: str | None = None) -> None:
        if n < 2:
            raise ValueError(f"ChainEnv needs n >= 2, got {n}")
        if max_steps < 1:
            raise ValueError(f"ChainEnv needs max_steps >= 1, got {max_steps}")
        self.n = n
        self.max_steps = max_steps
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Discrete(n)
        self.action_space = gym.spaces.Discrete(2)
        self._state = 0
        self._t = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.int64, dict[str, Any]]:
        super().reset(seed=seed)
        self._state, self._t = 0, 0
        return np.int64(self._state), {}

    def step(self, action: np.int64) -> tuple[np.int64, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        self._state = self._state + 1 if int(action) == 1 else max(self._state - 1, 0)
        self._t += 1
        terminated = self._state == self.n - 1
        truncated = not terminated and self._t >= self.max_steps
        return np.int64(self._state), 1.0 if terminated else 0.0, terminated, truncated, {}

    @staticmethod
    def optimal_q(n: int, gamma: float) -> np.ndarray:
        """``Q*[s, a]`` (shape ``[n, 2]``) ignoring truncation; the terminal row is 0.

        From ``s < n - 1``: ``Q*(s, right) = γ^(n-2-s)`` (the reward 1 arrives on the step that
        enters ``n - 1``) and ``Q*(s, left) = γ · V*(max(s-1, 0))`` with ``V*(s) = Q*(s, right)``.
        """
        q = np.zeros((n, 2), dtype=np.float64)
        v = np.array([gamma ** (n - 2 - s) for s in range(n - 1)] + [0.0])
        for s in range(n - 1):
            q[s, 1] = v[s]
            q[s, 0] = gamma * v[max(s - 1, 0)]
        return q


class TargetEnv(gym.Env[np.ndarray, np.ndarray]):
    """Reward ``−‖a − target‖₁ / d`` for an action ``a`` in ``[-2, 2]^d``; the target is
    observed."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, dim: int = 1, episode_length: int = 10,
                 render_mode: str | None = None) -> None:
        if dim < 1 or episode_length < 1:
            raise ValueError(f"TargetEnv needs dim >= 1 and episode_length >= 1, got {dim}, "
                             f"{episode_length}")
        self.dim = dim
        self.episode_length = episode_length
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (dim,), np.float32)
        self.action_space = gym.spaces.Box(-2.0, 2.0, (dim,), np.float32)
        self._target = np.zeros(dim, dtype=np.float32)
        self._t = 0

    def _draw(self) -> np.ndarray:
        self._target = self.np_random.uniform(-1.0, 1.0, self.dim).astype(np.float32)
        return self._target.copy()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._t = 0
        return self._draw(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a = np.asarray(action, dtype=np.float32).reshape(self.dim)
        if not self.action_space.contains(a):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        reward = -float(np.abs(a - self._target).mean())
        self._t += 1
        return self._draw(), reward, False, self._t >= self.episode_length, {}


def register_fakes() -> None:
    """Register the fake envs with Gymnasium (safe to call any number of times)."""
    if IDENTITY_ID not in gym.registry:
        gym.register(id=IDENTITY_ID, entry_point="nacre.testing.fakes:IdentityEnv")
    if CHAIN_ID not in gym.registry:
        gym.register(id=CHAIN_ID, entry_point="nacre.testing.fakes:ChainEnv")
    if TARGET_ID not in gym.registry:
        gym.register(id=TARGET_ID, entry_point="nacre.testing.fakes:TargetEnv")


__all__ = ["CHAIN_ID", "IDENTITY_ID", "TARGET_ID", "ChainEnv", "IdentityEnv", "TargetEnv",
           "register_fakes"]
