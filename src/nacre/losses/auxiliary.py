"""Auxiliary losses: tasks besides the RL loss that shape what an encoder learns.

A sequence encoder (an LSTM or a transformer over a window of observations) learns from the TD
error alone what it must read from the window. Where the reward says nothing until a skill is
already there (Acrobot swings up only once the agent pumps energy in, which needs the velocities
that only changes between observations show), that signal comes too late. Predicting the next
observations from the encoder's features gives it one from the first update (the idea of
UNREAL's auxiliary tasks, Jaderberg et al. 2017, with the simplest target: what is seen next).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def next_window_loss(predicted: Tensor, next_windows: Tensor, rows: int,
                     observation_width: int) -> Tensor:
    """Mean squared error of ``predicted`` ``[B, rows · D]`` against the observations (the
    first ``D = observation_width`` features of each row) of the last ``rows`` steps of
    ``next_windows`` ``[B, L, W]``, oldest first."""
    target = next_windows[:, -rows:, :observation_width].reshape(next_windows.shape[0], -1)
    return F.mse_loss(predicted, target.to(predicted.dtype))


__all__ = ["next_window_loss"]
