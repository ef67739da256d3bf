"""CartPole with a costly step: a stand-in for a simulator whose step dominates training, for
measuring how collection scales (:mod:`nacre.distributed`, benchmarks/ray_scaling.py).

Each step first spends ``step_cost_s`` seconds. ``busy=True`` (the default) spins the CPU, as a
physics simulator or game engine computing its next state does: such an env goes faster only
with more cores, one per stepping copy. ``busy=False`` sleeps instead, as an env waiting on a
remote service or a robot does: its waits overlap on any number of cores. The dynamics,
rewards and time limit (500 steps, ``nacre/SlowCartPole-v0``) are CartPole-v1's.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleEnv


class SlowCartPole(CartPoleEnv):
    """CartPole whose every step costs ``step_cost_s`` seconds of busy CPU (or of sleep).

    Example:
        >>> env = SlowCartPole(step_cost_s=0.001)
        >>> _ = env.reset(seed=0)
        >>> start = time.perf_counter()
        >>> _ = env.step(0)
        >>> time.perf_counter() - start >= 0.001
        True
    """

    def __init__(self, step_cost_s: float = 0.002, busy: bool = True,
                 render_mode: str | None = None) -> None:
        if not step_cost_s >= 0:
            raise ValueError(f"step_cost_s must be >= 0, got {step_cost_s}")
        super().__init__(render_mode=render_mode)
        self.step_cost_s = float(step_cost_s)
        self.busy = bool(busy)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.busy:
            deadline = time.perf_counter() + self.step_cost_s
            while time.perf_counter() < deadline:
                pass
        elif self.step_cost_s:
            time.sleep(self.step_cost_s)
        obs, reward, terminated, truncated, info = super().step(action)  # type: ignore[no-untyped-call]
        return obs, float(reward), bool(terminated), bool(truncated), info


__all__ = ["SlowCartPole"]
