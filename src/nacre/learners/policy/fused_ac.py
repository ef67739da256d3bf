"""Hand-derived gradients of the TD3 and SAC updates for ReLU MLP actors and twin critics.

An update of these learners on CPU is dominated by a dozen matrix products (TD3's 400-300
networks: ≈ 11.5 products of 256 × 400 × 300 per update); autograd adds graph bookkeeping, per-op
dispatch, critic weight gradients the actor step throws away, and one kernel per parameter in the
optimizer and the Polyak update. Written out by hand:

* **Twin critics over the optimizer's flat buffer.** The critic optimizer keeps layer ``i`` of
  every critic next to each other (:meth:`TwinQCritic.optimizer_parameters`), so a strided view
  stacks them into one ``[C, out, in]`` tensor of the parameter buffer, and another of the
  gradient buffer: the weight gradients are written straight where the optimizer reads them.
  Each critic's products go through :func:`~nacre.learners.value.fused.linear` /
  :func:`~nacre.learners.value.fused.matmul` (oneDNN for the large ones, with the ReLU fused
  into the forward product).
* **Critic loss.** ``∂/∂Q_j`` of ``k · Σ_j mean_n (Q_j − y)²`` is ``2k (Q_j − y) / n``; the
  constant goes into the optimizer's gradient scale.
* **Actor step.** Only the gradient with respect to the critic's *action input* is needed:
  ``g_a = (g_1 W_1)[:, obs_dim:]`` after the hidden layers' backward, no critic weight gradients.
  TD3: ``a = tanh(z)``, ``∂L/∂z = g_a (1 − a²)`` with ``∂L/∂Q_1 = −1/n``. SAC:
  ``L = mean(α log π(a|s) − min_j Q_j(s, a))`` with ``a = tanh(u)``, ``u = μ + σ ε``: the minimum
  routes ``−1/n`` to the critic that attains it, ``∂ log π/∂u = 2 tanh(u)`` (the derivative of
  the tanh correction; the Gaussian term does not depend on ``u`` once ``ε`` is fixed), so
  ``∂L/∂μ = ∂L/∂u = g_a (1 − a²) + 2α a / n`` and ``∂L/∂log σ = ∂L/∂u · σ ε − α / n`` inside
  the clamp range of ``log σ`` (0 outside it).
* **Targets.** Target networks live in flat buffers too: a Polyak update is one ``lerp_``.

The results equal the autograd updates of :class:`~nacre.learners.TD3` and
:class:`~nacre.learners.SAC` up to float rounding (tests/unit/test_fused_ac.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from nacre.data.batch import TransitionBatch
from nacre.learners.optim import Adam, adopt
from nacre.learners.value.fused import (
    Layers,
    backward_into,
    forward_saving_inputs,
    linear,
    matmul,
    mlp_forward,
    mlp_layers,
    weight_grad_into,
)
from nacre.losses.policy import squashed_gaussian_log_prob
from nacre.losses.td import td_target
from nacre.networks.continuous import DeterministicActor, SquashedGaussianActor, TwinQCritic
from nacre.networks.encoders import FlattenEncoder
from nacre.networks.mlp import MLP
from nacre.types import Metrics

if TYPE_CHECKING:
    from nacre.learners.policy.sac import SAC
    from nacre.learners.policy.td3 import TD3

Stacked = list[tuple[Tensor, Tensor]]  # per layer: weights [C, out, in], biases [C, out]


def _flat_input(encoder: nn.Module) -> bool:
    return isinstance(encoder, FlattenEncoder) and encoder.passthrough


def _relu_mlp(module: nn.Module | None) -> bool:
    return isinstance(module, MLP) and module._act_fn is torch.relu


def _trainable(module: nn.Module) -> bool:
    return all(p.requires_grad for p in module.parameters())


def fusable_actor(actor: nn.Module) -> bool:
    """True for a flat-input ReLU MLP actor (deterministic, or squashed Gaussian with a trunk)
    whose parameters all train."""
    if not _trainable(actor):
        return False
    if isinstance(actor, DeterministicActor):
        return _flat_input(actor.encoder) and _relu_mlp(actor.mlp)
    if isinstance(actor, SquashedGaussianActor):
        return (_flat_input(actor.encoder) and _relu_mlp(actor.trunk)
                and isinstance(actor._act, nn.ReLU))
    return False


def fusable_critic(critic: nn.Module) -> bool:
    """True for a flat-input twin critic of identically shaped ReLU MLPs whose parameters all
    train."""
    if not (isinstance(critic, TwinQCritic) and _flat_input(critic.encoder)
            and _trainable(critic)):
        return False
    shapes = {tuple(p.shape for p in c.parameters()) for c in critic.critics}
    return len(shapes) == 1 and all(_relu_mlp(c) for c in critic.critics)


def stack(buffer: Tensor, base: Tensor, critics: list[Layers]) -> Stacked:
    """Views of ``buffer`` stacking layer ``i`` of every critic into one tensor.

    ``base`` is the flat buffer the critics' parameters are views of; ``buffer`` has its layout
    (``base`` itself, or the optimizer's flat gradient)."""
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


def _cast(batch: TransitionBatch, dtype: torch.dtype
          ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, float | Tensor | None]:
    """``(obs, next_obs, action, reward, terminated, discount)`` in the networks' dtype: the
    flat encoder casts observations itself in the autograd path (e.g. MuJoCo's float64)."""
    discount = batch.discount
    return (batch.obs.to(dtype), batch.next_obs.to(dtype), batch.action.to(dtype),
            batch.reward.to(dtype), batch.terminated.to(dtype),
            None if discount is None else discount.to(dtype))


def _grad_views(optimizer: Adam) -> dict[int, Tensor]:
    return {id(p): g for p, g in zip(optimizer.params, optimizer.grads, strict=True)}


def _critic_views(critic: TwinQCritic, flat: Tensor, grad: Tensor | None = None
                  ) -> tuple[Stacked, Stacked]:
    per_critic = [mlp_layers(c) for c in critic.critics]  # type: ignore[arg-type]
    return (stack(flat, flat, per_critic),
            [] if grad is None else stack(grad, flat, per_critic))


class _Flats:
    """The flat buffers of a learner's networks, kept consistent with the modules: after
    ``copy.deepcopy`` each parameter has its own storage again, and :meth:`moved` moves it back
    (the views built over the buffers must then be rebuilt)."""

    def __init__(self) -> None:
        self._watch: list[tuple[Tensor, Tensor]] = []

    def moved(self, pairs: Callable[[], list[tuple[Tensor, list[Tensor]]]]) -> bool:
        """True (after re-adopting the parameters) when the views must be (re)built."""
        if self._watch and all(p.data_ptr() == flat.data_ptr() for flat, p in self._watch):
            return False
        current = pairs()
        for flat, params in current:
            if params[0].data_ptr() != flat.data_ptr():
                adopt(flat, params)
        self._watch = [(flat, params[0]) for flat, params in current]
        return True


def learn_in_parts(learner: TD3 | SAC, batch: TransitionBatch, batch_size: int) -> Metrics:
    """``len(batch) / batch_size`` consecutive updates of ``learner``; the metrics are those of
    the last (the fused update computes none for the others)."""
    parts = batch.split(batch_size)
    metrics: Metrics = {}
    for i, part in enumerate(parts):
        if learner._fused is not None and part.obs.is_floating_point():
            metrics = learner._fused(part, metrics=i == len(parts) - 1)
        else:
            metrics = learner.learn_batch(part)
    return metrics


class _FusedStep:
    """What both fused steps share: the learner, its flat buffers and the views over them,
    rebuilt when the buffers move (after ``copy.deepcopy``)."""

    flats: tuple[Tensor, ...]  # the parameter buffers, set by _build

    def __init__(self, learner: Any) -> None:
        self.learner = learner
        self._flats = _Flats()

    def _pairs(self) -> list[tuple[Tensor, list[Tensor]]]:
        """Each flat buffer with the parameters that must be views of it."""
        raise NotImplementedError

    def _build(self) -> None:
        """(Re)build the views over the buffers."""
        raise NotImplementedError

    def _views(self) -> None:
        if self._flats.moved(self._pairs):
            self._build()

    def _inputs(self, batch: TransitionBatch
                ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, float | Tensor]:
        """Fresh views, then ``(obs, next_obs, action, reward, terminated, discount)`` in the
        networks' dtype, the discount being the learner's γ where the buffer gave none."""
        self._views()
        obs, next_obs, taken, reward, terminated, discount = _cast(batch, self.flats[0].dtype)
        gamma: float = self.learner.config.gamma
        return obs, next_obs, taken, reward, terminated, gamma if discount is None else discount

    def _online_pairs(self) -> list[tuple[Tensor, list[Tensor]]]:
        """The actor's and the critics' optimizer buffers with their parameters."""
        a_opt, c_opt = self.learner.actor_optimizer, self.learner.critic_optimizer
        assert a_opt.flat_param is not None and c_opt.flat_param is not None
        return [(a_opt.flat_param, a_opt.params), (c_opt.flat_param, c_opt.params)]


class FusedTD3Step(_FusedStep):
    """One TD3 update with hand-derived gradients (see the module docstring)."""

    learner: TD3

    def _pairs(self) -> list[tuple[Tensor, list[Tensor]]]:
        lr = self.learner
        a_flat_t, c_flat_t = lr.target_flats
        return [*self._online_pairs(), (a_flat_t, list[Tensor](lr.actor_target.parameters())),
                (c_flat_t, lr.critic_target.optimizer_parameters())]

    def _build(self) -> None:
        lr = self.learner
        a_opt, c_opt = lr.actor_optimizer, lr.critic_optimizer
        a_flat, c_flat, c_grad = a_opt.flat_param, c_opt.flat_param, c_opt.flat_grad
        assert a_flat is not None and c_flat is not None and c_grad is not None
        self.actor = mlp_layers(lr.actor.mlp)
        views = _grad_views(a_opt)
        self.actor_grads = [views[id(p)] for layer in self.actor for p in layer]
        self.actor_target = mlp_layers(lr.actor_target.mlp)
        self.critic, self.critic_grads = _critic_views(lr.critic, c_flat, c_grad)
        self.q1 = [(w[:1], b[:1]) for w, b in self.critic]
        self.critic_target = _critic_views(lr.critic_target, lr.target_flats[1])[0]
        self.flats = (a_flat, c_flat, *lr.target_flats)

    @torch.no_grad()
    def __call__(self, batch: TransitionBatch, metrics: bool = True) -> Metrics:
        """One update; ``metrics=False`` skips computing the (detached) loss metrics."""
        lr, cfg = self.learner, self.learner.config
        obs, next_obs, taken, reward, terminated, discount = self._inputs(batch)
        rows = obs.shape[0]
        # target: r + γ (1 − terminated) min_j Q'_j(s', clip(μ'(s') + clip(ε)))
        next_action = torch.tanh(mlp_forward(self.actor_target, next_obs))
        noise = torch.randn(next_action.shape, generator=lr.generator, device=obs.device)
        noise = noise.mul_(cfg.target_noise).clamp_(-cfg.target_noise_clip, cfg.target_noise_clip)
        next_in = torch.cat([next_obs, noise.add_(next_action).clamp_(-1.0, 1.0)], dim=1)
        next_q = twin_forward(self.critic_target, next_in)[0].amin(dim=0)
        target = td_target(reward, next_q, terminated, discount)
        # critics: ∂/∂Q_j of Σ_j mean (Q_j − y)² = 2 (Q_j − y) / n
        q, acts = twin_forward(self.critic, torch.cat([obs, taken], dim=1))
        dq = q - target
        twin_backward(self.critic, acts, dq, self.critic_grads)
        lr.critic_optimizer.step_flat(2.0 / rows)
        lr.updates += 1
        out: Metrics = ({"critic_loss": dq.square().mean(dim=1).sum(), "q_mean": q[0].mean()}
                        if metrics else {})
        if lr.updates % cfg.policy_delay == 0:
            z, actor_acts = forward_saving_inputs(self.actor, obs)
            action = torch.tanh(z)
            q1, q1_acts = twin_forward(self.q1, torch.cat([obs, action], dim=1))
            g_a = twin_backward(self.q1, q1_acts, torch.full_like(q1, -1.0),
                                input_from=obs.shape[1])
            assert g_a is not None
            backward_into(self.actor, actor_acts, g_a.mul_(1.0 - action * action),
                          self.actor_grads)
            lr.actor_optimizer.step_flat(1.0 / rows)
            actor_flat, critic_flat, actor_target, critic_target = self.flats
            actor_target.lerp_(actor_flat, cfg.tau)
            critic_target.lerp_(critic_flat, cfg.tau)
            if metrics:
                out["actor_loss"] = -q1.mean()
        return out


class FusedSACStep(_FusedStep):
    """One SAC update with hand-derived gradients (see the module docstring)."""

    learner: SAC

    def _pairs(self) -> list[tuple[Tensor, list[Tensor]]]:
        lr = self.learner
        assert lr.target_flat is not None
        return [*self._online_pairs(), (lr.target_flat, lr.critic_target.optimizer_parameters())]

    def _build(self) -> None:
        lr = self.learner
        a_opt, c_opt = lr.actor_optimizer, lr.critic_optimizer
        c_flat, c_grad, target_flat = c_opt.flat_param, c_opt.flat_grad, lr.target_flat
        assert c_flat is not None and c_grad is not None and target_flat is not None
        actor = lr.actor
        assert actor.trunk is not None
        self.trunk = mlp_layers(actor.trunk)
        self.heads = [(actor.mean.weight, actor.mean.bias),
                      (actor.log_std.weight, actor.log_std.bias)]
        views = _grad_views(a_opt)
        self.trunk_grads = [views[id(p)] for layer in self.trunk for p in layer]
        self.head_grads = [(views[id(w)], views[id(b)]) for w, b in self.heads]
        self.critic, self.critic_grads = _critic_views(lr.critic, c_flat, c_grad)
        self.critic_target = _critic_views(lr.critic_target, target_flat)[0]
        self.flats = (c_flat, target_flat)

    def _sample(self, obs: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, list[Tensor]]:
        """A reparameterized sample as :meth:`SquashedGaussianActor.sample` draws it (same
        generator calls): ``(a, log π(a|s), σ ε, mask of log σ inside its clamp range,
        inputs of the trunk layers + the heads' input)``."""
        lo, hi = SquashedGaussianActor.LOG_STD_MIN, SquashedGaussianActor.LOG_STD_MAX
        acts, h = [obs], obs
        for weight, bias in self.trunk:
            h = linear(h, weight, bias, relu=True)
            acts.append(h)
        (w_mu, b_mu), (w_ls, b_ls) = self.heads
        mean = torch.addmm(b_mu, h, w_mu.t())
        raw_log_std = torch.addmm(b_ls, h, w_ls.t())
        log_std = raw_log_std.clamp(lo, hi)
        noise = torch.randn(mean.shape, generator=self.learner.generator, device=mean.device)
        std_noise = log_std.exp().mul_(noise)
        u = mean + std_noise
        log_prob = squashed_gaussian_log_prob(mean, log_std, u)
        in_range = (raw_log_std >= lo) & (raw_log_std <= hi)
        return torch.tanh(u), log_prob, std_noise, in_range, acts

    @torch.no_grad()
    def __call__(self, batch: TransitionBatch, metrics: bool = True) -> Metrics:
        """One update; ``metrics=False`` skips computing the (detached) loss metrics."""
        lr, cfg = self.learner, self.learner.config
        obs, next_obs, taken, reward, terminated, discount = self._inputs(batch)
        rows = obs.shape[0]
        action, log_prob, std_noise, in_range, actor_acts = self._sample(obs)
        alpha = lr.log_alpha.detach().exp()
        out: Metrics = {}
        if lr.alpha_optimizer is not None:
            shifted = log_prob + lr.target_entropy
            if metrics:
                out["alpha_loss"] = -(lr.log_alpha.detach() * shifted).mean()
            lr.alpha_optimizer.step_with_grads([-shifted.mean()])
        # target: r + γ (1 − terminated) (min_j Q'_j(s', a') − α log π(a'|s'))
        next_action, next_log_prob = self._sample(next_obs)[:2]
        next_in = torch.cat([next_obs, next_action], dim=1)
        next_q = twin_forward(self.critic_target, next_in)[0].amin(dim=0)
        target = td_target(reward, next_log_prob.mul_(-alpha).add_(next_q), terminated, discount)
        # critics: ∂/∂Q_j of ½ Σ_j mean (Q_j − y)² = (Q_j − y) / n
        q, acts = twin_forward(self.critic, torch.cat([obs, taken], dim=1))
        dq = q - target
        twin_backward(self.critic, acts, dq, self.critic_grads)
        lr.critic_optimizer.step_flat(1.0 / rows)
        # actor, against the updated critics; gradients × n (the 1/n is the optimizer's scale)
        q_pi, pi_acts = twin_forward(self.critic, torch.cat([obs, action], dim=1))
        q_min, which = q_pi.min(dim=0)
        d_q = torch.zeros_like(q_pi).scatter_(0, which.unsqueeze(0), -1.0)
        g_a = twin_backward(self.critic, pi_acts, d_q, input_from=obs.shape[1])
        assert g_a is not None
        d_u = g_a.mul_(1.0 - action * action).add_(action * (2.0 * alpha))
        d_log_std = (d_u * std_noise).sub_(alpha).mul_(in_range)
        h = actor_acts[-1]
        (gw_mu, gb_mu), (gw_ls, gb_ls) = self.head_grads
        weight_grad_into(gw_mu, d_u, h)
        torch.sum(d_u, 0, out=gb_mu)
        weight_grad_into(gw_ls, d_log_std, h)
        torch.sum(d_log_std, 0, out=gb_ls)
        (w_mu, _), (w_ls, _) = self.heads
        d_h = torch.addmm(torch.mm(d_u, w_mu), d_log_std, w_ls)
        d_h = torch.ops.aten.threshold_backward(d_h, h, 0)
        backward_into(self.trunk, actor_acts[:-1], d_h, self.trunk_grads)
        lr.actor_optimizer.step_flat(1.0 / rows)
        critic_flat, target_flat = self.flats
        target_flat.lerp_(critic_flat, cfg.tau)
        if metrics:
            out.update({"critic_loss": 0.5 * dq.square().mean(dim=1).sum(),
                        "actor_loss": (alpha * log_prob - q_min).mean(),
                        "alpha": alpha, "entropy": -log_prob.mean()})
        return out
