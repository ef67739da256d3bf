"""Action spaces and per-step candidate sets.

A :class:`DiscreteActionSpace` has ``n`` actions (``K_max`` when candidate sets vary per step),
optionally with a feature vector per action. Per-step availability travels as
:class:`AvailableActions`: a ``[B, K]`` boolean mask plus optional ``[B, K, d_a]`` features. The
shapes are fixed from the start so dynamic action sets (Pearl's "dynamic action spaces") never
change the data contract.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from nacre.errors import SpaceError


@dataclass(frozen=True, eq=False)
class DiscreteActionSpace:
    """``n`` discrete actions; ``features`` ([n, d_a]) describes each action when given."""

    n: int
    features: Tensor | None = None

    def __post_init__(self) -> None:
        if self.n < 1:
            raise SpaceError(f"DiscreteActionSpace.n must be >= 1, got {self.n}")
        if self.features is not None and (
            self.features.ndim != 2 or self.features.shape[0] != self.n
        ):
            raise SpaceError(
                f"DiscreteActionSpace.features must have shape [n={self.n}, d_a], "
                f"got {tuple(self.features.shape)}"
            )

    @property
    def action_dim(self) -> int | None:
        return None if self.features is None else int(self.features.shape[1])


@dataclass(frozen=True, eq=False)
class BoxActionSpace:
    """Continuous actions in ``[low, high]`` (element-wise)."""

    low: Tensor
    high: Tensor

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.low.shape)

    def to_env(self, action: Tensor) -> Tensor:
        """Map policy actions in ``[-1, 1]`` to ``[low, high]``, clipping what falls outside.

        nacre's continuous policies act in the normalized box ``[-1, 1]^d``; this is the one
        place actions are scaled to the environment's units (and the buffers keep the
        unclipped, normalized action the policy actually sampled).
        """
        low, high = self.low.to(action.device), self.high.to(action.device)
        scaled = low + (action.clamp(-1.0, 1.0) + 1.0) * (0.5 * (high - low))
        return torch.maximum(torch.minimum(scaled, high), low)  # rounding can overshoot 1 ulp

    def from_env(self, action: Tensor) -> Tensor:
        """The inverse of :meth:`to_env` for actions inside the box (e.g. logged data)."""
        low, high = self.low.to(action.device), self.high.to(action.device)
        return (action - low) / (0.5 * (high - low)) - 1.0


ActionSpace = DiscreteActionSpace | BoxActionSpace


@dataclass(frozen=True, eq=False)
class AvailableActions:
    """Which of the ``K`` actions each of the ``B`` decisions may take this step.

    ``mask`` is ``[B, K]`` bool (True = available); ``features`` optionally ``[B, K, d_a]``.
    """

    mask: Tensor
    features: Tensor | None = None


def _require_zero_start(space: gym.spaces.Discrete, what: str) -> None:
    if int(space.start) != 0:
        raise SpaceError(
            f"Discrete {what} spaces must start at 0, got start={space.start}; "
            f"wrap the env to shift {what}s"
        )


def from_gym_action_space(space: gym.Space[object]) -> ActionSpace:
    """Convert a Gymnasium action space, refusing the ones nacre cannot act in."""
    if isinstance(space, gym.spaces.Discrete):
        _require_zero_start(space, "action")
        return DiscreteActionSpace(int(space.n))
    if isinstance(space, gym.spaces.Box):
        if not np.all(np.isfinite(space.low)) or not np.all(np.isfinite(space.high)):
            raise SpaceError("Box action spaces must have finite bounds")
        return BoxActionSpace(
            torch.as_tensor(space.low, dtype=torch.float32),
            torch.as_tensor(space.high, dtype=torch.float32),
        )
    raise SpaceError(
        f"unsupported action space {space!r}: nacre supports Discrete and Box action spaces"
    )


def check_observation_space(space: gym.Space[object]) -> None:
    """Refuse observation spaces nacre cannot store in ring tensors."""
    if isinstance(space, gym.spaces.Discrete):
        _require_zero_start(space, "observation")
        return
    if isinstance(space, gym.spaces.Box):
        return
    raise SpaceError(
        f"unsupported observation space {space!r}: nacre supports Box and Discrete observations "
        "(flatten Dict/Tuple observations with gymnasium.wrappers.FlattenObservation)"
    )
