"""Observation encoders: turn a batch of raw observations into flat float features."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from nacre.errors import SpaceError
from nacre.networks.base import Encoder
from nacre.networks.sequence import make_sequence_encoder
from nacre.spaces import SequenceBox, StructuredBox


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


# The Nature CNN's three convolutions need frames of at least 36 × 36 pixels.
_NATURE_MIN_SIZE = 36


class NatureCNN(Encoder):
    """The convolutional torso of Mnih et al. (2015), for ``[B, C, 84, 84]`` uint8 frames.

    Frames smaller than 36 × 36 (grid worlds, MiniGrid's 7 × 7 views) get two 3 × 3
    convolutions of stride 1 instead, which keep every cell. ``channels_last``: the frames come
    as ``[B, H, W, C]`` (most Gymnasium image envs) and are permuted here. ``scale``: divide by
    255 (uint8 pixels given as floats, e.g. inside a flattened Dict observation).
    """

    def __init__(self, shape: tuple[int, int, int], features: int = 512,
                 channels_last: bool = False, scale: bool = False) -> None:
        super().__init__()
        c, h, w = (shape[2], shape[0], shape[1]) if channels_last else shape
        small = min(h, w) < _NATURE_MIN_SIZE
        if min(h, w) < 5:
            raise SpaceError(f"the CNN encoder needs images of at least 5 × 5 pixels, got "
                             f"{h} × {w}")
        self.conv = nn.Sequential(
            nn.Conv2d(c, 32, 3, stride=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=1), nn.ReLU(),
            nn.Flatten(),
        ) if small else nn.Sequential(
            nn.Conv2d(c, 32, 8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = int(self.conv(torch.zeros(1, c, h, w)).shape[1])
        self.fc = nn.Sequential(nn.Linear(n_flat, 128 if small else features), nn.ReLU())
        self.out_dim = 128 if small else features
        self.image_shape = (h, w, c) if channels_last else (c, h, w)
        self.channels_last = channels_last
        self.scale = scale

    def forward(self, obs: Tensor) -> Tensor:
        x = obs.reshape(obs.shape[0], *self.image_shape)
        if self.channels_last:
            x = x.permute(0, 3, 1, 2)
        x = x.float() / 255.0 if obs.dtype == torch.uint8 or self.scale else x.float()
        out: Tensor = self.fc(self.conv(x))
        return out


class MultiInputEncoder(Encoder):
    """One encoder per part of a Dict or Tuple observation, their features concatenated (the
    parts arrive flattened into one vector, :class:`~nacre.spaces.StructuredBox`): images go
    through a CNN, everything else (one-hot Discrete parts, vectors) is passed on flat."""

    def __init__(self, space: StructuredBox) -> None:
        super().__init__()
        parts = (space.source.spaces.items() if isinstance(space.source, gym.spaces.Dict)
                 else enumerate(space.source.spaces))
        self.widths: list[int] = []
        self.parts = nn.ModuleList()
        for _, part in parts:
            self.widths.append(int(gym.spaces.flatdim(part)))
            image = _image_layout(part)
            self.parts.append(NatureCNN(image[0], channels_last=image[1], scale=True)
                              if image is not None else nn.Identity())
        self.out_dim = sum(p.out_dim if isinstance(p, Encoder) else w
                           for p, w in zip(self.parts, self.widths, strict=True))

    def forward(self, obs: Tensor) -> Tensor:
        chunks = torch.split(obs.float(), self.widths, dim=1)
        return torch.cat([part(x) for part, x in zip(self.parts, chunks, strict=True)], dim=1)


def _image_layout(space: gym.Space[Any]) -> tuple[tuple[int, int, int], bool] | None:
    """``(shape, channels_last)`` for uint8 image spaces ``[C, H, W]`` or ``[H, W, C]`` of at
    least 5 × 5 pixels (the channels are the smaller end: 84 × 84 × 6 is channels-last, 4 × 84
    × 84 channels-first), else None: those are flattened."""
    if not (isinstance(space, gym.spaces.Box) and space.dtype == np.uint8
            and len(space.shape) == 3):
        return None
    a, b, c = (int(s) for s in space.shape)
    channels_last = c < a
    height, width = (a, b) if channels_last else (b, c)
    return ((a, b, c), channels_last) if min(height, width) >= 5 else None


def make_encoder(space: gym.Space[Any], kind: str = "auto") -> Encoder:
    """Pick the encoder for an observation space (``kind``: auto | flatten | cnn): one-hot for
    Discrete, a CNN for uint8 images (``[C, H, W]`` or ``[H, W, C]``, by shape), one encoder
    per part for Dict and Tuple observations, the summarizer's LSTM or transformer for windows
    of a sequence summarizer (:class:`~nacre.spaces.SequenceBox`), else flatten."""
    if isinstance(space, gym.spaces.Discrete):
        return OneHotEncoder(int(space.n))
    if isinstance(space, SequenceBox) and space.reader is not None:  # a summarizer's model
        return make_sequence_encoder(space)
    if isinstance(space, StructuredBox):
        return FlattenEncoder(space.shape) if kind == "flatten" else MultiInputEncoder(space)
    if not isinstance(space, gym.spaces.Box):
        raise SpaceError(f"no encoder for observation space {space!r}")
    shape = tuple(int(s) for s in space.shape)
    image = _image_layout(space)
    if kind == "cnn" or (kind == "auto" and image is not None):
        if len(shape) != 3:
            raise SpaceError(f"the CNN encoder needs [C, H, W] observations, got shape {shape}")
        return NatureCNN((shape[0], shape[1], shape[2]),
                         channels_last=image is not None and image[1])
    return FlattenEncoder(shape)
