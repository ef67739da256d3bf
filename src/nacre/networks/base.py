"""The encoder interface every observation encoder implements."""

from __future__ import annotations

from torch import nn


class Encoder(nn.Module):
    """An observation encoder: ``forward(obs [B, ...]) -> features [B, out_dim]`` (float)."""

    out_dim: int


__all__ = ["Encoder"]
