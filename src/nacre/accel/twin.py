"""Twin critics as stacked tensors over a flat buffer, and what TD3 and SAC kernels share.

The critic optimizer is flattened with the critics' parameters interleaved
(:meth:`~nacre.networks.TwinQCritic.interleaved_parameters`: layer ``i`` of every critic next to
each other), so a strided view stacks them into one ``[C, out, in]`` tensor of the parameter
buffer, and another of the gradient buffer: weight gradients are written straight where the
optimizer reads them. Target networks live in flat buffers with the same layout as their online
networks, so a Polyak update is one ``lerp_``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from nacre.accel.flat import FlatKernel, Pairs, flatten, optimizer_pairs
from nacre.accel.mlp import linear, matmul, weight_grad_into
from nacre.data.batch import TransitionBatch
from nacre.networks.continuous import TwinQCritic
from nacre.networks.encoders import FlattenEncoder
from nacre.networks.mlp import MLP
from nacre.optim import Adam
from nacre.types import Learner, Metrics

Stacked = list[tuple[Tensor, Tensor]]  # per layer: weights [C, out, in], biases [C, out]


# Exact types throughout: a subclass of a network may compute something the kernels do not.
def flat_input(encoder: nn.Module) -> bool:
    return type(encoder) is FlattenEncoder and encoder.passthrough


def relu_mlp(module: nn.Module | None) -> bool:
    return type(module) is MLP and module.activation == "relu"


def trainable(module: nn.Module) -> bool:
    return all(p.requires_grad for p in module.parameters())


def twin_covered(critic: nn.Module) -> bool:
    """A flat-input twin critic of identically shaped ReLU MLPs whose parameters all train."""
    if not (type(critic) is TwinQCritic and flat_input(critic.encoder)
            and trainable(critic)):
        return False
    shapes = {tuple(p.shape for p in c.parameters()) for c in critic.critics}
    return len(shapes) == 1 and all(relu_mlp(c) for c in critic.critics)


def stack(buffer: Tensor, base: Tensor, critic: TwinQCritic) -> Stacked:
    """Views of ``buffer`` stacking layer ``i`` of every critic into one tensor.

    ``base`` is the flat buffer the critics' parameters are views of; ``buffer`` has its layout
    (``base`` itself, or the optimizer's flat gradient)."""
    critics = [mlp.layers() for mlp in critic.critics if isinstance(mlp, MLP)]
    size = base.element_size()

    def offset(t: Tensor) -> int:
        return (t.data_ptr() - base.data_ptr()) // size

    out: Stacked = []
    for i in range(len(critics[0])):
        pair = []
        for k in (0, 1):  # weight, bias
            first = critics[0][i][k]
            offsets = [offset(c[i][k]) for c in critics]
            step = offsets[1] - offsets[0] if len(offsets) > 1 else first.numel()
            if offsets != [offsets[0] + j * step for j in range(len(offsets))]:
                raise RuntimeError("the critics' parameters are not evenly spaced in the buffer")
            pair.append(buffer.as_strided((len(offsets), *first.shape), (step, *first.stride()),
                                          buffer.storage_offset() + offsets[0]))
        out.append((pair[0], pair[1]))
    return out


def twin_forward(layers: Stacked, x: Tensor) -> tuple[Tensor, list[list[Tensor]]]:
    """All critics on the same input ``x [B, in]``: ``Q [C, B]`` and, per critic, each layer's
    input."""
    q, acts = [], []
    last = len(layers) - 1
    for j in range(layers[0][0].shape[0]):
        h, inputs = x, [x]
        for i, (weight, bias) in enumerate(layers):
            h = linear(h, weight[j], bias[j], relu=i < last)
            if i < last:
                inputs.append(h)
        q.append(h.squeeze(1))
        acts.append(inputs)
    return torch.stack(q), acts


def twin_backward(layers: Stacked, acts: list[list[Tensor]], dq: Tensor,
                  grads: Stacked | None = None, input_from: int | None = None) -> Tensor | None:
    """Back-propagate ``dq = ∂ℓ/∂Q [C, B]``: weight and bias gradients into ``grads`` (when
    given) and, with ``input_from``, return ``∂ℓ/∂x[:, input_from:]`` summed over the critics."""
    out: Tensor | None = None
    for j, inputs in enumerate(acts):
        dh = dq[j].unsqueeze(1)
        for i in range(len(layers) - 1, -1, -1):
            if grads is not None:
                weight_grad_into(grads[i][0][j], dh, inputs[i])
                torch.sum(dh, 0, out=grads[i][1][j])
            if i > 0:
                dh = matmul(dh, layers[i][0][j])
                torch.ops.aten.threshold_backward.grad_input(dh, inputs[i], 0, grad_input=dh)
        if input_from is not None:
            part = layers[0][0][j, :, input_from:]
            out = torch.mm(dh, part) if out is None else torch.addmm(out, dh, part)
    return out


Inputs = tuple[Tensor, Tensor, Tensor, Tensor, Tensor, "float | Tensor"]


class ActorCriticKernel(FlatKernel):
    """What the TD3 and SAC kernels share: the optimizers flattened (the critics' interleaved),
    the target networks in flat buffers of the same layout, the critics' stacked views, kept
    consistent after copies, and the batch in the networks' dtype."""

    def __init__(self, learner: Learner, gamma: float, actor_optimizer: Adam,
                 critic_optimizer: Adam, critic: TwinQCritic, critic_target: TwinQCritic,
                 actor_target: nn.Module | None = None) -> None:
        self.gamma = gamma
        self.actor_optimizer, self.critic_optimizer = actor_optimizer, critic_optimizer
        self.critic_module, self.critic_target_module = critic, critic_target
        self.actor_target_module = actor_target
        actor_optimizer.flatten_()
        critic_optimizer.flatten_(critic.interleaved_parameters())
        self.critic_target_flat = flatten(critic_target.interleaved_parameters())
        self.actor_target_flat = (None if actor_target is None
                                  else flatten(list(actor_target.parameters())))
        super().__init__(learner)

    def pairs(self) -> Pairs:
        pairs = optimizer_pairs(self.actor_optimizer, self.critic_optimizer)
        pairs.append((self.critic_target_flat, self.critic_target_module.interleaved_parameters()))
        if self.actor_target_flat is not None and self.actor_target_module is not None:
            pairs.append((self.actor_target_flat, list(self.actor_target_module.parameters())))
        return pairs

    def build_views(self) -> None:
        c_flat, c_grad = self.critic_optimizer.flat_param, self.critic_optimizer.flat_grad
        assert c_flat is not None and c_grad is not None
        self.critic = stack(c_flat, c_flat, self.critic_module)
        self.critic_grads = stack(c_grad, c_flat, self.critic_module)
        self.critic_target = stack(self.critic_target_flat, self.critic_target_flat,
                                   self.critic_target_module)
        self.build_actor_views()

    def build_actor_views(self) -> None:
        raise NotImplementedError

    def step(self, batch: TransitionBatch, want_metrics: bool) -> Metrics:
        raise NotImplementedError

    def learn_batches(self, batch: TransitionBatch, batch_size: int) -> Metrics:
        if not batch.obs.is_floating_point():  # the step casts float64 (MuJoCo) itself
            return super().learn_batches(batch, batch_size)
        parts = batch.split(batch_size)
        metrics: Metrics = {}
        for i, part in enumerate(parts):
            metrics = self.step(part, want_metrics=i == len(parts) - 1)
        return metrics

    def inputs(self, batch: TransitionBatch, dtype: torch.dtype) -> Inputs:
        """Fresh views, then ``(obs, next_obs, action, reward, terminated, discount)`` in the
        networks' dtype (the flat encoder casts observations itself in the readable path)."""
        self.refresh()
        discount = batch.discount_or(self.gamma)
        return (batch.obs.to(dtype), batch.next_obs.to(dtype), batch.action.to(dtype),
                batch.reward.to(dtype), batch.terminated.to(dtype),
                discount.to(dtype) if isinstance(discount, Tensor) else discount)


__all__ = ["ActorCriticKernel", "Stacked", "relu_mlp", "stack", "twin_backward",
           "twin_covered", "twin_forward"]
