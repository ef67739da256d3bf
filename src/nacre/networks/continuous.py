"""Networks for continuous-action learners: deterministic actors and (twin) state–action critics.

Actors output actions in the normalized box ``[-1, 1]^d`` through a final ``tanh``
(:meth:`nacre.spaces.BoxActionSpace.to_env` scales them). Critics score ``Q(s, a)`` from the
concatenation of the encoded observation and the action. The twin critic keeps two independent
critics (Fujimoto et al. 2018) and evaluates both in one call.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from nacre.losses.policy import squashed_gaussian_log_prob
from nacre.networks.base import Encoder
from nacre.networks.mlp import ACTIVATIONS, MLP


class DeterministicActor(nn.Module):
    """``a = tanh(MLP(encoder(s)))`` in ``[-1, 1]^d``."""

    def __init__(self, encoder: Encoder, action_dim: int, hidden: Sequence[int],
                 activation: str = "relu") -> None:
        super().__init__()
        self.encoder = encoder
        self.mlp = MLP(encoder.out_dim, hidden, action_dim,
                       activation)
        self.action_dim = action_dim

    def forward(self, obs: Tensor) -> Tensor:
        return torch.tanh(self.mlp(self.encoder(obs)))


class SharedLogStd(nn.Module):
    """One log σ per action dimension, the same for every state (IQL's actor, Kostrikov et al.
    2022, as d3rlpy builds it): ``forward(h)`` broadcasts it to ``h``'s rows."""

    def __init__(self, action_dim: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(action_dim))

    def forward(self, h: Tensor) -> Tensor:
        return self.bias.expand(h.shape[0], -1)


class SquashedGaussianActor(nn.Module):
    """``a = tanh(u)``, ``u ~ N(μ(s), σ(s)²)`` (Haarnoja et al. 2018): an MLP trunk with a mean
    head and a log-std head (clamped to ``[-20, 2]``); with ``state_dependent_std=False``, one
    learned log σ per action dimension for all states (:class:`SharedLogStd`) instead of the
    head.

    ``forward`` returns the act-path scores ``[B, 3, d]`` = (tanh(μ), μ, log σ): the first row is
    the deterministic action (what ``exploit=True`` takes), the others parametrize the sampling
    (:class:`~nacre.exploration.SquashedGaussianSampling`).
    """

    LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0

    def __init__(self, encoder: Encoder, action_dim: int, hidden: Sequence[int],
                 activation: str = "relu", state_dependent_std: bool = True) -> None:
        super().__init__()
        self.encoder = encoder
        in_dim = encoder.out_dim
        self.trunk = MLP(in_dim, hidden[:-1], hidden[-1], activation) if hidden else None
        self.activation = activation  # also after the trunk's last layer
        self._act = ACTIVATIONS[activation]()
        width = hidden[-1] if hidden else in_dim
        self.mean = nn.Linear(width, action_dim)
        self.log_std: nn.Linear | SharedLogStd = (
            nn.Linear(width, action_dim) if state_dependent_std else SharedLogStd(action_dim))
        self.action_dim = action_dim

    def distribution(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """``(μ, log σ)``, each ``[B, d]``."""
        h = self.encoder(obs)
        if self.trunk is not None:
            h = self._act(self.trunk(h))
        log_std = self.log_std(h).clamp(self.LOG_STD_MIN, self.LOG_STD_MAX)
        return self.mean(h), log_std

    def sample(self, obs: Tensor, generator: torch.Generator | None = None
               ) -> tuple[Tensor, Tensor]:
        """A reparameterized sample ``a`` and its log-density ``log π(a|s)`` (with the tanh
        correction), both differentiable in the parameters."""
        mean, log_std = self.distribution(obs)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device)
        u = mean + log_std.exp() * noise
        return torch.tanh(u), squashed_gaussian_log_prob(mean, log_std, u)

    def forward(self, obs: Tensor) -> Tensor:
        mean, log_std = self.distribution(obs)
        return torch.stack([torch.tanh(mean), mean, log_std], dim=1)


class TwinQCritic(nn.Module):
    """Two independent critics ``Q_i(s, a) = MLP_i([encoder(s), a])``; ``forward`` returns both
    as ``[2, B]`` (``n_critics=1`` gives one critic, shape ``[1, B]``)."""

    def __init__(self, encoder: Encoder, action_dim: int, hidden: Sequence[int],
                 activation: str = "relu", n_critics: int = 2) -> None:
        super().__init__()
        self.encoder = encoder
        in_dim = encoder.out_dim + action_dim
        self.critics = nn.ModuleList(MLP(in_dim, hidden, 1, activation) for _ in range(n_critics))

    def forward(self, obs: Tensor, action: Tensor) -> Tensor:
        x = torch.cat([self.encoder(obs), action], dim=1)
        return torch.stack([critic(x).squeeze(1) for critic in self.critics])

    def interleaved_parameters(self) -> list[Tensor]:
        """The parameters with the critics' interleaved: the encoder's, then layer ``i`` of
        critic 1, of critic 2, … so that in a flat buffer laid out in this order each layer of
        all critics is one evenly spaced block (what :mod:`nacre.accel` stacks)."""
        per_critic = [list(critic.parameters()) for critic in self.critics]
        return [*self.encoder.parameters(), *(p for group in zip(*per_critic, strict=True)
                                              for p in group)]

    def q1(self, obs: Tensor, action: Tensor) -> Tensor:
        """The first critic alone ``[B]`` (what the actor of TD3 / DDPG ascends)."""
        out: Tensor = self.critics[0](torch.cat([self.encoder(obs), action], dim=1))
        return out.squeeze(1)


class ActorAndCritic(nn.Module):
    """An actor (deterministic or squashed Gaussian) and its twin critic, built together from
    one network config."""

    def __init__(self, actor: DeterministicActor | SquashedGaussianActor,
                 critic: TwinQCritic) -> None:
        super().__init__()
        self.actor = actor
        self.critic = critic


class CategoricalActorTwinQ(nn.Module):
    """For discrete SAC: a categorical actor (logits ``[B, K]``) and two critics that output one
    Q-value per action (``[2, B, K]``), each an MLP over the encoded observation.

    ``factors``: for MultiDiscrete / MultiBinary actions, the number of values of each choice
    (``n_actions`` is their sum): the actor has one categorical block per choice and each
    critic one value per value of each choice, ``Q_i(s, a_i)``, the joint action's value being
    their mean (the action branching of Tavakoli et al. 2018).
    """

    def __init__(self, encoder: Encoder, n_actions: int, actor_hidden: Sequence[int],
                 critic_hidden: Sequence[int], activation: str = "relu",
                 factors: Sequence[int] | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        in_dim = encoder.out_dim
        self.actor = MLP(in_dim, actor_hidden, n_actions, activation)
        self.critics = nn.ModuleList(MLP(in_dim, critic_hidden, n_actions, activation)
                                     for _ in range(2))
        self.n_actions = n_actions
        self.factors = None if factors is None else tuple(factors)
        if self.factors is not None and sum(self.factors) != n_actions:
            raise ValueError(f"factors {self.factors} must sum to n_actions ({n_actions})")

    def logits(self, obs: Tensor) -> Tensor:
        out: Tensor = self.actor(self.encoder(obs))
        return out

    def q(self, obs: Tensor) -> Tensor:
        x = self.encoder(obs)
        return torch.stack([critic(x) for critic in self.critics])
