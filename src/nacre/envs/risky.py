"""Environments where the best action depends on the risk one accepts.

:class:`MeanVarianceBanditEnv` is the two-armed bandit of Pearl's risk-sensitive experiment (Zhu
et al. 2023, Fig. 6c): one arm pays N(6, 1), the other N(10, 9) (mean, variance). A risk-neutral
agent takes the second; one that values ``E[Z] − β·Var[Z]`` takes the first once β > 0.5.

:class:`RiskyRouteEnv` is the same choice spread over time, a stochastic MDP: the first action
chooses a route of ``length`` steps, and every step of it pays the route's reward. The safe
route pays ``safe_reward`` exactly; the risky one pays more on average but with noise on every
step, so its return is only known in distribution, and a distributional learner must carry that
spread back through ``length`` bootstrapped steps to the first choice.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


def _check(name: str, value: float, minimum: float = 0.0) -> float:
    if not np.isfinite(value) or value < minimum:
        raise ValueError(f"{name} must be a finite number >= {minimum}, got {value!r}")
    return float(value)


class MeanVarianceBanditEnv(gym.Env[np.ndarray, np.int64]):
    """Two arms with Gaussian rewards; every episode is one decision (the observation is a
    constant 1).

    Args:
        means: the mean reward of each arm.
        variances: the variance of each arm's reward.

    Example:
        >>> env = MeanVarianceBanditEnv()
        >>> obs, _ = env.reset(seed=0)
        >>> obs, reward, terminated, truncated, info = env.step(0)
        >>> terminated, info["mean"], info["variance"]
        (True, 6.0, 1.0)
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, means: tuple[float, ...] = (6.0, 10.0),
                 variances: tuple[float, ...] = (1.0, 9.0)) -> None:
        if len(means) != len(variances) or len(means) < 2:
            raise ValueError(f"means and variances must give the same number (>= 2) of arms; "
                             f"got {len(means)} and {len(variances)}")
        self.means = [_check("means", m, -np.inf) for m in means]
        self.variances = [_check("variances", v) for v in variances]
        self.observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(len(self.means))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        return np.ones(1, np.float32), {}

    def step(self, action: np.int64 | int) -> tuple[np.ndarray, float, bool, bool,
                                                    dict[str, Any]]:
        a = int(action)
        if not 0 <= a < len(self.means):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        mean, variance = self.means[a], self.variances[a]
        reward = float(mean + np.sqrt(variance) * self.np_random.standard_normal())
        return np.ones(1, np.float32), reward, True, False, {"mean": mean, "variance": variance}


class RiskyRouteEnv(gym.Env[np.ndarray, np.int64]):
    """Choose a route once, then follow it for ``length`` steps.

    The observation is ``[steps left / length, on the safe route, on the risky route]``. At the
    start, action 0 takes the safe route and action 1 the risky one; afterwards the action does
    not matter. Each step on the safe route pays ``safe_reward``; on the risky route,
    ``risky_mean + risky_std · ε`` with ε ~ N(0, 1) drawn anew each step. ``info["route"]`` is
    the route taken (0 safe, 1 risky).

    Example:
        >>> env = RiskyRouteEnv(length=3)
        >>> obs, _ = env.reset(seed=0)
        >>> rewards = [env.step(0)[1] for _ in range(3)]
        >>> rewards, env.route
        ([1.0, 1.0, 1.0], 0)
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, length: int = 5, safe_reward: float = 1.0, risky_mean: float = 1.5,
                 risky_std: float = 3.0) -> None:
        if int(length) != length or length < 1:
            raise ValueError(f"length must be an integer >= 1, got {length!r}")
        self.length = int(length)
        self.safe_reward = _check("safe_reward", safe_reward, -np.inf)
        self.risky_mean = _check("risky_mean", risky_mean, -np.inf)
        self.risky_std = _check("risky_std", risky_std)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (3,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.route: int | None = None
        self.left = self.length

    def _obs(self) -> np.ndarray:
        on = [0.0, 0.0] if self.route is None else [float(self.route == 0),
                                                    float(self.route == 1)]
        return np.array([self.left / self.length, *on], np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.route, self.left = None, self.length
        return self._obs(), {}

    def step(self, action: np.int64 | int) -> tuple[np.ndarray, float, bool, bool,
                                                    dict[str, Any]]:
        a = int(action)
        if not 0 <= a < 2:
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        if self.route is None:
            self.route = a
        if self.route == 0:
            reward = self.safe_reward
        else:
            reward = self.risky_mean + self.risky_std * float(self.np_random.standard_normal())
        self.left -= 1
        return self._obs(), reward, self.left == 0, False, {"route": self.route}


__all__ = ["MeanVarianceBanditEnv", "RiskyRouteEnv"]
