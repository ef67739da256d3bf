"""Action spaces and per-step candidate sets.

A :class:`DiscreteActionSpace` has ``n`` actions (``K_max`` when candidate sets vary per step),
optionally with a feature vector per action. Per-step availability travels as
:class:`AvailableActions`: a ``[B, K]`` boolean mask plus optional ``[B, K, d_a]`` features. The
shapes are fixed from the start so dynamic action sets (Pearl's "dynamic action spaces") never
change the data contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from nacre.errors import SpaceError


@dataclass(frozen=True, eq=False)
class DiscreteActionSpace:
    """``n`` discrete actions; ``features`` ([n, d_a]) describes each action when given.

    ``catalogue`` ([N, d_a]): the features of the ``N`` items that per-step candidate sets are
    drawn from (a recommender's catalogue), held once; each step's
    :attr:`AvailableActions.items` says which item each of the ``n`` slots holds.
    """

    n: int
    features: Tensor | None = None
    catalogue: Tensor | None = None

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
        if self.catalogue is not None and self.catalogue.ndim != 2:
            raise SpaceError(f"DiscreteActionSpace.catalogue must have shape [N, d_a], got "
                             f"{tuple(self.catalogue.shape)}")

    @property
    def action_dim(self) -> int | None:
        table = self.features if self.features is not None else self.catalogue
        return None if table is None else int(table.shape[1])


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


@dataclass(frozen=True, eq=False)
class MultiDiscreteActionSpace:
    """``len(nvec)`` discrete choices made together (Gymnasium's ``MultiDiscrete``, or
    ``MultiBinary`` when ``binary``): an action is ``[k]`` integers, ``action[i]`` in
    ``[0, nvec[i])``. Policies over it are factored: one categorical head per choice, the
    probability of an action the product of its choices' probabilities."""

    nvec: tuple[int, ...]
    binary: bool = False

    def __post_init__(self) -> None:
        if not self.nvec or min(self.nvec) < 1:
            raise SpaceError(f"MultiDiscreteActionSpace.nvec must be non-empty, each >= 1, got "
                             f"{self.nvec}")

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.nvec),)


ActionSpace = DiscreteActionSpace | BoxActionSpace | MultiDiscreteActionSpace


class ActionFeatures:
    """The actions of ``space`` as ``width`` features in ``[low, high]``, for a history
    summarizer that keeps the agent's past actions next to its observations (``actions: true``;
    Pearl's history module reads (observation, action) pairs): one-hot for Discrete (the
    action's slot), the normalized action clipped to ``[-1, 1]`` for Box, one one-hot block per
    choice for MultiDiscrete. In a partially observed task the agent's own past pushes tell it
    which way the system is moving, not only where it is."""

    def __init__(self, space: ActionSpace) -> None:
        self.space = space
        if isinstance(space, DiscreteActionSpace):
            self.width, self.low = space.n, 0.0
        elif isinstance(space, BoxActionSpace):
            self.width, self.low = int(np.prod(space.shape)), -1.0
        else:
            self.width, self.low = sum(space.nvec), 0.0
        self.high = 1.0

    def encode(self, action: Tensor) -> Tensor:
        """``[N]`` (Discrete), ``[N, d]`` (Box) or ``[N, k]`` (MultiDiscrete) actions as
        ``[N, width]`` float32 features."""
        space = self.space
        if isinstance(space, DiscreteActionSpace):
            return torch.nn.functional.one_hot(action.long().reshape(-1), space.n).float()
        if isinstance(space, BoxActionSpace):
            return action.float().reshape(action.shape[0], -1).clamp(-1.0, 1.0)
        return torch.cat([torch.nn.functional.one_hot(action[:, i].long(), n).float()
                          for i, n in enumerate(space.nvec)], dim=1)


@dataclass(frozen=True, eq=False)
class AvailableActions:
    """Which of the ``K`` actions each of the ``B`` decisions may take this step.

    ``mask`` is ``[B, K]`` bool (True = available); ``features`` optionally ``[B, K, d_a]``;
    ``items`` optionally ``[B, K]`` int64, the catalogue item each slot holds (its features are
    the rows of :attr:`DiscreteActionSpace.catalogue`; padding slots are masked out and may
    hold any id). Buffers store ``items`` rather than features, so a transition's size does not
    grow with the features' width (see :mod:`nacre.data.candidates`).
    """

    mask: Tensor
    features: Tensor | None = None
    items: Tensor | None = None

    def features_in(self, space: ActionSpace) -> Tensor | None:
        """The candidates' features ``[B, K, d_a]``: ``features``, else the catalogue rows of
        ``items``; None when neither is given."""
        if self.features is not None:
            return self.features
        if self.items is not None and isinstance(space, DiscreteActionSpace):
            if space.catalogue is None:
                raise SpaceError("AvailableActions.items needs an action space with a catalogue")
            return space.catalogue[self.items.to(space.catalogue.device)]
        return None


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
    if isinstance(space, gym.spaces.MultiBinary) and len(space.shape) == 1:
        return MultiDiscreteActionSpace((2,) * int(space.shape[0]), binary=True)
    if isinstance(space, gym.spaces.MultiDiscrete) and space.nvec.ndim == 1:
        if np.any(space.start != 0):
            raise SpaceError(f"MultiDiscrete action spaces must start at 0, got start="
                             f"{space.start.tolist()}; wrap the env to shift actions")
        return MultiDiscreteActionSpace(tuple(int(n) for n in space.nvec))
    raise SpaceError(
        f"unsupported action space {space!r}: nacre supports Discrete, Box, MultiDiscrete and "
        "MultiBinary (1-D) action spaces"
    )


class StructuredBox(gym.spaces.Box):
    """The flat float32 vector a Dict or Tuple observation is stored as (Gymnasium's
    ``flatten`` order: Discrete parts one-hot, Box parts flattened). ``source`` is the original
    space, from which :class:`~nacre.networks.MultiInputEncoder` recovers each part: buffers,
    normalization and validation see one fixed-shape array, the network sees the parts."""

    def __init__(self, source: gym.spaces.Dict | gym.spaces.Tuple[Any]) -> None:
        flat = gym.spaces.flatten_space(source)
        assert isinstance(flat, gym.spaces.Box)  # what Dict / Tuple of nacre's parts flatten to
        super().__init__(flat.low.astype(np.float32), flat.high.astype(np.float32),
                         dtype=np.float32)
        self.source = source


@dataclass(frozen=True)
class SequenceReader:
    """How a network reads a window of observations (the sequence summarizers of
    :mod:`nacre.history`): ``kind`` lstm | transformer, ``hidden`` features out, ``burn_in``
    oldest steps read without gradient (R2D2's burn-in), ``layers`` and ``heads`` (transformer);
    ``predict`` > 0: the learner also trains the features to predict the observations of the
    next window's last ``predict`` steps, its loss weighted by ``predict_weight``."""

    kind: str
    hidden: int = 64
    burn_in: int = 0
    layers: int = 1
    heads: int = 2
    predict: int = 0
    predict_weight: float = 1.0


class SequenceBox(gym.spaces.Box):
    """Windows ``[L, D + A + 1]`` of the last ``L`` steps, oldest first: each row holds the
    step's observation (``D`` features), the action taken there (``A`` features of
    ``actions``; none without it; zeros on the current step, whose action is not chosen yet)
    and a last feature, 1 on steps of the current episode and 0 on the padding before its
    start. ``reader`` says which network :func:`~nacre.networks.make_encoder` builds for it, so
    every learner's networks (and their target copies) read the windows the same way; None
    for a stacking summarizer's plain window (the network's own encoder flattens it)."""

    def __init__(self, observation_space: gym.spaces.Box, length: int,
                 reader: SequenceReader | None, actions: ActionFeatures | None = None) -> None:
        low = np.broadcast_to(observation_space.low, observation_space.shape).astype(np.float32)
        high = np.broadcast_to(observation_space.high, observation_space.shape).astype(np.float32)
        a = 0 if actions is None else actions.width
        a_low, a_high = (0.0, 0.0) if actions is None else (actions.low, actions.high)
        row_low = np.concatenate([np.minimum(low, 0), np.full(a, min(a_low, 0.0)), [0.0]])
        row_high = np.concatenate([np.maximum(high, 0), np.full(a, a_high), [1.0]])
        super().__init__(np.tile(row_low.astype(np.float32), (length, 1)),
                         np.tile(row_high.astype(np.float32), (length, 1)), dtype=np.float32)
        self.reader = reader
        self.observation_width = int(low.size)  # the first features of each row


class RecurrentBox(gym.spaces.Box):
    """Summaries ``[H]`` of a recurrent summarizer: the hidden state of ``lstm``, a one-layer
    LSTM carried from step to step (:class:`~nacre.history.RecurrentHistory`). A learner built
    for it trains ``lstm`` too, re-running it over the rollout's steps (recurrent PPO)."""

    def __init__(self, lstm: torch.nn.LSTM) -> None:
        super().__init__(-1.0, 1.0, (lstm.hidden_size,), dtype=np.float32)  # h = o · tanh(c)
        self.lstm = lstm


_LEAVES = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiBinary, gym.spaces.MultiDiscrete)


def _check_parts(space: gym.Space[Any], path: str) -> None:
    """Every part of a Dict/Tuple observation is one nacre can flatten."""
    if isinstance(space, gym.spaces.Dict):
        for key, sub in space.spaces.items():
            _check_parts(sub, f"{path}[{key!r}]")
    elif isinstance(space, gym.spaces.Tuple):
        for i, sub in enumerate(space.spaces):
            _check_parts(sub, f"{path}[{i}]")
    elif not isinstance(space, _LEAVES):
        raise SpaceError(f"unsupported observation part {path}: {space!r}; Dict/Tuple "
                         "observations may hold Box, Discrete, MultiBinary and MultiDiscrete "
                         "parts (wrap the env to encode the others)")


def storage_space(space: gym.Space[Any]) -> gym.Space[Any]:
    """The space nacre stores observations of ``space`` in: itself for Box and Discrete, a
    :class:`StructuredBox` for Dict and Tuple; refuses the others (see
    :func:`check_observation_space`)."""
    check_observation_space(space)
    if isinstance(space, gym.spaces.Dict | gym.spaces.Tuple):
        return StructuredBox(space)
    return space


def observation_batch(space: gym.Space[Any], obs: Any, batched: bool) -> np.ndarray:
    """Observations of ``space`` as a fresh array ``[B, ...]`` of :func:`storage_space`
    (``batched``: ``obs`` already holds B of them, as a vector env returns them)."""
    if isinstance(space, gym.spaces.Dict | gym.spaces.Tuple):
        if not batched:
            return _flat(space, obs)[None]
        rows = gym.vector.utils.iterate(gym.vector.utils.batch_space(space, _batch_size(obs)),
                                        obs)
        return np.stack([_flat(space, o) for o in rows])
    # A copy: some environments return their internal state array and mutate it in place, which
    # would silently rewrite the observation the agent is holding.
    dtype = np.int64 if isinstance(space, gym.spaces.Discrete) else space.dtype
    arr = np.array(obs, dtype=dtype)
    return arr if batched else arr[None]


def _flat(space: gym.Space[Any], obs: Any) -> np.ndarray:
    return np.asarray(gym.spaces.flatten(space, obs), dtype=np.float32)


def _batch_size(obs: Any) -> int:
    first = next(iter(obs.values())) if isinstance(obs, dict) else obs[0]
    return _batch_size(first) if isinstance(first, dict | tuple) else len(first)


def check_observation_space(space: gym.Space[object]) -> None:
    """Refuse observation spaces nacre cannot store in ring tensors."""
    if isinstance(space, gym.spaces.Discrete):
        _require_zero_start(space, "observation")
        return
    if isinstance(space, gym.spaces.Box):
        return
    if isinstance(space, gym.spaces.Dict | gym.spaces.Tuple):
        _check_parts(space, "observation")
        return
    raise SpaceError(
        f"unsupported observation space {space!r}: nacre supports Box, Discrete, Dict and Tuple "
        "observations (wrap the env with gymnasium.wrappers.FlattenObservation for others)"
    )
