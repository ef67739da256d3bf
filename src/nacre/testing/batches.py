"""Random batches of transitions for tests and conformance checks."""

from __future__ import annotations

import torch
from torch import Tensor

from nacre.data.batch import TransitionBatch


def random_batch(
    obs_dim: int,
    n_actions: int,
    batch_size: int,
    *,
    discrete_obs: bool = False,
    next_action: bool = False,
    generator: torch.Generator | None = None,
    continuous: bool = False,
    on_policy: bool = False,
) -> TransitionBatch:
    """A batch of random transitions: Box observations ``[N, obs_dim]`` float32 (or Discrete
    indices ``[N]`` in ``0..obs_dim-1``), int64 actions (``continuous``: float actions
    ``[N, n_actions]`` in ``[-1, 1]``), N(0, 1) rewards, ~25 % terminated; ``on_policy`` adds
    the processed-rollout fields (advantage, returns, log_prob, value), random."""
    g = generator

    def obs() -> Tensor:
        if discrete_obs:
            return torch.randint(obs_dim, (batch_size,), generator=g)
        return torch.randn(batch_size, obs_dim, generator=g)

    def randn() -> Tensor:
        return torch.randn(batch_size, generator=g)

    action = (torch.rand(batch_size, n_actions, generator=g) * 2.0 - 1.0 if continuous
              else torch.randint(n_actions, (batch_size,), generator=g))
    return TransitionBatch(
        obs=obs(),
        action=action,
        reward=randn(),
        next_obs=obs(),
        terminated=(torch.rand(batch_size, generator=g) < 0.25).float(),
        next_action=torch.randint(n_actions, (batch_size,), generator=g) if next_action else None,
        advantage=randn() if on_policy else None,
        returns=randn() if on_policy else None,
        log_prob=randn() - 1.0 if on_policy else None,
        value=randn() if on_policy else None,
    )


__all__ = ["random_batch"]
