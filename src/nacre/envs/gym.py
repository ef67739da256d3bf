"""Gymnasium adapters: one env (B = 1) and Gymnasium vector envs (:func:`nacre.make_env` builds
them by registered id).

Both adapters reset finished episodes in the same step (the agent sees the true final observation
in ``next_obs`` and the new episode's first observation in ``obs``). Vector envs created by nacre
use Gymnasium's SAME_STEP autoreset; vector envs passed in may also use NEXT_STEP, whose extra
reset step is marked ``valid=False`` so it is never learned from. Other modes are refused.

Both read the actions available at each observation from the info keys of
:mod:`nacre.envs.dynamic` (``info["action_mask"]``, ``info["candidates"]``,
``info["candidate_features"]``, or a Dict observation's ``"action_mask"``) into
:attr:`available` and :attr:`ActionResult.available <nacre.envs.base.ActionResult>`, and refuse
an action outside them.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from nacre.envs.base import ActionResult
from nacre.envs.checks import ActionCheck
from nacre.envs.dynamic import (
    AVAILABILITY_KEYS,
    AvailabilityReader,
    find_catalogue,
    vector_catalogue,
)
from nacre.envs.faults import FATAL_INFO, FAULT_INFO, fault_messages
from nacre.envs.state import (
    capture_env_state,
    capture_object_state,
    restore_env_state,
    restore_object_state,
)
from nacre.errors import ConfigError, EnvFaultError, InputError
from nacre.spaces import AvailableActions, DiscreteActionSpace, observation_batch, storage_space


class GymEnv:
    """One Gymnasium environment presented as a batch of one. Wrapped in
    :class:`~nacre.envs.faults.FaultTolerant`, its faults come back in
    :attr:`ActionResult.faults <nacre.envs.base.ActionResult>`."""

    num_envs = 1
    one_step = False

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        self._reader = AvailabilityReader(env.observation_space, env.action_space, 1,
                                          find_catalogue(env))
        self._raw_space = self._reader.observation_space
        self._obs_space = storage_space(self._raw_space)
        self.env = env
        self.action_space = self._reader.action_space(env.action_space)
        self._check = ActionCheck(self.action_space, 1, env.action_space.dtype)
        self._discrete_action = isinstance(self.action_space, DiscreteActionSpace)
        self._n = self.action_space.n if isinstance(self.action_space, DiscreteActionSpace) else 0
        self._ep_return = 0.0
        self._ep_length = 0

    @property
    def observation_space(self) -> gym.Space[Any]:
        return self._obs_space

    @property
    def available(self) -> AvailableActions | None:
        """The actions available at the last observation (None: all of them)."""
        return self._reader.current

    def reset(self, seed: int | None = None) -> np.ndarray:
        obs, info = self.env.reset(seed=seed)
        self._ep_return, self._ep_length = 0.0, 0
        return self._observe(obs, info)

    def _observe(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        """The observation as a batch of one; reads what is available at it."""
        obs, mask = self._reader.split(obs)
        row = self._reader.info_row(info, mask)
        if row is not None or self._reader.current is not None:
            self._reader.read([row])
        return observation_batch(self._raw_space, obs, batched=False)

    def step(self, action: Any) -> ActionResult:
        if self._discrete_action and isinstance(action, torch.Tensor) and action.shape == (1,):
            a = int(action)  # fast path for the agent's own actions
            if not 0 <= a < self._n:
                raise InputError("action", f"expected an integer in [0, {self._n}), got {a}")
        else:
            arr = self._check(action)
            a = int(arr[0]) if self._discrete_action else arr[0]
        if self._reader.current is not None:
            self._reader.check(np.array([a]))
        obs, reward, terminated, truncated, info = self.env.step(a)
        next_obs = self._observe(obs, info)
        self._ep_return += float(reward)
        self._ep_length += 1
        result = ActionResult(
            obs=next_obs,
            next_obs=next_obs,
            reward=np.array([reward], dtype=np.float32),
            terminated=np.array([terminated]),
            truncated=np.array([truncated]),
        )
        if info:
            result.faults = fault_messages(info)
            if "cost" in info:
                result.cost = np.array([info["cost"]], dtype=np.float32)
        if terminated or truncated:
            result.episode_returns = [self._ep_return]
            result.episode_lengths = [self._ep_length]
            result.final_available = self._reader.current  # read from the step's info
            result.obs = self.reset()
        result.available = self._reader.current
        return result

    def get_state(self) -> dict[str, Any] | None:
        """JSON-able state for exact resume (see :mod:`nacre.envs.state`); None if unsupported."""
        state = capture_env_state(self.env)
        if state is None:
            return None
        return {"env": state, "episode": [self._ep_return, self._ep_length],
                "available": self._reader.state()}

    def set_state(self, state: dict[str, Any]) -> bool:
        # Restored into a reset env, so that what reset creates (CartPole's ``state`` array) has
        # the dtype and shape the saved values must keep.
        self.reset()
        if not restore_env_state(self.env, state["env"]):
            return False
        self._ep_return, self._ep_length = float(state["episode"][0]), int(state["episode"][1])
        self._reader.restore(state.get("available"))  # what the env's last info reported
        return True

    def close(self) -> None:
        self.env.close()


def _faults(info: dict[str, Any]) -> list[str]:
    """Faults the copies of a Gymnasium vector env survived
    (:class:`~nacre.envs.faults.FaultTolerant`, gathered per copy with masks): a step's are in
    the info of the episode it ended (``final_info`` under SAME_STEP autoreset), a reset's in
    the step's own. A copy that gave up raises :class:`EnvFaultError` here."""
    found = []
    for where in (info, info.get("final_info", {})):
        for i in np.flatnonzero(where.get("_" + FATAL_INFO, ())):
            raise EnvFaultError(f"env {i}: {where[FATAL_INFO][i]}")
        found += [(int(i), where[FAULT_INFO][i])
                  for i in np.flatnonzero(where.get("_" + FAULT_INFO, ()))]
    return [f"env {i}: {message}" for i, message in sorted(found)]


def _costs(info: dict[str, Any], num_envs: int) -> np.ndarray | None:
    """The copies' ``info["cost"]`` (0 where a copy reported none), or None when none did. The
    cost of a step that ended an episode is in ``final_info`` under SAME_STEP autoreset (the
    step's own info holds the reset's there)."""
    parts = [where for where in (info, info.get("final_info", {})) if "_cost" in where]
    if not parts:
        return None
    cost = np.zeros(num_envs, dtype=np.float32)
    for where in parts:
        mask = np.asarray(where["_cost"], dtype=np.bool_)
        cost[mask] = np.asarray(where["cost"], dtype=np.float32)[mask]
    return cost


class GymVectorEnv:
    """A Gymnasium ``VectorEnv`` (SAME_STEP or NEXT_STEP autoreset) as a nacre env.

    ``catalogue``: the ``[N, d]`` features of the items ``info["candidates"]`` name (see
    :mod:`nacre.envs.dynamic`); by default the one the copies declare
    (:class:`~nacre.envs.base.CatalogueEnv`), if they do."""

    one_step = False

    def __init__(self, env: gym.vector.VectorEnv, catalogue: np.ndarray | None = None) -> None:
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        mode = AutoresetMode(mode) if isinstance(mode, str) else mode
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ConfigError(
                f"vector env autoreset_mode {mode} is not supported: use "
                "AutoresetMode.NEXT_STEP or AutoresetMode.SAME_STEP"
            )
        if catalogue is None:
            catalogue = vector_catalogue(env)
        self.num_envs = int(env.num_envs)
        self._reader = AvailabilityReader(env.single_observation_space, env.single_action_space,
                                          self.num_envs, catalogue)
        self._raw_space = self._reader.observation_space
        self._obs_space = storage_space(self._raw_space)
        self.env = env
        self.mode = mode
        self.action_space = self._reader.action_space(env.single_action_space)
        self._check = ActionCheck(self.action_space, self.num_envs,
                                  env.single_action_space.dtype)
        self._returns = np.zeros(self.num_envs)
        self._lengths = np.zeros(self.num_envs, dtype=np.int64)
        self._resetting = np.zeros(self.num_envs, dtype=np.bool_)

    @property
    def observation_space(self) -> gym.Space[Any]:
        return self._obs_space

    @property
    def available(self) -> AvailableActions | None:
        """The actions available at the last observations (None: all of them)."""
        return self._reader.current

    def reset(self, seed: int | None = None) -> np.ndarray:
        obs, info = self.env.reset(seed=seed)
        self._returns[:] = 0.0
        self._lengths[:] = 0
        self._resetting[:] = False
        obs, masks = self._reader.split(obs)
        self._read(info, masks)
        return observation_batch(self._raw_space, obs, batched=True)

    def _read(self, info: dict[str, Any], masks: np.ndarray | None) -> AvailableActions | None:
        """What is available at the observations returned with ``info``: a step's info holds
        the reset's for copies that were reset (both autoreset modes)."""
        if masks is None and not any(key in info for key in AVAILABILITY_KEYS):
            return self._reader.read(())
        return self._reader.read(self._reader.vector_rows(info, masks))

    def _final(self, info: dict[str, Any], masks: np.ndarray | None, done: np.ndarray,
               final_masks: dict[int, np.ndarray | None]) -> AvailableActions | None:
        """What was available at the final observations of the copies that ended (SAME_STEP:
        their step's info is in ``final_info``, the step's own holds the reset's)."""
        if masks is None and not any(key in info for key in AVAILABILITY_KEYS):
            return None
        rows = self._reader.vector_rows(info, masks)
        ended = self._reader.vector_rows(info.get("final_info", {}), None)
        for i in np.flatnonzero(done):
            row, mask = ended[int(i)], final_masks.get(int(i))
            rows[int(i)] = row if mask is None else (mask, *(row or (None, None, None))[1:])
        return self._reader.read(rows)

    def step(self, action: Any) -> ActionResult:
        arr = self._check(action)
        if self._reader.current is not None:  # a resetting copy's action is ignored
            self._reader.check(arr, self._resetting if self.mode == AutoresetMode.NEXT_STEP
                               else None)
        obs, reward, terminated, truncated, info = self.env.step(arr)
        faults = _faults(info)
        obs, masks = self._reader.split(obs)
        obs = observation_batch(self._raw_space, obs, batched=True)
        terminated = np.asarray(terminated, dtype=np.bool_)
        truncated = np.asarray(truncated, dtype=np.bool_)
        reward = np.asarray(reward, dtype=np.float32)
        done = terminated | truncated
        next_obs = obs
        valid = None
        final_available = None
        if self.mode == AutoresetMode.SAME_STEP and done.any():
            next_obs = obs.copy()
            final = info["final_obs"]
            final_masks = {}
            for i in np.flatnonzero(done):
                final_obs, final_masks[int(i)] = self._reader.split(final[i])
                next_obs[i] = observation_batch(self._raw_space, final_obs, batched=False)[0]
            final_available = self._final(info, masks, done, final_masks)
        elif self.mode == AutoresetMode.NEXT_STEP:
            valid = ~self._resetting
            reward = np.where(valid, reward, np.float32(0.0)).astype(np.float32)
            self._resetting = done.copy()
        live = np.ones(self.num_envs, np.bool_) if valid is None else valid
        self._returns += np.where(live, reward, 0.0)
        self._lengths += live
        result = ActionResult(obs, next_obs, reward, terminated, truncated, valid=valid,
                              cost=_costs(info, self.num_envs), faults=faults,
                              available=self._read(info, masks),
                              final_available=final_available)
        finished = np.flatnonzero(done)
        if finished.size:
            result.episode_returns = [float(self._returns[i]) for i in finished]
            result.episode_lengths = [int(self._lengths[i]) for i in finished]
            self._returns[finished], self._lengths[finished] = 0.0, 0
        return result

    def get_state(self) -> dict[str, Any] | None:
        """JSON-able state for exact resume; None for subprocess (async) vector envs."""
        if not isinstance(self.env, gym.vector.SyncVectorEnv):
            return None
        states = [capture_env_state(e) for e in self.env.envs]
        if any(s is None for s in states):
            return None
        return {
            "envs": states,
            "vector": capture_object_state(self.env),
            "adapter": capture_object_state(self),
            "available": self._reader.state(),
        }

    def set_state(self, state: dict[str, Any]) -> bool:
        if not isinstance(self.env, gym.vector.SyncVectorEnv):
            return False
        self.reset()  # see GymEnv.set_state
        for env, saved in zip(self.env.envs, state["envs"], strict=True):
            if not restore_env_state(env, saved):
                return False
        restore_object_state(self.env, state["vector"])
        restore_object_state(self, state["adapter"])
        self._reader.restore(state.get("available"))
        return True

    def close(self) -> None:
        self.env.close()
