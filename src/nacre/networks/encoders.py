"""Observation encoders: turn a batch of raw observations into flat float features."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from nacre.errors import SpaceError


class Encoder(nn.Module):
    """An observation encoder: ``forward(obs [B, ...]) -> features [B, out_dim]`` (float)."""

    out_dim: int


class FlattenEncoder(Encoder):
    """Float cast + flatten of Box observations."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.out_dim = int(np.prod(shape)) if shape else 1
        self._flat = len(shape) != 1
        self.passthrough = not self._flat

    def forward(self, obs: Tensor) -> Tensor:
        x = obs.float()
        return x.flatten(1) if self._flat else x


class OneHotEncoder(Encoder):
    """One-hot encoding of Discrete observations given as integer indices ``[B]``."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.out_dim = n
        self.register_buffer("eye", torch.eye(n), persistent=False)

    def forward(self, obs: Tensor) -> Tensor:
        eye = self.eye
        assert isinstance(eye, Tensor)
        return eye[obs.long().reshape(-1)]


class NatureCNN(Encoder):
    """The convolutional torso of Mnih et al. (2015), for ``[B, C, 84, 84]`` uint8 frames."""

    def __init__(self, shape: tuple[int, int, int], features: int = 512) -> None:
        super().__init__()
        c, h, w = shape
        self.conv = nn.Sequential(
            nn.Conv2d(c, 32, 8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = int(self.conv(torch.zeros(1, c, h, w)).shape[1])
        self.fc = nn.Sequential(nn.Linear(n_flat, features), nn.ReLU())
        self.out_dim = features

    def forward(self, obs: Tensor) -> Tensor:
        x = obs.float() / 255.0 if obs.dtype == torch.uint8 else obs.float()
        out: Tensor = self.fc(self.conv(x))
        return out


def make_encoder(space: gym.Space[object], kind: str = "auto") -> Encoder:
    """Pick the encoder for an observation space (``kind``: auto | flatten | cnn | onehot)."""
    if isinstance(space, gym.spaces.Discrete):
        return OneHotEncoder(int(space.n))
    if not isinstance(space, gym.spaces.Box):
        raise SpaceError(f"no encoder for observation space {space!r}")
    shape = tuple(int(s) for s in space.shape)
    if kind == "cnn" or (kind == "auto" and len(shape) == 3 and space.dtype == np.uint8):
        if len(shape) != 3:
            raise SpaceError(f"the CNN encoder needs [C, H, W] observations, got shape {shape}")
        return NatureCNN((shape[0], shape[1], shape[2]))
    return FlattenEncoder(shape)
