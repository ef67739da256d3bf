"""Hand-written forward and backward passes of MLPs, the building block of every kernel.

For flat inputs and ReLU (or tanh) hidden layers the backward pass of a loss through an MLP is
two matrix products per layer, which can be written out directly::

    forward:   h_0 = x,  h_i = act(h_{i-1} W_iᵀ + b_i),  y = h_{L-1} W_Lᵀ + b_L
    backward:  ∂W_i = g_iᵀ h_{i-1},  ∂b_i = Σ_n g_i,  g_{i-1} = (g_i W_i) ⊙ act'(h_{i-1})

Doing this without autograd removes the graph bookkeeping and per-op dispatch that dominate an
update of a small network on CPU. Large products go through oneDNN when the process settings
enabled it (:mod:`nacre.accel.process`); gradients are written straight into the optimizer's
flat gradient buffer (:meth:`nacre.optim.Adam.flatten_`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from nacre.accel.process import SETTINGS

Layers = list[tuple[Tensor, Tensor]]  # (weight [out, in], bias [out]) per layer
THIN = 24  # layer inputs up to this width take the transposed weight-gradient product


def _large(a: Tensor, m: int, k: int, n: int) -> bool:
    """Whether an ``[m, k] × [k, n]`` product should go to oneDNN (small and thin ones are
    faster in torch.mm)."""
    return (SETTINGS.onednn is not None and m >= 32 and k >= 64 and n >= 64 and a.is_cpu
            and a.dtype == torch.float32)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None, relu: bool = False) -> Tensor:
    """``x Wᵀ + b``, then ReLU with ``relu``."""
    onednn = SETTINGS.onednn
    if onednn is not None and _large(x, x.shape[0], x.shape[1], weight.shape[0]):
        return onednn(x, weight, bias, "relu" if relu else "none", [], "")
    y = torch.mm(x, weight.t()) if bias is None else torch.addmm(bias, x, weight.t())
    return y.relu_() if relu else y


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a b`` for 2-D ``a`` and ``b`` (either may be a transposed view)."""
    onednn = SETTINGS.onednn
    if onednn is not None and _large(a, a.shape[0], a.shape[1], b.shape[1]):
        return onednn(a, b.t(), None, "none", [], "")
    return torch.mm(a, b)


def weight_grad_into(out: Tensor, grad: Tensor, inputs: Tensor) -> None:
    """``out ← gradᵀ inputs`` (a layer's weight gradient) for ``grad [B, out]`` and
    ``inputs [B, in]``."""
    onednn = SETTINGS.onednn
    if inputs.shape[1] <= THIN:
        # a thin input (e.g. 4 observation columns): MKL computes (hᵀ g)ᵀ several times
        # faster than gᵀ h (≈ 20 vs 46-94 µs for 256 × 400 × 4)
        out.copy_(torch.mm(inputs.t(), grad).t())
    elif onednn is not None and _large(grad, grad.shape[1], grad.shape[0], inputs.shape[1]):
        out.copy_(onednn(grad.t(), inputs.t(), None, "none", [], ""))
    else:
        torch.mm(grad.t(), inputs, out=out)


def mlp_forward(layers: Layers, x: Tensor) -> Tensor:
    """``relu(x W_1ᵀ + b_1) … W_Lᵀ + b_L`` without per-module call overhead.

    One row (a single live decision) goes through matrix-vector products, which skip the
    matrix-matrix set-up cost (≈ 10 % of a 4-256-256-2 forward pass on one CPU thread).
    """
    last = len(layers) - 1
    if x.shape[0] == 1 and x.dim() == 2:
        v = x.reshape(-1)
        for i, (weight, bias) in enumerate(layers):
            v = torch.addmv(bias, weight, v)
            if i < last:
                v = torch.relu_(v)
        return v.unsqueeze(0)
    for i, (weight, bias) in enumerate(layers):
        x = linear(x, weight, bias, relu=i < last)
    return x


def forward_saving_inputs(layers: Layers, x: Tensor, use_tanh: bool = False
                          ) -> tuple[Tensor, list[Tensor]]:
    """The MLP's output and the input of each layer (``x`` and each hidden activation), which
    :func:`backward_into` needs. Hidden activations: ReLU, or tanh with ``use_tanh``."""
    acts = [x]
    last = len(layers) - 1
    for i, (weight, bias) in enumerate(layers):
        hidden = i < last
        if hidden and use_tanh and x.shape[0] * weight.shape[0] >= 4096 and x.is_cpu:
            # tanh(u) = 2σ(2u) − 1 (≈ 3× faster on CPU, see networks.mlp.tanh); the 2u comes
            # out of addmm
            x = torch.addmm(bias, x, weight.t(), beta=2.0, alpha=2.0).sigmoid_().mul_(2.0)
            x = x.sub_(1.0)
        elif use_tanh:
            x = torch.addmm(bias, x, weight.t())
            if hidden:
                x = x.tanh_()
        else:
            x = linear(x, weight, bias, relu=hidden)
        if hidden:
            acts.append(x)
    return x, acts


def backward_into(layers: Layers, acts: list[Tensor], grad_out: Tensor, grads: list[Tensor],
                  use_tanh: bool = False) -> None:
    """Given ∂ℓ/∂output, write ∂ℓ/∂W and ∂ℓ/∂b of every layer into ``grads`` (pairs, in layer
    order): ``∂W_i = g_iᵀ h_{i-1}``, ``∂b_i = Σ_n g_i``, ``g_{i-1} = (g_i W_i) ⊙ act'``."""
    dh = grad_out
    for i in range(len(layers) - 1, -1, -1):
        weight_grad_into(grads[2 * i], dh, acts[i])
        torch.sum(dh, 0, out=grads[2 * i + 1])
        if i > 0:
            dh = matmul(dh, layers[i][0])
            h = acts[i]
            if use_tanh:  # tanh' = 1 − h²: dh − (dh·h)·h
                dh = torch.addcmul(dh, dh * h, h, value=-1.0)
            else:  # in place: a fresh tensor would be cold in cache
                torch.ops.aten.threshold_backward.grad_input(dh, h, 0, grad_input=dh)


def grad_views(optimizer_params: list[Tensor], optimizer_grads: list[Tensor],
               layers: Sequence[tuple[Tensor, ...]]) -> list[Tensor]:
    """The optimizer's gradient views of ``layers``' parameters, in layer order (weight, bias,
    weight, bias …; a lone parameter as a 1-tuple) — where :func:`backward_into` writes."""
    views = {id(p): g for p, g in zip(optimizer_params, optimizer_grads, strict=True)}
    return [views[id(p)] for layer in layers for p in layer]


__all__ = ["Layers", "backward_into", "forward_saving_inputs", "grad_views", "linear",
           "matmul", "mlp_forward", "weight_grad_into"]
