"""Optimizer construction, target-network updates and optimizer state as plain trees.

Optimizer state is converted to nested dicts of tensors and JSON scalars so checkpoints can store
it in safetensors + JSON (never pickle).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn

from nacre.errors import NonFiniteUpdateError


class Adam:
    """Adam (Kingma & Ba 2015) with gradient-norm clipping, in as few kernels as possible.

    ``minimize(loss)`` takes gradients with ``torch.autograd.grad`` (no ``.grad`` buffers to
    zero), folds the clipping factor into the fused Adam kernel as its ``grad_scale`` (so clipping
    costs one norm, not an extra pass over the gradients), and calls the fused kernel directly:
    ``torch.optim.Adam.step`` spends ~70 µs per call in Python on small networks, and merely
    constructing a ``torch.optim`` optimizer imports ``torch._dynamo`` (~1 s of start-up). All
    parameters share one step counter (they always step together). The state dict has exactly
    ``torch.optim.Adam``'s format, so checkpoints load into either. Where the fused kernel is
    unavailable it falls back to ``torch.optim.Adam``.

    A step whose gradient is not finite (a NaN or inf anywhere: a diverging loss, a reward of
    1e38 squared) is **skipped** — parameters, moments and the step counter stay as they were —
    and counted in :attr:`skipped_steps` and logged (logger ``nacre``); with
    ``nonfinite="raise"`` it raises :class:`~nacre.errors.NonFiniteUpdateError` instead. So the
    parameters never become non-finite. (On CUDA the check costs no synchronisation: the kernel
    reads it from a tensor.)

    :meth:`flatten_` (or ``flat=True``) moves the parameters into one contiguous buffer (each
    parameter becomes a view of it, so modules keep working), the moments into two more such
    buffers, and lets :meth:`step_flat` update everything with one kernel from gradients written
    into :attr:`flat_grad` (views per parameter: :attr:`grads`) — what the accelerated updates
    of :mod:`nacre.accel` use. Do not move the module to another device or dtype afterwards
    (that replaces the views; :meth:`step_flat` refuses).
    """

    def __init__(
        self, params: Iterable[torch.Tensor], lr: float, eps: float = 1e-8,
        max_grad_norm: float | None = None, betas: tuple[float, float] = (0.9, 0.999),
        flat: bool = False, nonfinite: Literal["skip", "raise"] = "skip",
    ) -> None:
        if nonfinite not in ("skip", "raise"):
            raise ValueError(f"nonfinite must be 'skip' or 'raise', got {nonfinite!r}")
        self.nonfinite = nonfinite
        self._skipped = 0
        self.params: list[torch.Tensor] = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("Adam needs at least one parameter that requires grad")
        device = self.params[0].device
        self._fused = hasattr(torch, "_fused_adam_") and device.type in ("cpu", "cuda")
        self._on_cpu = device.type == "cpu"
        self.max_grad_norm = max_grad_norm
        self.param_groups: list[dict[str, Any]] = [{
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": 0.0, "amsgrad": False,
            "maximize": False, "foreach": None, "capturable": False, "differentiable": False,
            "fused": True, "decoupled_weight_decay": False,
            "params": list(range(len(self.params))),
        }]
        self.flat_param: torch.Tensor | None = None
        self.flat_grad: torch.Tensor | None = None
        self.grads: list[torch.Tensor] = []
        self._layout = list(range(len(self.params)))  # buffer order: indices into params
        self._torch: torch.optim.Adam | None = None
        if not self._fused:
            self._torch = torch.optim.Adam(self.params, lr=lr, eps=eps, betas=betas)
            self.param_groups = self._torch.param_groups
        self._exp_avg = [torch.zeros_like(p) for p in self.params]
        self._exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self._step = torch.zeros((), dtype=torch.float32, device=device)
        self._steps = [self._step] * len(self.params)  # the kernel only reads them
        # the fused kernel reads grad_scale as float32 whatever the parameter dtype
        self._grad_scale = torch.ones((), dtype=torch.float32, device=device)
        self._skipped_on_device = torch.zeros((), dtype=torch.float32, device=device)
        if flat:
            self.flatten_()

    def flatten_(self, layout: Sequence[torch.Tensor] | None = None) -> None:
        """Move the parameters, their gradients and moments into one flat buffer each.

        ``layout`` is the order of the parameters in the buffers (default: the optimizer's own);
        the state dict keeps the optimizer's order whatever the layout. The values do not
        change; each parameter becomes a view of :attr:`flat_param`. Calling it again with the
        same layout does nothing.
        """
        index = {id(p): i for i, p in enumerate(self.params)}
        order = list(range(len(self.params))) if layout is None else [
            index.get(id(p), -1) for p in layout]
        if sorted(order) != list(range(len(self.params))):
            raise ValueError("layout must hold each of the optimizer's parameters exactly once")
        if self.flat_param is not None:
            if order != self._layout:
                raise ValueError("the optimizer is already flat with another layout")
            return
        self._layout = order
        self.flat_param = flatten([self.params[i] for i in order])
        self.flat_grad = torch.zeros_like(self.flat_param)
        self._flat_m = torch.zeros_like(self.flat_param)
        self._flat_v = torch.zeros_like(self.flat_param)
        self.grads = self._views(self.flat_grad)
        with torch.no_grad():  # keep any moments already accumulated
            for views, old in ((self._views(self._flat_m), self._exp_avg),
                               (self._views(self._flat_v), self._exp_avg_sq)):
                torch._foreach_copy_(views, old)
                old[:] = views

    def _views(self, buffer: torch.Tensor) -> list[torch.Tensor]:
        """Per-parameter views of a flat buffer laid out in :attr:`_layout` order, returned in
        the optimizer's order."""
        in_layout = _views(buffer, [self.params[i] for i in self._layout])
        out: list[torch.Tensor] = [buffer] * len(self.params)
        for i, view in zip(self._layout, in_layout, strict=True):
            out[i] = view
        return out

    def in_layout(self) -> list[torch.Tensor]:
        """The parameters in the order of the flat buffer."""
        return [self.params[i] for i in self._layout]

    def minimize(self, loss: torch.Tensor) -> torch.Tensor | None:
        """One Adam step on ``loss``; returns the pre-clipping gradient norm when clipping."""
        return self.step_with_grads(list(torch.autograd.grad(loss, self.params)))

    def step_with_grads(
        self, grads: list[torch.Tensor], flat: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """One Adam step with given gradients (one per parameter, same order); ``flat`` is an
        optional single tensor the gradients are views of (makes the clipping norm cheaper)."""
        scale = None
        norm: torch.Tensor = (torch.linalg.vector_norm(flat) if flat is not None else
                              torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))
        clipped = norm if self.max_grad_norm is not None else None
        if self.max_grad_norm is not None:
            # clip_grad_norm_ multiplies by max_norm / (norm + 1e-6) when that is below 1.
            scale = ((norm + 1e-6) / self.max_grad_norm).clamp_(min=1.0).float()
        found_inf = None
        if self._on_cpu or self._torch is not None:
            if not math.isfinite(float(norm)):  # on the CPU, reading it costs nothing
                self._skip()
                return clipped
        else:
            found_inf = self._found_inf(norm)
        if self._torch is not None:
            if scale is not None:
                torch._foreach_div_(grads, scale)
            for p, g in zip(self.params, grads, strict=True):
                p.grad = g
            self._torch.step()
            return clipped
        self._advance(found_inf)
        # the fused kernel reads a gradient as laid out like its parameter: a gradient autograd
        # returns with other strides (e.g. through a transposed view) is copied into that layout
        grads = [g if g.stride() == p.stride() else torch.empty_like(p).copy_(g)
                 for p, g in zip(self.params, grads, strict=True)]
        self._kernel(self.params, grads, self._exp_avg, self._exp_avg_sq, self._steps, scale,
                     found_inf)
        return clipped

    @property
    def skipped_steps(self) -> int:
        """Steps skipped so far because their gradient was not finite."""
        on_device = 0 if self._on_cpu else int(self._skipped_on_device)
        return self._skipped + on_device

    def _skip(self) -> None:
        if self.nonfinite == "raise":
            raise NonFiniteUpdateError("the gradient is not finite (NaN or inf): the update was "
                                       "not applied; check the rewards' scale and the lr")
        self._skipped += 1
        if self._skipped in (1, 10, 100) or self._skipped % 1000 == 0:
            logging.getLogger("nacre").warning(
                "non-finite gradient: update skipped (%d so far)", self._skipped)

    def _found_inf(self, norm: torch.Tensor) -> torch.Tensor:
        """1.0 where the gradient is not finite, as the kernel's ``found_inf`` (no sync)."""
        if self.nonfinite == "raise":
            if not math.isfinite(float(norm)):
                self._skip()
            return torch.zeros_like(self._grad_scale)
        found = torch.isfinite(norm).logical_not_().float()
        self._skipped_on_device.add_(found)
        return found

    def _advance(self, found_inf: torch.Tensor | None) -> None:
        if found_inf is None:
            self._step.add_(1)
        else:  # a skipped step does not count
            self._step.add_(1.0 - found_inf)

    def step_flat(self, multiplier: float = 1.0) -> None:
        """One Adam step with the gradient ``multiplier × flat_grad`` (``flat=True`` only).

        The multiplier and the clipping factor are folded into the kernel's ``grad_scale``, so a
        caller can write an unnormalised gradient (e.g. a sum over the batch instead of a mean)
        at no extra pass. On CPU the clipping arithmetic is done on Python floats (reading a CPU
        scalar costs no synchronisation), which saves several tiny tensor kernels per step.
        """
        flat, grad = self.flat_param, self.flat_grad
        if flat is None or grad is None:
            raise RuntimeError("step_flat needs a flat optimizer (Adam.flatten_)")
        if self.params[self._layout[0]].data_ptr() != flat.data_ptr():
            adopt(flat, self.in_layout())
        if self._torch is not None:
            self.step_with_grads([g.mul(multiplier) for g in self.grads])
            return
        scale: torch.Tensor | None = self._grad_scale
        found_inf = None
        if not self._on_cpu:
            norm = torch.linalg.vector_norm(grad) * multiplier
            found_inf = self._found_inf(norm)
            scale = (
                ((norm + 1e-6) / self.max_grad_norm).clamp_(min=1.0).div_(multiplier).float()
                if self.max_grad_norm is not None
                else torch.full_like(self._grad_scale, 1.0 / multiplier)
            )
        else:
            norm_f = float(torch.linalg.vector_norm(grad)) * multiplier
            if not math.isfinite(norm_f):
                self._skip()
                return
            value = 1.0 / multiplier
            if self.max_grad_norm is not None:
                value = max((norm_f + 1e-6) / self.max_grad_norm, 1.0) / multiplier
            if value == 1.0:
                scale = None
            else:
                self._grad_scale.fill_(value)
        self._advance(found_inf)
        self._kernel([flat], [grad], [self._flat_m], [self._flat_v], [self._step], scale,
                     found_inf)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Pickling gives every tensor its own storage: make the per-parameter gradient and moment
        # tensors views of the flat buffers again (in place: other objects hold these lists).
        self.__dict__.update(state)
        self._steps[:] = [self._step] * len(self.params)
        if self.flat_param is not None and self.flat_grad is not None:
            self.grads[:] = self._views(self.flat_grad)
            self._exp_avg[:] = self._views(self._flat_m)
            self._exp_avg_sq[:] = self._views(self._flat_v)

    def _kernel(
        self, params: list[torch.Tensor], grads: list[torch.Tensor], m: list[torch.Tensor],
        v: list[torch.Tensor], steps: list[torch.Tensor], grad_scale: torch.Tensor | None,
        found_inf: torch.Tensor | None = None,
    ) -> None:
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        torch._fused_adam_(
            params, grads, m, v, [], steps,
            lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"],
            eps=group["eps"], amsgrad=False, maximize=False, grad_scale=grad_scale,
            found_inf=found_inf,
        )

    def state_dict(self) -> dict[str, Any]:
        """``torch.optim.Adam.state_dict()`` format, with string keys (checkpoint-friendly)."""
        if self._torch is not None:
            return optimizer_state(self._torch)
        state = {}
        if float(self._step) > 0:
            state = {
                str(i): {"step": self._step.clone(), "exp_avg": m, "exp_avg_sq": v}
                for i, (m, v) in enumerate(zip(self._exp_avg, self._exp_avg_sq, strict=True))
            }
        return {"state": state, "param_groups": [dict(g) for g in self.param_groups]}

    def load_state_dict(self, tree: Mapping[str, Any]) -> None:
        if self._torch is not None:
            load_optimizer_state(self._torch, tree)
            return
        groups = tree["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError("optimizer state does not match the parameters")
        saved = [tree["state"].get(str(i)) for i in range(len(self.params))]
        steps = {None if s is None else float(s["step"]) for s in saved}
        if len(steps) > 1:
            raise ValueError("optimizer state has different step counts per parameter; this "
                             "Adam steps all parameters together")
        group = dict(groups[0])
        group["betas"] = tuple(group["betas"])
        self.param_groups[0].update({k: v for k, v in group.items() if k != "params"})
        with torch.no_grad():
            if saved[0] is None:
                self._step.zero_()
            else:
                self._step.copy_(saved[0]["step"])
            for i, entry in enumerate(saved):
                if entry is None:
                    self._exp_avg[i].zero_()
                    self._exp_avg_sq[i].zero_()
                else:
                    self._exp_avg[i].copy_(entry["exp_avg"])
                    self._exp_avg_sq[i].copy_(entry["exp_avg_sq"])


def adopt(flat: torch.Tensor, params: list[torch.Tensor]) -> None:
    """Move parameters that left their flat buffer back into it (``copy.deepcopy`` and pickle
    give each parameter its own storage; the parameter's value wins); refuse a move to another
    device or dtype."""
    if any(p.device != flat.device or p.dtype != flat.dtype for p in params):
        raise RuntimeError(
            "the parameters no longer live in their flat buffer: the module was moved to another "
            "device or dtype after the learner was built; build the learner after moving the "
            "module")
    with torch.no_grad():
        for p, view in zip(params, _views(flat, params), strict=True):
            if p.data_ptr() != view.data_ptr():
                view.copy_(p)
                p.data = view


def flatten(params: list[torch.Tensor]) -> torch.Tensor:
    """Move ``params`` into one new contiguous buffer; each becomes a view of it."""
    first = params[0]
    if any(p.device != first.device or p.dtype != first.dtype for p in params):
        raise ValueError("flat=True needs all parameters on one device with one dtype")
    if len({id(p) for p in params}) != len(params):
        raise ValueError("flat=True needs distinct parameters")
    buffer = torch.empty(sum(p.numel() for p in params), dtype=first.dtype, device=first.device)
    with torch.no_grad():
        for p, view in zip(params, _views(buffer, params), strict=True):
            view.copy_(p)
            p.data = view
    return buffer


def _views(buffer: torch.Tensor, like: list[torch.Tensor]) -> list[torch.Tensor]:
    parts = torch.split(buffer, [p.numel() for p in like])
    return [part.view_as(p) for part, p in zip(parts, like, strict=True)]


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
