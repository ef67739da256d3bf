"""Hand-derived gradients for the TD loss of ReLU MLP Q-networks.

For the most common deep-RL configuration — flat observations, an MLP with ReLU activations and a
per-action output layer — the backward pass of the TD loss is a handful of matrix products that
can be written out directly::

    forward:   h_0 = s,  h_i = relu(h_{i-1} W_iᵀ + b_i),  Q = h_{L-1} W_Lᵀ + b_L
    loss:      ℓ = mean_n ρ(Q[n, a_n] − y_n)          (ρ: Huber with δ = 1, or squared error)
    backward:  g_L = ∂ℓ/∂Q  (nonzero only at the taken actions)
               ∂W_i = g_iᵀ h_{i-1},  ∂b_i = Σ_n g_i,  g_{i-1} = (g_i W_i) ⊙ [h_{i-1} > 0]

Doing this without autograd removes the graph bookkeeping and per-op dispatch that dominate an
update of a small network on CPU (≈ 1.6× faster for the 256-256 network of the CartPole preset;
see docs/benchmarks.md). The result equals autograd's up to float rounding
(tests/unit/test_fused.py); networks of any other shape use autograd.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from nacre.learners.optim import Adam
from nacre.networks.mlp import MLP
from nacre.networks.q import QNetwork, VanillaQHead


def fusable(net: QNetwork) -> bool:
    """True when ``net`` is a flat-input ReLU MLP with one output per action."""
    head = net.head
    return (
        bool(getattr(net, "_passthrough", False))
        and isinstance(head, VanillaQHead)
        and isinstance(head.mlp, MLP)
        and head.mlp._act_fn is torch.relu
    )


Layers = list[tuple[Tensor, Tensor]]
THIN = 24  # layer inputs up to this width take the transposed weight-gradient product


def _probe_onednn() -> Callable[..., Tensor] | None:
    """oneDNN's fp32 linear, where this torch build has it and it runs."""
    if os.environ.get("NACRE_ONEDNN", "1") == "0" or not torch.backends.mkldnn.is_available():  # type: ignore[no-untyped-call]
        return None
    op = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    if op is None:
        return None
    try:
        a, w = torch.ones(2, 3), torch.ones(4, 3)
        ok = bool(torch.equal(op(a, w, None, "none", [], ""), torch.full((2, 4), 3.0)))
    except (RuntimeError, TypeError):
        return None
    return op if ok else None


# Large fp32 products on CPU go through oneDNN rather than torch's default BLAS (MKL): MKL takes
# its AVX2 code path on AMD processors, oneDNN picks the widest vector unit the CPU reports. On
# this project's 2-core AMD EPYC (AVX-512) a 256 × 400 × 300 product takes ≈ 175 µs instead of
# ≈ 350 µs, in full fp32 (docs/design/performance.md). Small and thin products stay with
# torch.mm, which is faster there. NACRE_ONEDNN=0 turns this off.
_ONEDNN = _probe_onednn()


def _onednn(a: Tensor, m: int, k: int, n: int) -> bool:
    return (_ONEDNN is not None and m >= 32 and k >= 64 and n >= 64 and a.is_cpu
            and a.dtype == torch.float32)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None, relu: bool = False) -> Tensor:
    """``x Wᵀ + b``, then ReLU with ``relu``."""
    if _ONEDNN is not None and _onednn(x, x.shape[0], x.shape[1], weight.shape[0]):
        return _ONEDNN(x, weight, bias, "relu" if relu else "none", [], "")
    y = torch.mm(x, weight.t()) if bias is None else torch.addmm(bias, x, weight.t())
    return y.relu_() if relu else y


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a b`` for 2-D ``a`` and ``b`` (either may be a transposed view)."""
    if _ONEDNN is not None and _onednn(a, a.shape[0], a.shape[1], b.shape[1]):
        return _ONEDNN(a, b.t(), None, "none", [], "")
    return torch.mm(a, b)


def weight_grad_into(out: Tensor, grad: Tensor, inputs: Tensor) -> None:
    """``out ← gradᵀ inputs`` (a layer's weight gradient) for 2-D ``grad [B, out]`` and
    ``inputs [B, in]``."""
    if inputs.shape[1] <= THIN:
        # a thin input (e.g. 4 observation columns): MKL computes (hᵀ g)ᵀ several times
        # faster than gᵀ h (≈ 20 vs 46-94 µs for 256 × 400 × 4)
        out.copy_(torch.mm(inputs.t(), grad).t())
    elif _ONEDNN is not None and _onednn(grad, grad.shape[1], grad.shape[0], inputs.shape[1]):
        out.copy_(_ONEDNN(grad.t(), inputs.t(), None, "none", [], ""))
    else:
        torch.mm(grad.t(), inputs, out=out)


def mlp_layers(mlp: MLP) -> Layers:
    """``(weight, bias)`` of each layer (the Parameter objects themselves, which stay valid
    through in-place updates, ``load_state_dict`` and ``.to()``)."""
    return [(lin.weight, lin.bias) for lin in mlp._linears]


def layers_of(net: QNetwork) -> Layers:
    """The layers of a fusable Q-network."""
    assert isinstance(net.head, VanillaQHead) and isinstance(net.head.mlp, MLP)
    return mlp_layers(net.head.mlp)


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
            # tanh(u) = 2σ(2u) − 1 (≈ 3× faster on CPU, see mlp.tanh); the 2u comes out of addmm
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


class FusedTDStep:
    """Optimizer steps on the TD loss of a fusable Q-network, gradients written out by hand.

    The optimizer must be an :class:`~nacre.learners.optim.Adam` built with ``flat=True`` over
    exactly the network's parameters: the gradients are written straight into its flat buffer and
    one kernel updates every parameter. The mean over the batch (and MSE's factor 2) is folded into
    the optimizer's gradient scale instead of being applied to the gradients.
    """

    def __init__(self, net: QNetwork, optimizer: Adam, loss: str) -> None:
        self.layers = layers_of(net)
        self.optimizer = optimizer
        self.huber = loss == "huber"
        params = [p for layer in self.layers for p in layer]
        if [id(p) for p in params] != [id(p) for p in optimizer.params]:
            raise ValueError("the optimizer must own exactly the Q-network's parameters")
        if optimizer.flat_grad is None:
            raise ValueError("FusedTDStep needs an Adam built with flat=True")

    @torch.no_grad()
    def __call__(
        self, obs: Tensor, action: Tensor, target: Tensor, weight: Tensor | None = None,
        want_loss: bool = True, batch_size: int | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Consecutive updates on consecutive ``batch_size``-row slices (default: one update on
        all rows), each toward its ``target`` rows. Returns ``(q_taken, loss)`` of the last
        update (detached; the loss only when ``want_loss``: it is a metric, not needed for the
        update)."""
        rows = obs.shape[0]
        if rows == 0:
            raise ValueError("FusedTDStep got an empty batch")
        size = rows if batch_size is None else batch_size
        index = action.long().unsqueeze(1)
        n_out = self.layers[-1][0].shape[0]
        # Per row: the target in the taken action's column (``wide``) and a mask that is the
        # importance weight there and 0 elsewhere, so ∂ℓ/∂Q = clip(Q − wide) ⊙ mask / n.
        wide = target.unsqueeze(1).expand(rows, n_out).contiguous()
        mask = torch.zeros_like(wide).scatter_(
            1, index, 1.0 if weight is None else weight.unsqueeze(1).to(wide.dtype))
        parts = zip(torch.split(obs, size), torch.split(wide, size), torch.split(mask, size),
                    strict=True)
        layers, grads = self.layers, self.optimizer.grads
        h = x = obs
        for x, y, m in parts:
            h, acts = forward_saving_inputs(layers, x)
            # ∂ℓ/∂Q = multiplier · dh; the multiplier is applied inside the optimizer step
            dh = h - y
            if self.huber:
                dh.clamp_(-1.0, 1.0)
            backward_into(layers, acts, dh.mul_(m), grads)
            self.optimizer.step_flat((1.0 if self.huber else 2.0) / x.shape[0])
        if not want_loss:
            return h.gather(1, index[-x.shape[0]:]).squeeze(1), None
        # metrics of the last update, on its pre-update Q-values
        taken = index[-x.shape[0]:]
        q = h.gather(1, taken).squeeze(1)
        y_last = target[-x.shape[0]:]
        each = (F.smooth_l1_loss if self.huber else F.mse_loss)(q, y_last, reduction="none")
        loss = each.mean() if weight is None else (each * weight[-x.shape[0]:]).mean()
        return q, loss
