"""Losses of the actor-critic learners for continuous and discrete actions (pure functions).

DDPG (Lillicrap et al. 2016), TD3 (Fujimoto et al. 2018), SAC (Haarnoja et al. 2018, with
automatic temperature) and discrete SAC (Christodoulou 2019). The TD targets themselves are
:func:`nacre.losses.td.td_target` of the values below.
"""

from __future__ import annotations

from torch import Tensor


def critic_loss(q: Tensor, target: Tensor, scale: float = 1.0) -> Tensor:
    """``scale · Σ_j mean_n (Q_j − y)²`` for critics ``q [C, N]`` (TD3: scale 1; SAC: ½)."""
    return scale * (q - target).square().mean(dim=-1).sum()


def smoothed_target_action(next_action: Tensor, noise: Tensor, std: float, clip: float
                           ) -> Tensor:
    """TD3's target-policy smoothing: ``clip(μ'(s') + clip(σ̃ ε, −c, c), −1, 1)`` for standard
    normal ``noise`` ``ε``, in the normalized action box."""
    return (next_action + (noise * std).clamp(-clip, clip)).clamp(-1.0, 1.0)


def deterministic_actor_loss(q: Tensor) -> Tensor:
    """``−mean Q(s, μ(s))``: the deterministic policy gradient's objective (DDPG, TD3)."""
    return -q.mean()


def soft_value(q_min: Tensor, log_prob: Tensor, alpha: Tensor | float) -> Tensor:
    """SAC's soft value of a sampled action, ``min_j Q_j(s, a) − α log π(a|s)``."""
    return q_min - alpha * log_prob


def sac_actor_loss(q_min: Tensor, log_prob: Tensor, alpha: Tensor | float) -> Tensor:
    """``mean(α log π(a|s) − min_j Q_j(s, a))`` for reparameterized samples ``a ~ π(·|s)``."""
    return -soft_value(q_min, log_prob, alpha).mean()


def temperature_loss(log_alpha: Tensor, entropy_gap: Tensor) -> Tensor:
    """``−mean(log α · gap)`` with ``gap = log π(a|s) + H̄`` (detached): lowers α while the
    policy's entropy is above the target ``H̄``, raises it below."""
    return -(log_alpha * entropy_gap).mean()


def discrete_soft_value(log_p: Tensor, q_min: Tensor, alpha: Tensor | float) -> Tensor:
    """Discrete SAC's exact soft state value ``Σ_a π(a|s) (min_j Q_j(s, a) − α log π(a|s))``
    from log-probabilities and Q-values ``[N, K]``."""
    return (log_p.exp() * soft_value(q_min, log_p, alpha)).sum(dim=-1)
