"""Pure tensor-in/tensor-out maths used by learners and buffers."""

from nacre.losses.returns import gae, n_step_returns
from nacre.losses.td import (
    double_q_target,
    masked_max,
    q_learning_target,
    sarsa_target,
    td_target,
)

__all__ = [
    "double_q_target",
    "gae",
    "masked_max",
    "n_step_returns",
    "q_learning_target",
    "sarsa_target",
    "td_target",
]
