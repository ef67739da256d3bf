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
    costs one norm, not an extra pass over the gradients), and calls the fused kernel directly:
    ``torch.optim.Adam.step`` spends ~70 µs per call in Python on small networks, and merely
    constructing a ``torch.optim`` optimizer imports ``torch._dynamo`` (~1 s of start-up). The
    state dict has exactly ``torch.optim.Adam``'s format, so checkpoints load into either. Where
    the fused kernel is unavailable it falls back to ``torch.optim.Adam``.
    """

    def __init__(
        self, params: Iterable[nn.Parameter], lr: float, eps: float = 1e-8,
        max_grad_norm: float | None = None, betas: tuple[float, float] = (0.9, 0.999),
    ) -> None:
        self.params: list[torch.Tensor] = [p for p in params if p.requires_grad]
        device = self.params[0].device
        self._fused = hasattr(torch, "_fused_adam_") and device.type in ("cpu", "cuda")
        self.max_grad_norm = max_grad_norm
        self.param_groups: list[dict[str, Any]] = [{
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": 0.0, "amsgrad": False,
            "maximize": False, "foreach": None, "capturable": False, "differentiable": False,
            "fused": True, "decoupled_weight_decay": False,
            "params": list(range(len(self.params))),
        }]
        self._torch: torch.optim.Adam | None = None
        if not self._fused:
            self._torch = torch.optim.Adam(self.params, lr=lr, eps=eps, betas=betas)
            self.param_groups = self._torch.param_groups
        self._exp_avg = [torch.zeros_like(p) for p in self.params]
        self._exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self._steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params]

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
            scale = ((norm + 1e-6) / self.max_grad_norm).clamp_(min=1.0)
        if self._torch is not None:
            if scale is not None:
                torch._foreach_div_(grads, scale)
            for p, g in zip(self.params, grads, strict=True):
                p.grad = g
            self._torch.step()
            return norm
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        torch._foreach_add_(self._steps, 1)
        torch._fused_adam_(
            self.params, grads, self._exp_avg, self._exp_avg_sq, [], self._steps,
            lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"],
            eps=group["eps"], amsgrad=False, maximize=False, grad_scale=scale, found_inf=None,
        )
        return norm

    def state_dict(self) -> dict[str, Any]:
        """``torch.optim.Adam.state_dict()`` format, with string keys (checkpoint-friendly)."""
        if self._torch is not None:
            return optimizer_state(self._torch)
        state = {
            str(i): {"step": s, "exp_avg": m, "exp_avg_sq": v}
            for i, (s, m, v) in enumerate(zip(self._steps, self._exp_avg, self._exp_avg_sq,
                                              strict=True))
            if float(s) > 0
        }
        return {"state": state, "param_groups": [dict(g) for g in self.param_groups]}

    def load_state_dict(self, tree: Mapping[str, Any]) -> None:
        if self._torch is not None:
            load_optimizer_state(self._torch, tree)
            return
        groups = tree["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError("optimizer state does not match the parameters")
        group = dict(groups[0])
        group["betas"] = tuple(group["betas"])
        self.param_groups[0].update({k: v for k, v in group.items() if k != "params"})
        with torch.no_grad():
            for i in range(len(self.params)):
                saved = tree["state"].get(str(i))
                if saved is None:
                    self._steps[i].zero_()
                    self._exp_avg[i].zero_()
                    self._exp_avg_sq[i].zero_()
                    continue
                self._steps[i].copy_(saved["step"])
                self._exp_avg[i].copy_(saved["exp_avg"])
                self._exp_avg_sq[i].copy_(saved["exp_avg_sq"])


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
