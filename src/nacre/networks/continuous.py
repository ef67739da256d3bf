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

from nacre.networks.mlp import MLP


class DeterministicActor(nn.Module):
    """``a = tanh(MLP(encoder(s)))`` in ``[-1, 1]^d``."""

    def __init__(self, encoder: nn.Module, action_dim: int, hidden: Sequence[int],
                 activation: str = "relu") -> None:
        super().__init__()
        self.encoder = encoder
        self.mlp = MLP(int(getattr(encoder, "out_dim")), hidden, action_dim,  # noqa: B009
                       activation)
        self.action_dim = action_dim

    def forward(self, obs: Tensor) -> Tensor:
        return torch.tanh(self.mlp(self.encoder(obs)))


class TwinQCritic(nn.Module):
    """Two independent critics ``Q_i(s, a) = MLP_i([encoder(s), a])``; ``forward`` returns both
    as ``[2, B]`` (``n_critics=1`` gives one critic, shape ``[1, B]``)."""

    def __init__(self, encoder: nn.Module, action_dim: int, hidden: Sequence[int],
                 activation: str = "relu", n_critics: int = 2) -> None:
        super().__init__()
        self.encoder = encoder
        in_dim = int(getattr(encoder, "out_dim")) + action_dim  # noqa: B009
        self.critics = nn.ModuleList(MLP(in_dim, hidden, 1, activation) for _ in range(n_critics))

    def forward(self, obs: Tensor, action: Tensor) -> Tensor:
        x = torch.cat([self.encoder(obs), action], dim=1)
        return torch.stack([critic(x).squeeze(1) for critic in self.critics])

    def q1(self, obs: Tensor, action: Tensor) -> Tensor:
        """The first critic alone ``[B]`` (what the actor of TD3 / DDPG ascends)."""
        out: Tensor = self.critics[0](torch.cat([self.encoder(obs), action], dim=1))
        return out.squeeze(1)


class ActorAndCritic(nn.Module):
    """A deterministic actor and its (twin) critic, built together from one network config."""

    def __init__(self, actor: DeterministicActor, critic: TwinQCritic) -> None:
        super().__init__()
        self.actor = actor
        self.critic = critic
