"""Ensembles computed in one batched pass: ``M`` members' layers as ``[M, in, out]`` weights.

Bootstrapped DQN (Osband et al. 2016) keeps ``M`` Q-value heads on a shared torso, each trained
on its own bootstrap of the data; a randomized prior function (Osband et al. 2018) adds to each
member a fixed random network of the same shape, scaled, which keeps members apart where data
is missing. Looping over members in Python costs ``M`` times the kernel launches of one network;
here every layer of all members is one matrix product (``torch.baddbmm``), so for the small
heads RL uses ``M`` members cost little more than one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from nacre.networks.mlp import ACTIVATIONS


class EnsembleLinear(nn.Module):
    """``M`` independent linear layers, ``[M, B, in] → [M, B, out]`` in one batched product.
    Initialized as ``nn.Linear`` is, per member."""

    def __init__(self, members: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)
        self.weight = nn.Parameter(torch.empty(members, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, out_dim).uniform_(-bound, bound))

    def forward(self, x: Tensor) -> Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleMLP(nn.Module):
    """``M`` MLPs of the same shape reading one input, ``[B, in] → [B, M, out]`` (no activation
    after the last layer).

    The first layer of every member reads the same input, so all of them are one ``nn.Linear``
    with ``M · width`` outputs (one matrix product, and no copy of the weights); the layers
    after it are :class:`EnsembleLinear`.
    """

    def __init__(self, members: int, in_dim: int, hidden: Sequence[int], out_dim: int,
                 activation: str = "relu") -> None:
        super().__init__()
        widths = [*hidden, out_dim]
        self.members = members
        self.first = nn.Linear(in_dim, members * widths[0])  # per member: nn.Linear's init
        self.rest = nn.ModuleList(EnsembleLinear(members, a, b)
                                  for a, b in zip(widths, widths[1:], strict=False))
        self.act = ACTIVATIONS[activation]()

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.first(x).unflatten(-1, (self.members, -1))  # [B, M, width]
        if not self.rest:
            return out
        out = out.transpose(0, 1)  # [M, B, width]: members are the batch of the products
        for layer in self.rest:
            out = layer(self.act(out))
        return out.transpose(0, 1)


class _Body(nn.Module):
    """A shared torso (``shared`` widths, may be empty) and ``M`` heads (``hidden`` widths):
    ``[B, in] → [B, M, K]``."""

    def __init__(self, in_dim: int, n_actions: int, members: int, shared: Sequence[int],
                 hidden: Sequence[int], activation: str) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        last = in_dim
        for width in shared:
            layers += [nn.Linear(last, width), ACTIVATIONS[activation]()]
            last = width
        self.torso = nn.Sequential(*layers)
        self.heads = EnsembleMLP(members, last, hidden, n_actions, activation)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.heads(self.torso(x))
        return out


class EnsembleQHead(nn.Module):
    """Q-values of every action for ``M`` ensemble members, ``[B, M, K]``.

    ``shared``: widths of the torso all members read (empty: each member is a whole MLP from
    the features); ``hidden``: widths of each member's head. ``prior_scale`` > 0 adds
    ``prior_scale · p_m(s)``, a fixed randomly initialized function per member (Osband et al.
    2018), not trained: ``prior="linear"`` a linear map of the features (one matrix product for
    all members; on one-hot observations it gives every state and action its own random
    value), ``"mlp"`` a network of the same shape as the members.

    Example:
        >>> import torch
        >>> head = EnsembleQHead(4, 2, members=10, shared=(32,), hidden=(16,), prior_scale=3.0)
        >>> head(torch.zeros(5, 4)).shape
        torch.Size([5, 10, 2])
    """

    def __init__(self, in_dim: int, n_actions: int, members: int,
                 shared: Sequence[int] = (64,), hidden: Sequence[int] = (32,),
                 activation: str = "relu", prior_scale: float = 0.0,
                 prior: Literal["linear", "mlp"] = "linear") -> None:
        super().__init__()
        if members < 1:
            raise ValueError(f"members must be >= 1, got {members}")
        if not prior_scale >= 0:
            raise ValueError(f"prior_scale must be >= 0, got {prior_scale}")
        if prior not in ("linear", "mlp"):
            raise ValueError(f"prior must be 'linear' or 'mlp', got {prior!r}")
        for name, widths in (("shared", shared), ("hidden", hidden)):
            if any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
                raise ValueError(f"{name}: widths must be integers >= 1, got {list(widths)}")
        self.members, self.n_actions, self.prior_scale = members, n_actions, float(prior_scale)
        self.body = _Body(in_dim, n_actions, members, shared, hidden, activation)
        self.prior: _Body | None = None
        if prior_scale > 0:
            shape = ((), ()) if prior == "linear" else (shared, hidden)
            self.prior = _Body(in_dim, n_actions, members, *shape, activation)
            self.prior.requires_grad_(False)

    def forward(self, features: Tensor, action_features: Tensor | None = None) -> Tensor:
        out: Tensor = self.body(features)  # [B, M, K]
        if self.prior is not None:
            with torch.no_grad():
                prior = self.prior(features)
            out = out + self.prior_scale * prior
        return out


__all__ = ["EnsembleLinear", "EnsembleMLP", "EnsembleQHead"]
