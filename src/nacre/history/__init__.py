"""History summarizers: observation history → the state a learner sees (Pearl's history
summarization module; Zhu et al. 2023).

The history of each stream of decisions is a value its caller keeps (see
:class:`nacre.types.History`): the agent keeps the one of its acting envs, evaluation and
:meth:`nacre.Agent.predict` keep their own, so one never overwrites another.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from nacre.errors import ConfigError
from nacre.history.recurrent import RecurrentHistory
from nacre.history.sequence import SequenceHistory
from nacre.types import History


class IdentityHistory:
    """The state is the current observation (the null default for Markovian tasks)."""

    window = 1
    marked = False
    actions = None

    def summary_space(self, observation_space: Any) -> Any:
        return observation_space

    def initial(self, batch: int, obs: Tensor) -> Tensor | None:
        return None

    def summarize(self, obs: Tensor, history: Tensor | None) -> tuple[Tensor, Tensor | None]:
        return obs, None

    def record(self, history: Tensor | None, action: Tensor) -> Tensor | None:
        return None

    def reset(self, history: Tensor | None, done: Tensor) -> Tensor | None:
        return None


class StackingHistory:
    """The state is the last ``k`` observations, ``[B, k, *obs]``, oldest first, zeros before
    the episode's start (the frame stacking of Mnih et al. 2015, for any observation).

    It has no parameters: replay samples carry the same windows, cut from the ring when drawn
    (:mod:`nacre.data.windows`), so each observation is stored once however large ``k``.
    """

    marked = False
    actions = None

    def __init__(self, k: int) -> None:
        if k < 2:
            raise ConfigError(f"history.k: stacking needs k >= 2 observations, got {k}")
        self.k = k

    @property
    def window(self) -> int:
        return self.k

    def summary_space(self, observation_space: Any) -> Any:
        if not isinstance(observation_space, gym.spaces.Box):
            raise ConfigError(f"history 'stacking' stacks Box observations, got "
                              f"{observation_space}")
        low = np.minimum(np.broadcast_to(observation_space.low, observation_space.shape), 0)
        high = np.maximum(np.broadcast_to(observation_space.high, observation_space.shape), 0)
        stack = (self.k, *observation_space.shape)
        return gym.spaces.Box(np.broadcast_to(low, stack), np.broadcast_to(high, stack),
                              dtype=observation_space.dtype)

    def initial(self, batch: int, obs: Tensor) -> Tensor | None:
        return obs.new_zeros((batch, self.k, *obs.shape[1:]))

    def summarize(self, obs: Tensor, history: Tensor | None) -> tuple[Tensor, Tensor | None]:
        if history is None:
            history = self.initial(obs.shape[0], obs)
            assert history is not None
        window = torch.cat([history[:, 1:], obs[:, None].to(history.dtype)], dim=1)
        return window, window

    def record(self, history: Tensor | None, action: Tensor) -> Tensor | None:
        return history

    def reset(self, history: Tensor | None, done: Tensor) -> Tensor | None:
        if history is None:
            return None
        return history.masked_fill(done.to(history.device).view(-1, *[1] * (history.dim() - 1)),
                                   0)


class HistoryStream:
    """One stream of decisions with its own history (what :meth:`nacre.Agent.stream` gives):
    pass it to every :meth:`~nacre.Agent.decide` / :meth:`~nacre.Agent.predict` of that
    stream, and tell it when episodes end."""

    def __init__(self, summarizer: History) -> None:
        self.summarizer = summarizer
        self.history: Tensor | None = None

    def episodes_ended(self, done: Any) -> None:
        """Forget the past of the decisions (rows) whose episode ended (``done``: ``[B]``)."""
        self.history = self.summarizer.reset(self.history, torch.as_tensor(done,
                                                                            dtype=torch.bool))


__all__ = ["HistoryStream", "IdentityHistory", "RecurrentHistory", "SequenceHistory",
           "StackingHistory"]
