"""``nacre.optim.Adam`` (fused, folded clipping) against torch's Adam + clip_grad_norm_."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from nacre.networks import MLP
from nacre.optim import Adam, polyak_update

X = torch.randn(32, 6, generator=torch.Generator().manual_seed(0))
Y = torch.randn(32, 3, generator=torch.Generator().manual_seed(1))


def loss_fn(scale: float) -> Callable[[nn.Module], Tensor]:
    def loss(net: nn.Module) -> Tensor:
        out: Tensor = net(X)
        return scale * (out - Y).square().mean()

    return loss


def make_net() -> MLP:
    torch.manual_seed(0)
    return MLP(6, (16, 16), 3, "tanh")


def reference_step(
    net: nn.Module, opt: torch.optim.Optimizer, loss: Tensor, max_norm: float
) -> float:
    opt.zero_grad()
    loss.backward()
    norm = float(torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm))
    opt.step()
    return norm


def assert_same_params(a: nn.Module, b: nn.Module, atol: float = 1e-6) -> None:
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=atol, msg=name)


@pytest.mark.parametrize(
    ("scale", "clipping"),
    [(1000.0, True), (0.01, False)],
    ids=["clipping-active", "clipping-inactive"],
)
def test_matches_torch_adam_with_clip_grad_norm(scale: float, clipping: bool) -> None:
    max_norm = 1.0
    net, ref = make_net(), make_net()
    opt = Adam(net.parameters(), lr=1e-2, max_grad_norm=max_norm)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=1e-2)
    loss = loss_fn(scale)
    for _ in range(20):
        norm = opt.minimize(loss(net))
        ref_norm = reference_step(ref, ref_opt, loss(ref), max_norm)
        assert norm is not None
        assert float(norm) == pytest.approx(ref_norm, rel=1e-4)  # the pre-clipping norm
        assert (ref_norm > max_norm) == clipping
        assert_same_params(net, ref)
    # the parameters moved (the comparison is not between two frozen nets)
    assert not torch.allclose(next(net.parameters()), next(make_net().parameters()))


def test_without_clipping_matches_torch_adam_and_returns_none() -> None:
    net, ref = make_net(), make_net()
    opt = Adam(net.parameters(), lr=3e-3, eps=1e-6)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=3e-3, eps=1e-6)
    loss = loss_fn(100.0)  # large gradients, but no clipping configured
    for _ in range(20):
        assert opt.minimize(loss(net)) is None
        ref_opt.zero_grad()
        loss(ref).backward()
        ref_opt.step()
    assert_same_params(net, ref)


def test_unfused_fallback_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(torch, "_fused_adam_", raising=False)
    net, ref = make_net(), make_net()
    opt = Adam(net.parameters(), lr=1e-2, max_grad_norm=1.0)
    assert not opt._fused
    ref_opt = torch.optim.Adam(ref.parameters(), lr=1e-2)
    loss = loss_fn(1000.0)
    for _ in range(20):
        opt.minimize(loss(net))
        reference_step(ref, ref_opt, loss(ref), 1.0)
    assert_same_params(net, ref)


@pytest.mark.parametrize("scale", [1000.0, 0.01])
def test_state_dict_round_trip_continues_identically(scale: float) -> None:
    net = make_net()
    opt = Adam(net.parameters(), lr=1e-2, max_grad_norm=1.0)
    loss = loss_fn(scale)
    for _ in range(10):
        opt.minimize(loss(net))
    state = copy.deepcopy(opt.state_dict())
    assert all(isinstance(k, str) for k in state["state"])  # checkpoint-friendly keys

    twin = make_net()
    twin.load_state_dict(net.state_dict())
    twin_opt = Adam(twin.parameters(), lr=1e-2, max_grad_norm=1.0)
    twin_opt.load_state_dict(state)
    fresh = make_net()  # same params, no optimizer state: must diverge (Adam's moments matter)
    fresh.load_state_dict(net.state_dict())
    fresh_opt = Adam(fresh.parameters(), lr=1e-2, max_grad_norm=1.0)
    for _ in range(10):
        opt.minimize(loss(net))
        twin_opt.minimize(loss(twin))
        fresh_opt.minimize(loss(fresh))
    for p, q in zip(net.parameters(), twin.parameters(), strict=True):
        assert torch.equal(p, q)
    assert not all(
        torch.allclose(p, q, atol=1e-6)
        for p, q in zip(net.parameters(), fresh.parameters(), strict=True)
    )


def test_state_dict_loads_into_torch_adam_and_matches() -> None:
    net = make_net()
    opt = Adam(net.parameters(), lr=1e-2, max_grad_norm=1.0)
    loss = loss_fn(1000.0)
    for _ in range(5):
        opt.minimize(loss(net))
    ref = make_net()
    ref.load_state_dict(net.state_dict())
    ref_opt = torch.optim.Adam(ref.parameters(), lr=1e-2)
    state = copy.deepcopy(opt.state_dict())
    ref_opt.load_state_dict({"state": {int(k): v for k, v in state["state"].items()},
                             "param_groups": [dict(g, fused=None) for g in state["param_groups"]]})
    for _ in range(10):
        opt.minimize(loss(net))
        reference_step(ref, ref_opt, loss(ref), 1.0)
    assert_same_params(net, ref)


def test_lr_changes_in_param_groups_take_effect() -> None:
    net = make_net()
    opt = Adam(net.parameters(), lr=1e-2)
    opt.param_groups[0]["lr"] = 0.0
    before = [p.clone() for p in net.parameters()]
    opt.minimize(loss_fn(1.0)(net))
    assert all(torch.equal(p, q) for p, q in zip(before, net.parameters(), strict=True))


def test_polyak_update() -> None:
    online, target = make_net(), MLP(6, (16, 16), 3, "tanh")
    t0 = [p.clone() for p in target.parameters()]
    polyak_update(target, online, 0.25)
    for p_t, p_0, p_o in zip(target.parameters(), t0, online.parameters(), strict=True):
        torch.testing.assert_close(p_t, 0.75 * p_0 + 0.25 * p_o)
    polyak_update(target, online, 1.0)
    assert all(torch.equal(a, b)
               for a, b in zip(target.parameters(), online.parameters(), strict=True))


@pytest.mark.parametrize("max_norm", [None, 1.0, 1e-3])
@pytest.mark.parametrize("multiplier", [1.0, 0.25])
def test_flat_step_matches_per_parameter_step(max_norm: float | None, multiplier: float) -> None:
    net, ref = make_net(), make_net()
    opt = Adam(net.parameters(), lr=1e-2, max_grad_norm=max_norm, flat=True)
    ref_opt = Adam(ref.parameters(), lr=1e-2, max_grad_norm=max_norm)
    assert opt.flat_param is not None and opt.flat_grad is not None
    # every parameter now lives in the flat buffer, and the module still computes with it
    assert all(p.data_ptr() == v.data_ptr() for p, v in zip(
        net.parameters(), torch.split(opt.flat_param, [p.numel() for p in net.parameters()]),
        strict=True))
    loss = loss_fn(100.0)
    for _ in range(15):
        grads = torch.autograd.grad(loss(net), list(net.parameters()))
        for view, g in zip(opt.grads, grads, strict=True):
            view.copy_(g / multiplier)  # the optimizer multiplies back
        opt.step_flat(multiplier)
        ref_opt.minimize(loss(ref))
    assert_same_params(net, ref, atol=1e-5)
    assert not torch.allclose(next(net.parameters()), next(make_net().parameters()))


def test_flat_state_dict_round_trips_with_per_parameter_adam() -> None:
    net = make_net()
    opt = Adam(net.parameters(), lr=1e-2, max_grad_norm=1.0, flat=True)
    for _ in range(5):
        opt.minimize(loss_fn(10.0)(net))
    twin = make_net()
    twin.load_state_dict(net.state_dict())
    twin_opt = Adam(twin.parameters(), lr=1e-2, max_grad_norm=1.0)  # not flat
    twin_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    for _ in range(5):
        opt.minimize(loss_fn(10.0)(net))
        twin_opt.minimize(loss_fn(10.0)(twin))
    assert_same_params(net, twin, atol=0)


def flat_step(net: nn.Module, opt: Adam) -> None:
    grads = torch.autograd.grad(loss_fn(10.0)(net), list(net.parameters()))
    torch._foreach_copy_(opt.grads, list(grads))
    opt.step_flat()


def test_flat_optimizer_survives_deepcopy_and_pickle() -> None:
    import pickle

    net = make_net()
    opt = Adam(net.parameters(), lr=1e-2, max_grad_norm=1.0, flat=True)
    flat_step(net, opt)
    copies = (lambda: copy.deepcopy((net, opt)), lambda: pickle.loads(pickle.dumps((net, opt))))
    for make_copy in copies:
        twin, twin_opt = make_copy()
        for _ in range(3):
            flat_step(net, opt)
            flat_step(twin, twin_opt)
        assert_same_params(net, twin, atol=0)
        assert twin_opt.flat_param is not None and all(
            p.data_ptr() != q.data_ptr() for p, q in zip(net.parameters(), twin.parameters(),
                                                         strict=True))
        assert next(twin.parameters()).data_ptr() == twin_opt.flat_param.data_ptr()


def test_step_flat_refuses_parameters_moved_to_another_dtype() -> None:
    net = make_net()
    opt = Adam(net.parameters(), lr=1e-2, flat=True)
    net.double()  # what Module.to(other device or dtype) does: new storage per parameter
    with pytest.raises(RuntimeError, match="another device or dtype"):
        opt.step_flat()
    with pytest.raises(RuntimeError, match="flat optimizer"):
        Adam(make_net().parameters(), lr=1e-2).step_flat()


def test_load_refuses_per_parameter_step_counts_that_differ() -> None:
    net = make_net()
    opt = Adam(net.parameters(), lr=1e-2)
    opt.minimize(loss_fn(1.0)(net))
    state = copy.deepcopy(opt.state_dict())
    state["state"]["0"]["step"] = torch.tensor(7.0)
    with pytest.raises(ValueError, match="step counts"):
        Adam(make_net().parameters(), lr=1e-2).load_state_dict(state)


@pytest.mark.parametrize("max_norm", [None, 1e-3])
def test_flat_step_tensor_path_matches_the_python_float_path(max_norm: float | None) -> None:
    # The accelerator path keeps the clipping arithmetic on the device (no sync); run it on CPU.
    nets = make_net(), make_net()
    opts = [Adam(n.parameters(), lr=1e-2, max_grad_norm=max_norm, flat=True) for n in nets]
    opts[1]._on_cpu = False
    for _ in range(10):
        for net, opt in zip(nets, opts, strict=True):
            grads = torch.autograd.grad(loss_fn(100.0)(net), list(net.parameters()))
            torch._foreach_copy_(opt.grads, [g * 4.0 for g in grads])
            opt.step_flat(0.25)
    assert_same_params(*nets, atol=1e-6)
