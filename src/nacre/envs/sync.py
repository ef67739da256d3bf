"""``B`` Gymnasium environments stepped in one process, written straight into batch arrays.

Gymnasium's ``SyncVectorEnv`` merges per-env info dicts and copies observations on every step,
which costs about as much as stepping eight CartPoles. nacre's own loop steps each env, writes
its observation into a preallocated ``[B, ...]`` array and resets finished episodes in the same
step (the final observation goes to ``next_obs``): the SAME_STEP contract of
:class:`~nacre.envs.base.ActionResult`, at ≈ the cost of the env steps themselves. Seeding
matches Gymnasium's (``reset(seed=s)`` seeds env ``i`` with ``s + i``). The actions available
at each observation are read as :mod:`nacre.envs.dynamic` describes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from nacre.envs.base import ActionResult
from nacre.envs.checks import ActionCheck
from nacre.envs.dynamic import AvailabilityReader, Row, find_catalogue
from nacre.envs.faults import FaultTolerant, fault_messages
from nacre.envs.state import (
    capture_env_state,
    capture_object_state,
    restore_env_state,
    restore_object_state,
)
from nacre.spaces import (
    AvailableActions,
    DiscreteActionSpace,
    StructuredBox,
    observation_batch,
    storage_space,
)


class SyncEnvs:
    """``num_envs`` copies of an environment stepped sequentially as one batch.

    With ``max_faults > 0``, each copy is wrapped in :class:`~nacre.envs.faults.FaultTolerant`:
    an exception in one copy's ``step`` or ``reset`` ends that copy's episode as truncated and
    only that copy is made anew."""

    one_step = False

    def __init__(self, make: Callable[[], gym.Env[Any, Any]], num_envs: int,
                 max_faults: int = 0) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.envs = [FaultTolerant(make(), make, max_faults) if max_faults else make()
                     for _ in range(num_envs)]
        first = self.envs[0]
        self._reader = AvailabilityReader(first.observation_space, first.action_space, num_envs,
                                          find_catalogue(first))
        self._raw_space = self._reader.observation_space
        self._obs_space = storage_space(self._raw_space)
        self.num_envs = num_envs
        self.action_space = self._reader.action_space(first.action_space)
        self._check = ActionCheck(self.action_space, num_envs, first.action_space.dtype)
        self._discrete = isinstance(self.action_space, DiscreteActionSpace)
        self._structured = isinstance(self._obs_space, StructuredBox)
        discrete_obs = isinstance(self._obs_space, gym.spaces.Discrete)
        self._obs_dtype = np.dtype(np.int64) if discrete_obs else np.dtype(self._obs_space.dtype)
        self._returns = np.zeros(num_envs)
        self._lengths = np.zeros(num_envs, dtype=np.int64)

    @property
    def observation_space(self) -> gym.Space[Any]:
        return self._obs_space

    @property
    def available(self) -> AvailableActions | None:
        """The actions available at the last observations (None: all of them)."""
        return self._reader.current

    def reset(self, seed: int | None = None) -> np.ndarray:
        first = [env.reset(seed=None if seed is None else seed + i)
                 for i, env in enumerate(self.envs)]
        self._returns[:] = 0.0
        self._lengths[:] = 0
        obs, rows = self._split(first)
        self._reader.read(rows)
        return self._stack(obs)

    def _split(self, pairs: Any) -> tuple[list[Any], list[Row | None]]:
        """The observations of ``(obs, info, …)`` tuples without their masks, and what each
        copy reports available there."""
        reader = self._reader
        if reader.mask_in_obs:
            split = [reader.split(pair[0]) for pair in pairs]
            return ([o for o, _ in split], [reader.info_row(pair[-1], mask) for pair, (_, mask)
                                            in zip(pairs, split, strict=True)])
        return [pair[0] for pair in pairs], [reader.info_row(pair[-1]) for pair in pairs]

    def _stack(self, obs: Any) -> np.ndarray:
        if self._structured:  # Dict / Tuple observations, flattened one by one
            return np.concatenate([observation_batch(self._raw_space, o, batched=False)
                                   for o in obs])
        return np.array(obs, dtype=self._obs_dtype)

    def step(self, action: Any) -> ActionResult:
        arr = self._check(action)
        if self._reader.current is not None:
            self._reader.check(arr)
        actions = arr.tolist() if self._discrete else list(arr)
        steps = [env.step(a) for env, a in zip(self.envs, actions, strict=True)]
        _, rewards, terms, truncs, infos = zip(*steps, strict=True)
        faults = [f"env {i}: {m}" for i, info in enumerate(infos) if info
                  for m in fault_messages(info)]
        obs_list, rows = self._split(steps)
        obs = self._stack(obs_list)
        reward = np.array(rewards, dtype=np.float32)
        terminated = np.array(terms, dtype=np.bool_)
        truncated = np.array(truncs, dtype=np.bool_)
        finished = np.flatnonzero(terminated | truncated).tolist()
        self._returns += reward
        self._lengths += 1
        result = ActionResult(obs, obs, reward, terminated, truncated, faults=faults)
        if any("cost" in info for info in infos):  # 0 for a copy without one (a fault's step)
            result.cost = np.array([info.get("cost", 0.0) for info in infos], dtype=np.float32)
        if finished:
            final_rows = list(rows)  # what the final observations offered
            result.next_obs = obs.copy()  # keeps the final observations
            result.episode_returns = [float(self._returns[i]) for i in finished]
            result.episode_lengths = [int(self._lengths[i]) for i in finished]
            for i in finished:
                first, rows[i:i + 1] = self._split([self.envs[i].reset()])
                obs[i] = self._stack(first)[0]
                self._returns[i], self._lengths[i] = 0.0, 0
            result.final_available = self._reader.read(final_rows)
        result.available = self._reader.read(rows)
        return result

    def get_state(self) -> dict[str, Any] | None:
        """JSON-able state for exact resume; None when an env's state cannot be captured."""
        states = [capture_env_state(e) for e in self.envs]
        if any(s is None for s in states):
            return None
        return {"envs": states, "adapter": capture_object_state(self),
                "available": self._reader.state()}

    def set_state(self, state: dict[str, Any]) -> bool:
        if "adapter" not in state or len(state.get("envs", [])) != self.num_envs:
            return False
        self.reset()  # see GymEnv.set_state
        for env, saved in zip(self.envs, state["envs"], strict=True):
            if not restore_env_state(env, saved):
                return False
        restore_object_state(self, state["adapter"])
        self._reader.restore(state.get("available"))
        return True

    def close(self) -> None:
        for env in self.envs:
            env.close()
