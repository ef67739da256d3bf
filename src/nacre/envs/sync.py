"""``B`` Gymnasium environments stepped in one process, written straight into batch arrays.

Gymnasium's ``SyncVectorEnv`` merges per-env info dicts and copies observations on every step,
which costs about as much as stepping eight CartPoles. nacre's own loop steps each env, writes
its observation into a preallocated ``[B, ...]`` array and resets finished episodes in the same
step (the final observation goes to ``next_obs``): the SAME_STEP contract of
:class:`~nacre.envs.base.ActionResult`, at ≈ the cost of the env steps themselves. Seeding
matches Gymnasium's (``reset(seed=s)`` seeds env ``i`` with ``s + i``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from nacre.envs.base import ActionResult
from nacre.envs.checks import ActionCheck
from nacre.envs.faults import FaultPolicy
from nacre.envs.state import (
    capture_env_state,
    capture_object_state,
    restore_env_state,
    restore_object_state,
)
from nacre.spaces import DiscreteActionSpace, check_observation_space, from_gym_action_space


class SyncEnvs:
    """``num_envs`` copies of an environment stepped sequentially as one batch.

    With ``max_faults > 0``, an exception in one copy's ``step`` or ``reset`` ends that copy's
    episode as truncated and only that copy is made anew (:mod:`nacre.envs.faults`)."""

    one_step = False
    available = None  # every action, every step

    def __init__(self, make: Callable[[], gym.Env[Any, Any]], num_envs: int,
                 max_faults: int = 0) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.envs = [make() for _ in range(num_envs)]
        self.faults = [FaultPolicy(make, max_faults) for _ in range(num_envs)] if max_faults \
            else None
        self._last_obs: np.ndarray | None = None
        self._fresh: dict[int, Any] = {}  # first observations of copies made anew
        first = self.envs[0]
        check_observation_space(first.observation_space)
        self.num_envs = num_envs
        self.action_space = from_gym_action_space(first.action_space)
        self._check = ActionCheck(self.action_space, num_envs)
        self._obs_space = first.observation_space
        self._discrete = isinstance(self.action_space, DiscreteActionSpace)
        discrete_obs = isinstance(self._obs_space, gym.spaces.Discrete)
        self._obs_dtype = np.dtype(np.int64) if discrete_obs else np.dtype(self._obs_space.dtype)
        self._returns = np.zeros(num_envs)
        self._lengths = np.zeros(num_envs, dtype=np.int64)

    @property
    def observation_space(self) -> gym.Space[Any]:
        return self._obs_space

    def reset(self, seed: int | None = None) -> np.ndarray:
        first = [self._reset_one(i, None if seed is None else seed + i)
                 for i in range(self.num_envs)]
        self._returns[:] = 0.0
        self._lengths[:] = 0
        self._last_obs = np.array(first, dtype=self._obs_dtype)
        return self._last_obs

    def step(self, action: Any) -> ActionResult:
        arr = self._check(action)
        actions = arr.tolist() if self._discrete else list(arr)
        if self.faults is None:
            steps = [env.step(a) for env, a in zip(self.envs, actions, strict=True)]
            faults: list[str] = []
        else:
            steps, faults = self._step_guarded(actions)
        obs_list, rewards, terms, truncs, _ = zip(*steps, strict=True)
        obs = np.array(obs_list, dtype=self._obs_dtype)
        reward = np.array(rewards, dtype=np.float32)
        terminated = np.array(terms, dtype=np.bool_)
        truncated = np.array(truncs, dtype=np.bool_)
        finished = np.flatnonzero(terminated | truncated).tolist()
        self._returns += reward
        self._lengths += 1
        result = ActionResult(obs, obs, reward, terminated, truncated, faults=faults)
        if finished:
            result.next_obs = obs.copy()  # keeps the final observations
            result.episode_returns = [float(self._returns[i]) for i in finished]
            result.episode_lengths = [int(self._lengths[i]) for i in finished]
            for i in finished:
                obs[i] = self._reset_one(i, None)
                self._returns[i], self._lengths[i] = 0.0, 0
        self._last_obs = obs
        return result

    def _step_guarded(self, actions: list[Any]) -> tuple[list[Any], list[str]]:
        """Each copy's step; one that raises becomes a truncated step from its last observation
        (its new instance is reset with the others that finished)."""
        assert self.faults is not None and self._last_obs is not None
        steps, faults = [], []
        for i, (env, a) in enumerate(zip(self.envs, actions, strict=True)):
            try:
                steps.append(env.step(a))
                self.faults[i].in_a_row = 0
            except Exception as exc:
                self.envs[i], first, message = self.faults[i].recover(env, exc, "env.step")
                faults.append(f"env {i}: {message}")
                steps.append((self._last_obs[i], 0.0, False, True, {}))
                self._fresh[i] = first
        return steps, faults

    def _reset_one(self, i: int, seed: int | None) -> Any:
        if i in self._fresh:  # made anew after a fault, already reset
            return self._fresh.pop(i)
        try:
            return self.envs[i].reset(seed=seed)[0]
        except Exception as exc:
            if self.faults is None:
                raise
            self.envs[i], first, _ = self.faults[i].recover(self.envs[i], exc, "env.reset")
            return first

    def get_state(self) -> dict[str, Any] | None:
        """JSON-able state for exact resume; None when an env's state cannot be captured."""
        states = [capture_env_state(e) for e in self.envs]
        if any(s is None for s in states):
            return None
        return {"envs": states, "adapter": capture_object_state(self)}

    def set_state(self, state: dict[str, Any]) -> bool:
        if "adapter" not in state or len(state.get("envs", [])) != self.num_envs:
            return False
        self.reset()  # see GymEnv.set_state
        for env, saved in zip(self.envs, state["envs"], strict=True):
            if not restore_env_state(env, saved):
                return False
        restore_object_state(self, state["adapter"])
        return True

    def close(self) -> None:
        for env in self.envs:
            env.close()
