"""Optimizer construction, target-network updates and optimizer state as plain trees.

Optimizer state is converted to nested dicts of tensors and JSON scalars so checkpoints can store
it in safetensors + JSON (never pickle).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn


class Adam:
    """Adam (Kingma & Ba 2015) with gradient-norm clipping, in as few kernels as possible.

    ``minimize(loss)`` takes gradients with ``torch.autograd.grad`` (no ``.grad`` buffers to
    zero), folds the clipping factor into the fused Adam kernel as its ``grad_scale`` (so clipping
    costs one norm, not an extra pass over the gradients), and calls the fused kernel directly
    (``torch.optim.Adam.step`` spends ~70 µs per call in Python on small networks). The state
    lives in a regular ``torch.optim.Adam`` so ``state_dict`` and checkpoints are standard; where
    the fused kernel is unavailable it falls back to ``torch.optim.Adam.step``.
    """

    def __init__(
        self, params: Iterable[nn.Parameter], lr: float, eps: float = 1e-8,
        max_grad_norm: float | None = None,
    ) -> None:
        self.params: list[torch.Tensor] = [p for p in params if p.requires_grad]
        device = self.params[0].device
        self._fused = hasattr(torch, "_fused_adam_") and device.type in ("cpu", "cuda")
        self.optimizer = torch.optim.Adam(self.params, lr=lr, eps=eps, fused=self._fused or None)
        self.max_grad_norm = max_grad_norm
        self._state: tuple[list[torch.Tensor], ...] | None = None

    def _lists(self) -> tuple[list[torch.Tensor], ...]:
        if self._state is None:
            for p in self.params:
                st = self.optimizer.state[p]
                if not st:
                    st["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                    st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            states = [self.optimizer.state[p] for p in self.params]
            self._state = ([s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
                           [s["step"] for s in states])
        return self._state

    def minimize(self, loss: torch.Tensor) -> torch.Tensor | None:
        """One Adam step on ``loss``; returns the pre-clipping gradient norm when clipping."""
        return self.step_with_grads(list(torch.autograd.grad(loss, self.params)))

    def step_with_grads(
        self, grads: list[torch.Tensor], flat: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """One Adam step with given gradients (one per parameter, same order); ``flat`` is an
        optional single tensor the gradients are views of (makes the clipping norm cheaper)."""
        norm = scale = None
        if self.max_grad_norm is not None:
            if flat is not None:
                norm = torch.linalg.vector_norm(flat)
            else:
                norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
            # clip_grad_norm_ multiplies by max_norm / (norm + 1e-6) when that is below 1.
            scale = torch.clamp((norm + 1e-6) / self.max_grad_norm, min=1.0)
        if not self._fused:
            if scale is not None:
                torch._foreach_div_(grads, scale)
            for p, g in zip(self.params, grads, strict=True):
                p.grad = g
            self.optimizer.step()
            return norm
        exp_avgs, exp_avg_sqs, steps = self._lists()
        group = self.optimizer.param_groups[0]
        beta1, beta2 = group["betas"]
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(
            self.params, grads, exp_avgs, exp_avg_sqs, [], steps,
            lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"],
            eps=group["eps"], amsgrad=False, maximize=False, grad_scale=scale, found_inf=None,
        )
        return norm

    def state_dict(self) -> dict[str, Any]:
        return optimizer_state(self.optimizer)

    def load_state_dict(self, tree: Mapping[str, Any]) -> None:
        load_optimizer_state(self.optimizer, tree)
        self._state = None


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
    t_params: list[torch.Tensor] = list(target.parameters())
    o_params: list[torch.Tensor] = list(online.parameters())
    if tau >= 1.0:
        torch._foreach_copy_(t_params, o_params)
    else:
        torch._foreach_lerp_(t_params, o_params, tau)
    for tb, ob in zip(target.buffers(), online.buffers(), strict=True):
        tb.copy_(ob)
