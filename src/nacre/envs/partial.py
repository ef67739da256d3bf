"""Partial observability: hide parts of an observation, or most observations.

Pearl (Zhu et al. 2024, "Pearl: A Production-Ready Reinforcement Learning Agent", §5 and
Fig. 6a) tests history summarizers on classic-control tasks whose velocities are hidden: one
observation no longer determines the state, the agent must infer velocities from several. The
hardest variant also shows an observation only every ``n`` steps, zeros in between.

:class:`PartialObservation` keeps chosen components of a 1-D ``Box`` observation and, with
``every > 1``, replaces all but every ``every``-th observation by zeros. :data:`VELOCITY_FREE`
lists the components without velocities of Gymnasium's classic-control tasks; nacre registers
them as ``nacre/<Task>-PO-v0`` (:mod:`nacre.envs.registration`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import RecordConstructorArgs

from nacre.errors import SpaceError

# Components that are positions or angles, by Gymnasium id (the others are velocities).
VELOCITY_FREE: dict[str, tuple[int, ...]] = {
    "CartPole-v1": (0, 2),  # x, θ of [x, ẋ, θ, θ̇]
    "Acrobot-v1": (0, 1, 2, 3),  # cos θ1, sin θ1, cos θ2, sin θ2 of [..., θ̇1, θ̇2]
    "Pendulum-v1": (0, 1),  # cos θ, sin θ of [cos θ, sin θ, θ̇]
    "MountainCar-v0": (0,),  # position of [position, velocity]
    "MountainCarContinuous-v0": (0,),
}


class PartialObservation(
    gym.ObservationWrapper[np.ndarray, Any, np.ndarray], RecordConstructorArgs
):
    """The components ``keep`` of a 1-D ``Box`` observation (all of them when None), shown at
    reset and then every ``every`` steps; the steps in between observe zeros.

    Zeros rather than repeating the last observation, as in Pearl: a repeated observation would
    look like a stopped system. The space is widened to contain 0 where it does not.

    Example:
        >>> env = PartialObservation(gym.make("Acrobot-v1"), keep=(0, 1, 2, 3), every=2)
        >>> env.observation_space.shape
        (4,)
        >>> obs, _ = env.reset(seed=0)
        >>> bool(obs.any()), bool(env.step(0)[0].any()), bool(env.step(0)[0].any())
        (True, False, True)
    """

    def __init__(self, env: gym.Env[Any, Any], keep: Sequence[int] | None = None,
                 every: int = 1) -> None:
        RecordConstructorArgs.__init__(self, keep=keep, every=every)
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        if not (isinstance(space, gym.spaces.Box) and len(space.shape) == 1):
            raise SpaceError(f"PartialObservation needs a 1-D Box observation space, got {space}")
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.keep = np.arange(space.shape[0]) if keep is None else np.asarray(keep, np.int64)
        if self.keep.ndim != 1 or not np.all((self.keep >= 0) & (self.keep < space.shape[0])):
            raise ValueError(f"keep must index the {space.shape[0]} components of {space}, "
                             f"got {keep}")
        self.every = int(every)
        low, high = space.low[self.keep], space.high[self.keep]
        if self.every > 1:
            low, high = np.minimum(low, 0), np.maximum(high, 0)
        self.observation_space = gym.spaces.Box(low, high, dtype=space.dtype)  # type: ignore[arg-type]
        self.t = 0  # steps since reset: the observation is shown when t % every == 0

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        self.t = 0
        return super().reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[np.ndarray, Any, bool, bool, dict[str, Any]]:
        self.t += 1
        return super().step(action)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        kept = np.asarray(observation)[self.keep]
        return kept if self.t % self.every == 0 else np.zeros_like(kept)


def without_velocities(env_id: str, every: int = 1, **kwargs: Any) -> PartialObservation:
    """``gymnasium.make(env_id, **kwargs)`` with its velocities hidden (:data:`VELOCITY_FREE`)
    and, with ``every > 1``, an observation every ``every`` steps only."""
    if env_id not in VELOCITY_FREE:
        raise ValueError(f"no velocity-free components known for {env_id!r}; known: "
                         f"{', '.join(VELOCITY_FREE)} (or wrap it in PartialObservation)")
    return PartialObservation(gym.make(env_id, **kwargs), VELOCITY_FREE[env_id], every)


__all__ = ["VELOCITY_FREE", "PartialObservation", "without_velocities"]
