"""Pure tensor-in/tensor-out maths used by learners and buffers."""

from nacre.losses.actor_critic import (
    critic_loss,
    deterministic_actor_loss,
    discrete_soft_value,
    sac_actor_loss,
    smoothed_target_action,
    soft_value,
    temperature_loss,
)
from nacre.losses.auxiliary import next_window_loss
from nacre.losses.constraint import cost_rate, lagrange_step, penalized
from nacre.losses.policy import (
    categorical_log_prob,
    gaussian_entropy,
    gaussian_log_prob,
    masked_logits,
    policy_gradient_loss,
    ppo_clip_loss,
    squashed_gaussian_log_prob,
    value_loss,
)
from nacre.losses.returns import gae, n_step_returns
from nacre.losses.td import (
    double_q_target,
    masked_max,
    q_learning_target,
    sarsa_target,
    td_loss,
    td_target,
)

__all__ = [
    "categorical_log_prob",
    "cost_rate",
    "critic_loss",
    "deterministic_actor_loss",
    "discrete_soft_value",
    "double_q_target",
    "gae",
    "gaussian_entropy",
    "gaussian_log_prob",
    "lagrange_step",
    "masked_max",
    "next_window_loss",
    "n_step_returns",
    "penalized",
    "masked_logits",
    "policy_gradient_loss",
    "ppo_clip_loss",
    "q_learning_target",
    "sac_actor_loss",
    "sarsa_target",
    "smoothed_target_action",
    "soft_value",
    "squashed_gaussian_log_prob",
    "td_loss",
    "td_target",
    "temperature_loss",
    "value_loss",
]
