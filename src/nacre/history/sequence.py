"""Sequence summarizers: an LSTM or a small transformer reads the last ``L`` observations.

The summarizer keeps each stream's window of observations (as stacking does) and the learner's
networks read it through the network :class:`~nacre.spaces.SequenceReader` names (built by
:func:`~nacre.networks.make_encoder`), so the sequence model is part of every network the
learner owns: its target copies follow it and one optimizer step trains it with the rest.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from torch import Tensor

from nacre.errors import ConfigError
from nacre.spaces import ActionFeatures, SequenceBox, SequenceReader


class SequenceHistory:
    """The state is the window of the last ``length`` steps, each row the step's observation,
    with ``actions`` the action taken there (zeros on the current step, not chosen yet), and a
    marker (1: a step of the current episode, 0: padding before it), read by ``reader``'s
    network; ``reader`` None: the window is flattened as stacking's is (stacking with actions).

    Replay samples carry the same windows, cut from the ring when drawn, so each observation is
    stored once whatever ``length``; acting and learning read identical windows.
    """

    marked = True

    def __init__(self, length: int, reader: SequenceReader | None,
                 actions: ActionFeatures | None = None) -> None:
        if length < 2:
            raise ConfigError(f"history: the window must hold >= 2 steps, got {length}")
        if reader is not None and not 0 <= reader.burn_in < length:
            raise ConfigError(f"history.burn_in must be in [0, length - 1 = {length - 1}], "
                              f"got {reader.burn_in}")
        if reader is not None and reader.kind == "transformer" and reader.hidden % reader.heads:
            raise ConfigError(f"history.hidden ({reader.hidden}) must be a multiple of "
                              f"history.heads ({reader.heads})")
        self.length = length
        self.reader = reader
        self.actions = actions

    @property
    def window(self) -> int:
        return self.length

    def summary_space(self, observation_space: Any) -> Any:
        if not (isinstance(observation_space, gym.spaces.Box)
                and len(observation_space.shape) == 1):
            what = "stacking with actions" if self.reader is None else repr(self.reader.kind)
            raise ConfigError(f"history {what} reads vectors of observations (Box of one "
                              f"dimension, Dict and Tuple included), got {observation_space}")
        return SequenceBox(observation_space, self.length, self.reader, self.actions)

    def initial(self, batch: int, obs: Tensor) -> Tensor | None:
        width = obs.shape[1] + (0 if self.actions is None else self.actions.width) + 1
        return obs.new_zeros((batch, self.length, width), dtype=torch.float32)

    def summarize(self, obs: Tensor, history: Tensor | None) -> tuple[Tensor, Tensor | None]:
        if history is None:
            history = self.initial(obs.shape[0], obs)
            assert history is not None
        step = history.new_zeros((obs.shape[0], history.shape[2]))
        step[:, :obs.shape[1]] = obs
        step[:, -1] = 1.0
        window = torch.cat([history[:, 1:], step[:, None]], dim=1)
        return window, window

    def record(self, history: Tensor | None, action: Tensor) -> Tensor | None:
        if self.actions is None or history is None:
            return history
        history = history.clone()  # the window the action was chosen on stays as it was
        history[:, -1, -1 - self.actions.width:-1] = self.actions.encode(action)
        return history

    def reset(self, history: Tensor | None, done: Tensor) -> Tensor | None:
        if history is None:
            return None
        return history.masked_fill(done.to(history.device).view(-1, 1, 1), 0)


__all__ = ["SequenceHistory"]
