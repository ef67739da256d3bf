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
        x = F.linear(x, weight, bias)
        if i < last:
            x = torch.relu_(x)
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
        else:
            x = torch.addmm(bias, x, weight.t())
            if hidden:
                x = x.tanh_() if use_tanh else x.relu_()
        if hidden:
            acts.append(x)
    return x, acts


def backward_into(layers: Layers, acts: list[Tensor], grad_out: Tensor, grads: list[Tensor],
                  use_tanh: bool = False) -> None:
    """Given ∂ℓ/∂output, write ∂ℓ/∂W and ∂ℓ/∂b of every layer into ``grads`` (pairs, in layer
    order): ``∂W_i = g_iᵀ h_{i-1}``, ``∂b_i = Σ_n g_i``, ``g_{i-1} = (g_i W_i) ⊙ act'``."""
    dh = grad_out
    for i in range(len(layers) - 1, -1, -1):
        if acts[i].shape[1] <= THIN:
            # a thin input (e.g. 4 observation columns): MKL computes (hᵀ g)ᵀ several times
            # faster than gᵀ h (≈ 20 vs 46-94 µs for 256 × 400 × 4)
            grads[2 * i].copy_(torch.mm(acts[i].t(), dh).t())
        else:
            torch.mm(dh.t(), acts[i], out=grads[2 * i])
        torch.sum(dh, 0, out=grads[2 * i + 1])
        if i > 0:
            dh = torch.mm(dh, layers[i][0])
            h = acts[i]
            if use_tanh:  # tanh' = 1 − h²: dh − (dh·h)·h
                dh = torch.addcmul(dh, dh * h, h, value=-1.0)
            else:
                dh = torch.ops.aten.threshold_backward(dh, h, 0)


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
