"""A recurrent summarizer: an LSTM whose state is carried from step to step while acting.

Unlike the window summarizers (:mod:`nacre.history.sequence`), which re-read the last ``L``
observations at every decision, this one keeps the LSTM's state ``(h, c)`` of each stream and
moves it one step per observation, so the agent can remember the whole episode. It is what
recurrent PPO learns with: the rollout keeps each env's state at the rollout's start, and the
learner re-runs the same LSTM over the rollout's observations from there (resetting it where
episodes ended, as acting did), with gradients, so one optimizer step trains it with the policy
and the value heads (:class:`~nacre.learners.policy.recurrent_ppo.RecurrentPPO`).

Pearl's LSTM summarizer lost its state between steps (Pearl issue #47); here the state is the
stream's history value (:class:`nacre.types.History`): the agent carries and checkpoints its
acting envs' states, evaluation and :meth:`nacre.Agent.stream` keep their own.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from torch import Tensor, nn

from nacre.errors import ConfigError
from nacre.spaces import RecurrentBox


class RecurrentHistory:
    """The state is ``cat(h, c)`` ``[B, 2H]`` of a one-layer ``nn.LSTM`` with ``hidden`` units;
    the summary the learner's heads read is ``h`` ``[B, H]``. ``lstm`` is built for the
    observation size by :meth:`summary_space` and shared with the learner that trains it."""

    window = 1
    marked = False
    actions = None

    def __init__(self, hidden: int, device: torch.device | str = "cpu") -> None:
        if hidden < 1:
            raise ConfigError(f"history.hidden: must be >= 1, got {hidden}")
        self.hidden = hidden
        self.device = torch.device(device)
        self.lstm: nn.LSTM | None = None

    def summary_space(self, observation_space: Any) -> Any:
        if not (isinstance(observation_space, gym.spaces.Box)
                and len(observation_space.shape) == 1):
            raise ConfigError(f"history 'recurrent' reads vectors of observations (Box of one "
                              f"dimension, Dict and Tuple included), got {observation_space}")
        if self.lstm is None:
            self.lstm = nn.LSTM(int(observation_space.shape[0]), self.hidden, device=self.device)
        return RecurrentBox(self.lstm)

    def initial(self, batch: int, obs: Tensor) -> Tensor | None:
        return torch.zeros((batch, 2 * self.hidden), device=obs.device)

    def summarize(self, obs: Tensor, history: Tensor | None) -> tuple[Tensor, Tensor | None]:
        if self.lstm is None:
            raise ConfigError("history 'recurrent': summary_space() builds the LSTM; call it "
                              "(nacre.build does) before summarizing")
        if history is None:
            history = self.initial(obs.shape[0], obs)
            assert history is not None
        h, c = history.chunk(2, dim=1)
        _, (h, c) = self.lstm(obs.float()[None], (h[None].contiguous(), c[None].contiguous()))
        return h[0], torch.cat([h[0], c[0]], dim=1)

    def record(self, history: Tensor | None, action: Tensor) -> Tensor | None:
        return history

    def reset(self, history: Tensor | None, done: Tensor) -> Tensor | None:
        if history is None:
            return None
        return history.masked_fill(done.to(history.device).view(-1, 1), 0)


def unroll(lstm: nn.LSTM, obs: Tensor, state: Tensor, start: Tensor) -> tuple[
        Tensor, list[tuple[int, Tensor]]]:
    """Run ``lstm`` over ``obs`` ``[T, B, D]`` from ``state`` ``[B, 2H]`` (the state before the
    first step), zeroing the state before the steps that begin an episode (``start`` ``[T, B]``
    bool), as acting resets it when an episode ends.

    The steps run in stretches that end where some env's episode ends (and at ``T``), each in
    one call of ``lstm``: its fused loop runs forward and backward about 3× faster than a Python
    loop of single steps. Returns ``h`` ``[T, B, H]`` and, for each stretch, its last step and
    the state ``[B, 2H]`` after it (what the next observation of an episode cut there is read
    from)."""
    obs = obs.float()
    h, c = (x[None].contiguous() for x in state.chunk(2, dim=1))
    restarts = [t for t in range(1, obs.shape[0]) if bool(start[t].any())]
    hs, ends = [], []
    for first, end in zip([0, *restarts], [*restarts, obs.shape[0]], strict=True):
        if bool(start[first].any()):
            keep = (~start[first]).to(h.dtype)[None, :, None]
            h, c = h * keep, c * keep
        out, (h, c) = lstm(obs[first:end], (h, c))
        hs.append(out)
        ends.append((end - 1, torch.cat([h[0], c[0]], dim=1)))
    return torch.cat(hs), ends


__all__ = ["RecurrentHistory", "unroll"]
