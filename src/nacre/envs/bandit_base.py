"""What nacre's contextual-bandit environments share (:mod:`nacre.envs.bandits`).

:class:`BanditBase` holds the batch of ``B`` one-step decisions: the action space and the
current candidate mask, the validation of chosen actions (through the Gymnasium adapter's
:class:`~nacre.envs.checks.ActionCheck`, plus availability), the named random streams seeded in
``reset`` and their JSON state (:func:`nacre.envs.state.generator_state`), and the
:class:`~nacre.envs.base.ActionResult` of a step.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from nacre.envs.base import ActionResult
from nacre.envs.checks import ActionCheck
from nacre.envs.state import generator_from_state, generator_state
from nacre.errors import ConfigError, InputError
from nacre.spaces import ActionSpace, AvailableActions, DiscreteActionSpace

_STREAMS = ("contexts", "noise", "drift", "available")


class BanditBase:
    """What both bandit envs share: batching, action checks, streams and state capture."""

    one_step = True

    def __init__(
        self, n_actions: int, context_dim: int, num_envs: int, features: torch.Tensor | None
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) or (
            num_envs < 1
        ):
            raise ConfigError(f"env.num_envs must be an integer >= 1, got {num_envs!r}")
        self.num_envs = int(num_envs)
        space = DiscreteActionSpace(n_actions, features=features)
        self.action_space: ActionSpace = space
        self._check = ActionCheck(space, self.num_envs)  # shape, integer kind, range
        self.available: AvailableActions | None = None
        self._n = n_actions
        self._obs_space = gym.spaces.Box(-np.inf, np.inf, shape=(context_dim,), dtype=np.float32)
        self._rngs: dict[str, np.random.Generator] | None = None
        self._mask: np.ndarray | None = None  # [B, K] bool; None when every arm is available
        self._batch = np.arange(self.num_envs)
        # Every step ends every episode: share read-only flags instead of allocating them.
        self._terminated = np.ones(self.num_envs, dtype=np.bool_)
        self._truncated = np.zeros(self.num_envs, dtype=np.bool_)
        self._terminated.setflags(write=False)
        self._truncated.setflags(write=False)

    @property
    def observation_space(self) -> gym.spaces.Box:
        return self._obs_space

    def close(self) -> None:
        pass

    def _reseed(self, seed: int | None) -> None:
        if seed is not None or self._rngs is None:
            children = np.random.SeedSequence(seed).spawn(len(_STREAMS))
            self._rngs = {k: np.random.default_rng(c) for k, c in zip(_STREAMS, children,
                                                                       strict=True)}

    def _stream(self, name: str) -> np.random.Generator:
        if self._rngs is None:
            raise InputError("step", "call reset() before step()")
        return self._rngs[name]

    def _check_action(self, action: Any) -> np.ndarray:
        if self._rngs is None:
            raise InputError("step", "call reset() before step()")
        if self.num_envs == 1 and self._mask is None and isinstance(action, torch.Tensor) and (
                action.shape == (1,) and not action.is_floating_point()):
            a = int(action)  # one decision from an agent: skip the array checks (≈ 5 µs)
            if not 0 <= a < self._n:
                raise InputError("action", f"expected an integer in [0, {self._n}), got {a}")
            return np.array([a], dtype=np.int64)
        arr = self._check(action).astype(np.int64, copy=False)
        if self._mask is not None:
            ok = self._mask[self._batch, arr]
            if not ok.all():
                bad = np.flatnonzero(~ok)
                raise InputError(
                    "action", f"actions {arr[bad].tolist()} at batch rows {bad.tolist()} are "
                    "not available (see env.available / ActionResult.available)"
                )
        return arr

    def _available(self) -> AvailableActions | None:
        if self._mask is None:
            return None
        return AvailableActions(mask=torch.from_numpy(self._mask.copy()))

    def _result(
        self, obs: np.ndarray, reward: np.ndarray, regret: np.ndarray
    ) -> ActionResult:
        reward = reward.astype(np.float32, copy=False)
        return ActionResult(
            obs=obs,
            next_obs=obs,
            reward=reward,
            terminated=self._terminated,
            truncated=self._truncated,
            regret=regret.astype(np.float32, copy=False),
            available=self.available,
            episode_returns=reward.tolist(),
            episode_lengths=[1] * self.num_envs,
        )

    def _rng_state(self) -> dict[str, Any] | None:
        if self._rngs is None:
            return None
        return {k: generator_state(g) for k, g in self._rngs.items()}

    @staticmethod
    def _rngs_from(saved: dict[str, Any] | None) -> dict[str, np.random.Generator] | None:
        """The streams :meth:`_rng_state` described (raises KeyError / TypeError if malformed)."""
        return None if saved is None else {k: generator_from_state(saved[k]) for k in _STREAMS}


__all__ = ["BanditBase"]
