"""Actor–critic networks for policy-gradient learners.

The actor and the critic are separate MLPs over one observation encoder (no shared hidden
layers: the default of Stable-Baselines3's ``MlpPolicy`` and of CleanRL's PPO, which keeps the
value loss from disturbing the policy). Discrete actors output logits ``[B, K]``; Gaussian actors
output the mean ``[B, d]`` in the normalized action box ``[-1, 1]^d`` (see
:meth:`nacre.spaces.BoxActionSpace.to_env`) with a state-independent log standard deviation.
Orthogonal initialisation with the gains of Schulman et al.'s reference implementation
(hidden √2, policy output 0.01, value output 1) — "implementation details" that matter
(Engstrom et al. 2020; Huang et al. 2022).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from nacre.kinds import ScoresKind
from nacre.losses.policy import (
    categorical_log_prob,
    factored_log_prob,
    gaussian_entropy,
    gaussian_log_prob,
    masked_logits,
    pad_factored_logits,
)
from nacre.networks.base import Encoder
from nacre.networks.mlp import MLP
from nacre.networks.towers import TwoTowerHead


def orthogonal_init(mlp: MLP, out_gain: float, hidden_gain: float = math.sqrt(2.0)) -> None:
    """Orthogonal weights (``hidden_gain`` for hidden layers, ``out_gain`` for the last), zero
    biases."""
    linears = mlp.linears()
    for i, lin in enumerate(linears):
        nn.init.orthogonal_(lin.weight, gain=out_gain if i == len(linears) - 1 else hidden_gain)
        nn.init.zeros_(lin.bias)


class ActorCritic(nn.Module):
    """``encoder`` → (actor MLP, critic MLP).

    Args:
        encoder: observation encoder with an ``out_dim`` attribute.
        action_dim: number of discrete actions, or the dimension of a Box action.
        hidden: hidden widths of the actor (and of the critic unless ``critic_hidden``).
        activation: hidden activation (``tanh`` is the PPO default).
        continuous: Gaussian actor (else categorical).
        log_std_init: initial log standard deviation of the Gaussian actor.
        critic_hidden: hidden widths of the critic (default: ``hidden``).
        ortho_init: orthogonal initialisation (else PyTorch's default for ``nn.Linear``).
        factors: for MultiDiscrete / MultiBinary actions, the number of values of each choice
            (``action_dim`` is then their sum): one categorical head per choice.
        candidate_actor: a head scoring each step's candidates ``(state, action features)``
            into logits instead of the actor MLP (Pearl's dynamic-action actor): the
            categorical policy is then over whatever candidates a step offers.

    Example:
        >>> import torch
        >>> from nacre.networks import FlattenEncoder
        >>> net = ActorCritic(FlattenEncoder((4,)), 2, (64, 64), "tanh", continuous=False)
        >>> net.policy(torch.zeros(3, 4)).shape, net.value(torch.zeros(3, 4)).shape
        (torch.Size([3, 2]), torch.Size([3]))
    """

    def __init__(
        self,
        encoder: Encoder,
        action_dim: int,
        hidden: Sequence[int],
        activation: str,
        continuous: bool,
        log_std_init: float = 0.0,
        critic_hidden: Sequence[int] | None = None,
        ortho_init: bool = True,
        factors: Sequence[int] | None = None,
        candidate_actor: TwoTowerHead | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        in_dim = encoder.out_dim
        self.actor: MLP | TwoTowerHead = (MLP(in_dim, hidden, action_dim, activation)
                                          if candidate_actor is None else candidate_actor)
        self.critic = MLP(in_dim, hidden if critic_hidden is None else critic_hidden, 1,
                          activation)
        if ortho_init:
            if isinstance(self.actor, MLP):
                orthogonal_init(self.actor, out_gain=0.01)
            orthogonal_init(self.critic, out_gain=1.0)
        self.continuous = continuous
        self.action_dim = action_dim
        self.factors = None if factors is None else tuple(factors)
        if self.factors is not None and (continuous or sum(self.factors) != action_dim):
            raise ValueError(f"factors {self.factors} must sum to action_dim ({action_dim}) "
                             "of a discrete actor")
        self.log_std = nn.Parameter(torch.full((action_dim,), float(log_std_init)),
                                    requires_grad=continuous)

    @property
    def scores_kind(self) -> ScoresKind:
        """What :meth:`scores` returns: ``gaussian`` ([B, 2, d] mean and log std), ``logits``
        ([B, K]) or ``factored`` ([B, k, K_max] logits, −inf padded)."""
        if self.factors is not None:
            return ScoresKind.FACTORED
        return ScoresKind.GAUSSIAN if self.continuous else ScoresKind.LOGITS

    def policy(self, obs: Tensor, candidates: Tensor | None = None) -> Tensor:
        """Logits ``[B, K]`` or Gaussian means ``[B, d]``; a candidate actor scores
        ``candidates`` (``[B, K, d_a]`` features or ``[B, K]`` ids)."""
        features = self.encoder(obs)
        if isinstance(self.actor, TwoTowerHead):
            if candidates is None:
                raise ValueError("this actor scores each step's candidates: pass their "
                                 "features (the agent does, from AvailableActions)")
            scored: Tensor = self.actor(features, candidates)
            return scored
        out: Tensor = self.actor(features)
        return out

    def value(self, obs: Tensor) -> Tensor:
        """State values ``[B]``."""
        out: Tensor = self.critic(self.encoder(obs))
        return out.squeeze(-1)

    def scores(self, obs: Tensor, candidates: Tensor | None = None) -> Tensor:
        """What exploration samples from: logits ``[B, K]``, factored logits ``[B, k, K_max]``,
        or ``[B, 2, d]`` = (mean, log std)."""
        out = self.policy(obs, candidates)
        if self.factors is not None:
            return pad_factored_logits(out, self.factors)
        if not self.continuous:
            return out
        return torch.stack([out, self.log_std.expand_as(out)], dim=1)

    def log_prob(self, obs: Tensor, action: Tensor, mask: Tensor | None = None,
                 candidates: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(log π(a|s), entropy of π(·|s))``, both ``[B]``; ``mask`` (``[B, K]``, discrete
        actions): the policy is over the available actions only; ``candidates``: what a
        candidate actor scores."""
        out = self.policy(obs, candidates)
        if self.factors is not None:
            return factored_log_prob(out, action, self.factors)
        if not self.continuous:
            return categorical_log_prob(masked_logits(out, mask), action)
        log_std = self.log_std.expand_as(out)
        return gaussian_log_prob(out, log_std, action), gaussian_entropy(log_std)
