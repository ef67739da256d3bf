"""Q-value networks: an encoder followed by a Q head.

Heads return ``[B, K]`` values. Per-action heads (vanilla, dueling) output one value per action;
the state–action head scores ``[B, K, d_a]`` action features, which is what dynamic and featured
action sets need.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from nacre.networks.encoders import FlattenEncoder
from nacre.networks.mlp import MLP
from nacre.networks.sequence import NextWindowPredictor


class VanillaQHead(nn.Module):
    """One output per action (Mnih et al. 2015)."""

    def __init__(self, in_dim: int, n_actions: int, hidden: Sequence[int], activation: str) -> None:
        super().__init__()
        self.mlp = MLP(in_dim, hidden, n_actions, activation)

    def forward(self, features: Tensor, action_features: Tensor | None = None) -> Tensor:
        out: Tensor = self.mlp(features)
        return out


class DuelingQHead(nn.Module):
    """Value and advantage streams, ``Q = V + A - mean(A)`` (Wang et al. 2016)."""

    def __init__(self, in_dim: int, n_actions: int, hidden: Sequence[int], activation: str) -> None:
        super().__init__()
        self.value = MLP(in_dim, hidden, 1, activation)
        self.advantage = MLP(in_dim, hidden, n_actions, activation)

    def forward(self, features: Tensor, action_features: Tensor | None = None) -> Tensor:
        adv: Tensor = self.advantage(features)
        value: Tensor = self.value(features)
        return value + adv - adv.mean(dim=-1, keepdim=True)


class StateActionQHead(nn.Module):
    """``Q(s, a) = MLP([φ(s) ⊕ x_a])`` evaluated for every candidate ``a``."""

    def __init__(
        self, in_dim: int, action_dim: int, hidden: Sequence[int], activation: str
    ) -> None:
        super().__init__()
        self.mlp = MLP(in_dim + action_dim, hidden, 1, activation)

    def forward(self, features: Tensor, action_features: Tensor | None = None) -> Tensor:
        if action_features is None:
            raise ValueError("StateActionQHead needs action features [B, K, d_a] or [K, d_a]")
        b = features.shape[0]
        if action_features.ndim == 2:
            action_features = action_features.unsqueeze(0).expand(b, -1, -1)
        k = action_features.shape[1]
        s = features.unsqueeze(1).expand(-1, k, -1)
        out: Tensor = self.mlp(torch.cat([s, action_features], dim=-1))
        return out.squeeze(-1)


class QNetwork(nn.Module):
    """``encoder → head``; ``forward(obs, action_features=None) -> [B, K]``.

    ``flat_input``: the encoder only passes flat float observations through (no parameters).
    ``predictor``: an auxiliary head on the encoder's features (a sequence summarizer's
    ``predict``), trained by the learner with its own loss; acting never calls it.
    """

    def __init__(self, encoder: nn.Module, head: nn.Module,
                 predictor: NextWindowPredictor | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.predictor = predictor
        # Flat float observations need no encoding: skipping the call saves ~1.5 µs per act.
        self.flat_input = isinstance(encoder, FlattenEncoder) and encoder.passthrough

    def features(self, obs: Tensor) -> Tensor:
        """What the head reads: the encoder's output."""
        skip = self.flat_input and obs.dtype == torch.float32
        out: Tensor = obs if skip else self.encoder(obs)
        return out

    def forward(self, obs: Tensor, action_features: Tensor | None = None) -> Tensor:
        out: Tensor = self.head(self.features(obs), action_features)
        return out
