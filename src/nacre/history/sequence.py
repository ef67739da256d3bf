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
from nacre.spaces import SequenceBox, SequenceReader


class SequenceHistory:
    """The state is the window of the last ``length`` observations, each with a marker feature
    (1: a step of the current episode, 0: padding before it), read by ``reader``'s network.

    Replay samples carry the same windows, cut from the ring when drawn, so each observation is
    stored once whatever ``length``; acting and learning read identical windows.
    """

    marked = True

    def __init__(self, length: int, reader: SequenceReader) -> None:
        if length < 2:
            raise ConfigError(f"history.length: a sequence summarizer reads >= 2 observations, "
                              f"got {length}")
        if not 0 <= reader.burn_in < length:
            raise ConfigError(f"history.burn_in must be in [0, length - 1 = {length - 1}], "
                              f"got {reader.burn_in}")
        if reader.kind == "transformer" and reader.hidden % reader.heads:
            raise ConfigError(f"history.hidden ({reader.hidden}) must be a multiple of "
                              f"history.heads ({reader.heads})")
        self.length = length
        self.reader = reader

    @property
    def window(self) -> int:
        return self.length

    def summary_space(self, observation_space: Any) -> Any:
        if not (isinstance(observation_space, gym.spaces.Box)
                and len(observation_space.shape) == 1):
            raise ConfigError(f"history {self.reader.kind!r} reads vectors of observations "
                              f"(Box of one dimension, Dict and Tuple included), got "
                              f"{observation_space}")
        return SequenceBox(observation_space, self.length, self.reader)

    def initial(self, batch: int, obs: Tensor) -> Tensor | None:
        return obs.new_zeros((batch, self.length, obs.shape[1] + 1), dtype=torch.float32)

    def summarize(self, obs: Tensor, last_action: Tensor | None,
                  history: Tensor | None) -> tuple[Tensor, Tensor | None]:
        if history is None:
            history = self.initial(obs.shape[0], obs)
            assert history is not None
        step = torch.cat([obs.to(history.dtype), obs.new_ones((obs.shape[0], 1),
                                                              dtype=history.dtype)], dim=1)
        window = torch.cat([history[:, 1:], step[:, None]], dim=1)
        return window, window

    def reset(self, history: Tensor | None, done: Tensor) -> Tensor | None:
        if history is None:
            return None
        return history.masked_fill(done.to(history.device).view(-1, 1, 1), 0)


__all__ = ["SequenceHistory"]
