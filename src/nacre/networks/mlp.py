"""Multi-layer perceptron."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}


class MLP(nn.Sequential):
    """``Linear → act → … → Linear`` with ``hidden`` widths; no activation after the last layer.

    Example:
        >>> import torch
        >>> MLP(4, (64, 64), 2)(torch.zeros(3, 4)).shape
        torch.Size([3, 2])
    """

    def __init__(
        self, in_dim: int, hidden: Sequence[int], out_dim: int, activation: str = "relu"
    ) -> None:
        act = ACTIVATIONS[activation]
        layers: list[nn.Module] = []
        last = in_dim
        for width in hidden:
            layers += [nn.Linear(last, width), act()]
            last = width
        layers.append(nn.Linear(last, out_dim))
        super().__init__(*layers)
        self.in_dim = in_dim
        self.out_dim = out_dim

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102 - typed override
        out: Tensor = super().forward(x)
        return out


def init_orthogonal(module: nn.Module, gain: float = 2**0.5) -> None:
    """Orthogonal weights, zero biases (used by policy-gradient learners)."""
    for m in module.modules():
        if isinstance(m, nn.Linear | nn.Conv2d):
            nn.init.orthogonal_(m.weight, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


__all__ = ["ACTIVATIONS", "MLP", "init_orthogonal"]
