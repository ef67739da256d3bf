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


def layers_of(net: QNetwork) -> Layers:
    """``(weight, bias)`` of each layer of a fusable network (the Parameter objects themselves,
    which stay valid through in-place updates, ``load_state_dict`` and ``.to()``)."""
    assert isinstance(net.head, VanillaQHead) and isinstance(net.head.mlp, MLP)
    return [(lin.weight, lin.bias) for lin in net.head.mlp._linears]


def mlp_forward(layers: Layers, x: Tensor) -> Tensor:
    """``relu(x W_1ᵀ + b_1) … W_Lᵀ + b_L`` without per-module call overhead."""
    last = len(layers) - 1
    for i, (weight, bias) in enumerate(layers):
        x = F.linear(x, weight, bias)
        if i < last:
            x = torch.relu_(x)
    return x


class FusedTDStep:
    """One optimizer step on the TD loss of a fusable Q-network, gradients written out by hand."""

    def __init__(self, net: QNetwork, optimizer: Adam, loss: str) -> None:
        self.layers = layers_of(net)
        self.optimizer = optimizer
        self.huber = loss == "huber"
        params = [p for layer in self.layers for p in layer]
        if [id(p) for p in params] != [id(p) for p in optimizer.params]:
            raise ValueError("the optimizer must own exactly the Q-network's parameters")
        # All gradients live in one flat buffer, so the clipping norm is a single reduction.
        self._flat_grad = torch.empty(sum(p.numel() for p in params), device=params[0].device)
        self._grads = [g.view_as(p) for g, p in zip(
            torch.split(self._flat_grad, [p.numel() for p in params]), params, strict=True)]

    @torch.no_grad()
    def __call__(
        self, obs: Tensor, action: Tensor, target: Tensor, weight: Tensor | None = None,
        want_loss: bool = True,
    ) -> tuple[Tensor, Tensor | None]:
        """Update the network toward ``target``; returns ``(q_taken, loss)`` (detached; the loss
        only when ``want_loss``: it is a metric, not needed for the update)."""
        acts = [obs]
        h = obs
        last = len(self.layers) - 1
        for i, (weight_i, bias_i) in enumerate(self.layers):
            h = F.linear(h, weight_i, bias_i)
            if i < last:
                h.relu_()
                acts.append(h)
        idx = action.long().unsqueeze(1)
        q = h.gather(1, idx).squeeze(1)
        diff = q - target
        n = diff.shape[0]
        loss: Tensor | None = None
        if not want_loss:
            pass
        elif weight is None:
            loss = (F.smooth_l1_loss if self.huber else F.mse_loss)(q, target)
        else:
            each = (F.smooth_l1_loss if self.huber else F.mse_loss)(q, target, reduction="none")
            loss = (each * weight).mean()
        dq = diff.clamp(-1.0, 1.0) if self.huber else 2.0 * diff
        if weight is not None:
            dq = dq * weight
        dh = torch.zeros_like(h).scatter_(1, idx, dq.div_(n).unsqueeze(1))
        grads = self._grads
        for i in range(last, -1, -1):
            torch.mm(dh.t(), acts[i], out=grads[2 * i])
            torch.sum(dh, 0, out=grads[2 * i + 1])
            if i > 0:
                dh = torch.ops.aten.threshold_backward(
                    torch.mm(dh, self.layers[i][0]), acts[i], 0
                )
        self.optimizer.step_with_grads(grads, flat=self._flat_grad)
        return q, loss
