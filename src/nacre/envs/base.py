"""The environment contract nacre's loops and agents use: batched, reset-on-done.

An :class:`Env` always has ``num_envs = B`` parallel copies (B = 1 for one environment) and
returns :class:`ActionResult` batches. When an episode ends, ``next_obs`` holds its true final
observation (so truncated episodes bootstrap correctly) and ``obs`` already holds the first
observation of the next episode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from nacre.spaces import ActionSpace, AvailableActions


@dataclass
class ActionResult:
    """One step of ``B`` environments.

    Attributes:
        obs: ``[B, ...]`` observations to act on next (first obs of a new episode where one ended).
        next_obs: ``[B, ...]`` true next observations (the final one where an episode ended).
        reward: ``[B]`` float32.
        terminated: ``[B]`` bool, the episode reached a terminal state (no bootstrap).
        truncated: ``[B]`` bool, the episode was cut (time limit): bootstrap from ``next_obs``.
        valid: ``[B]`` bool or None; False marks steps that are not real transitions (the reset
            step of Gymnasium's NEXT_STEP autoreset mode).
        available: the actions available at ``obs`` (None: all of them).
        final_available: where an episode ended, the actions available at its final observation
            (``next_obs``), which a truncated transition bootstraps over; None when no episode
            ended or the environment says nothing of it (rows of copies still running repeat
            ``available``).
        cost: ``[B]`` safety costs, when the environment reports them.
        regret: ``[B]`` expected regret of the actions just taken (best available expected
            reward minus the chosen action's), when the environment knows it (bandit envs).
        episode_returns / episode_lengths: returns and lengths of the episodes that ended here.
        faults: messages of the environment faults survived in this step (see
            :mod:`nacre.envs.faults`); each ended its episode as truncated.
    """

    obs: np.ndarray
    next_obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    valid: np.ndarray | None = None
    available: AvailableActions | None = None
    final_available: AvailableActions | None = None
    cost: np.ndarray | None = None
    regret: np.ndarray | None = None
    episode_returns: Sequence[float] = ()
    episode_lengths: Sequence[int] = ()
    faults: Sequence[str] = ()


@runtime_checkable
class Env(Protocol):
    """What nacre needs from an environment; :func:`nacre.make_env` adapts Gymnasium to it.

    Attributes:
        num_envs: ``B``, the decisions made per step.
        action_space: the actions of each decision.
        one_step: every step ends every episode (contextual bandits): nothing bootstraps, and
            the training loop reports bandit metrics.
        available: the actions available at the observations :meth:`reset` returned (None:
            all of them); later steps report theirs in :attr:`ActionResult.available`.
    """

    num_envs: int
    action_space: ActionSpace

    @property
    def one_step(self) -> bool: ...

    @property
    def available(self) -> AvailableActions | None: ...

    @property
    def observation_space(self) -> Any: ...

    def reset(self, seed: int | None = None) -> np.ndarray: ...

    def step(self, action: Any) -> ActionResult: ...

    def get_state(self) -> dict[str, Any] | None:
        """JSON state for an exact resume mid-episode (None: this env cannot be captured)."""
        ...

    def set_state(self, state: dict[str, Any]) -> bool:
        """Restore :meth:`get_state`'s state; False when it does not fit this env."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class CatalogueEnv(Protocol):
    """A Gymnasium environment whose per-step candidates are items of a fixed catalogue.

    Each step's ``info["candidates"]`` (see :mod:`nacre.envs.dynamic`) names the catalogue rows
    the action slots hold; nacre's adapters find the catalogue on ``env.unwrapped`` and give the
    agent ``DiscreteActionSpace(n, catalogue=...)``, so buffers store item ids, not features.

    Attributes:
        catalogue: ``[N, d]`` float32, the features of the ``N`` items.
    """

    catalogue: np.ndarray
