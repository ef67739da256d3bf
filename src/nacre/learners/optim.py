"""Optimizer construction, target-network updates and optimizer state as plain trees.

Optimizer state is converted to nested dicts of tensors and JSON scalars so checkpoints can store
it in safetensors + JSON (never pickle).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn


def make_adam(params: Iterable[nn.Parameter], lr: float, eps: float = 1e-8) -> torch.optim.Adam:
    """Adam; the foreach implementation is the fastest for small networks on CPU."""
    return torch.optim.Adam(params, lr=lr, eps=eps, foreach=True)


def optimizer_state(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """``optimizer.state_dict()`` with string keys only (checkpoint-friendly)."""
    sd = optimizer.state_dict()
    return {
        "state": {str(k): dict(v) for k, v in sd["state"].items()},
        "param_groups": [dict(g) for g in sd["param_groups"]],
    }


def load_optimizer_state(optimizer: torch.optim.Optimizer, tree: Mapping[str, Any]) -> None:
    state = {int(k): dict(v) for k, v in tree["state"].items()}
    groups = [dict(g) for g in tree["param_groups"]]
    for g in groups:
        for key, value in list(g.items()):
            if isinstance(value, list) and key in ("betas",):
                g[key] = tuple(value)
    optimizer.load_state_dict({"state": state, "param_groups": groups})


@torch.no_grad()
def polyak_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """``θ_target ← (1 - τ) θ_target + τ θ_online`` (τ = 1 is a hard copy)."""
    t_params = list(target.parameters())
    o_params = list(online.parameters())
    if tau >= 1.0:
        torch._foreach_copy_(t_params, o_params)
    else:
        torch._foreach_lerp_(t_params, o_params, tau)
    for tb, ob in zip(target.buffers(), online.buffers(), strict=True):
        tb.copy_(ob)
