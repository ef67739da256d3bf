"""The hand-derived TD3 and SAC updates equal the autograd ones."""

from __future__ import annotations

import copy
import platform
import sys
from dataclasses import replace
from typing import Any

import pytest
import torch

from nacre.learners import SAC, TD3, SACConfig, TD3Config
from nacre.learners.policy.fused_ac import fusable_actor, fusable_critic
from nacre.learners.value.fused import linear, matmul, weight_grad_into
from nacre.networks import FlattenEncoder, OneHotEncoder
from nacre.networks.continuous import DeterministicActor, SquashedGaussianActor, TwinQCritic
from nacre.runtime import tune_allocator
from nacre.testing import random_batch

OBS, ACT = 5, 2


def _nets(squashed: bool, hidden: tuple[int, ...] = (24, 16), n_critics: int = 2
          ) -> tuple[torch.nn.Module, TwinQCritic]:
    torch.manual_seed(0)
    actor_type = SquashedGaussianActor if squashed else DeterministicActor
    actor = actor_type(FlattenEncoder((OBS,)), ACT, hidden)
    critic = TwinQCritic(FlattenEncoder((OBS,)), ACT, hidden, n_critics=n_critics)
    return actor, critic


def _assert_same(fast: torch.nn.Module, slow: torch.nn.Module) -> None:
    for (name, pf), ps in zip(fast.named_parameters(), slow.parameters(), strict=True):
        torch.testing.assert_close(pf, ps, rtol=1e-4, atol=1e-5, msg=name)


def _run(fast: TD3 | SAC, slow: TD3 | SAC, steps: int, rows: int,
         dtype: torch.dtype = torch.float32, per_row_discount: bool = False) -> None:
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        batch = random_batch(OBS, ACT, rows, generator=g, continuous=True)
        batch = replace(batch, obs=batch.obs.to(dtype), next_obs=batch.next_obs.to(dtype))
        if per_row_discount:  # e.g. n-step returns: γ^k per row
            batch = replace(batch, discount=0.9 ** torch.randint(1, 4, (rows,), generator=g))
        mf, ms = fast.learn_batch(batch), slow.learn_batch(batch)
        assert mf.keys() == ms.keys()
        for key in ms:
            torch.testing.assert_close(torch.as_tensor(mf[key]), torch.as_tensor(ms[key]),
                                       rtol=1e-4, atol=1e-5, msg=key)


@pytest.mark.parametrize("policy_delay", [1, 2, 3])
@pytest.mark.parametrize("n_critics", [1, 2, 3])
def test_fused_td3_matches_autograd(policy_delay: int, n_critics: int) -> None:
    actor, critic = _nets(False, n_critics=n_critics)
    cfg = {"lr": 3e-3, "policy_delay": policy_delay, "gamma": 0.95, "tau": 0.05}
    fast = TD3(actor, critic, TD3Config(**cfg))  # type: ignore[arg-type]
    slow = TD3(copy.deepcopy(actor), copy.deepcopy(critic),
               TD3Config(fused=False, **cfg))  # type: ignore[arg-type]
    assert fast._fused is not None and slow._fused is None
    _run(fast, slow, 12, 64, per_row_discount=policy_delay == 2)
    for a, b in [(fast.actor, slow.actor), (fast.critic, slow.critic),
                 (fast.actor_target, slow.actor_target), (fast.critic_target, slow.critic_target)]:
        _assert_same(a, b)
    untouched = _nets(False, n_critics=n_critics)[0]
    assert not torch.allclose(untouched.mlp._linears[0].weight, fast.actor.mlp._linears[0].weight)


@pytest.mark.parametrize("learn_alpha", [True, False])
@pytest.mark.parametrize(("hidden", "n_critics"), [((24, 16), 2), ((16,), 1), ((8, 8, 8), 3)])
def test_fused_sac_matches_autograd(learn_alpha: bool, hidden: tuple[int, ...],
                                    n_critics: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # log-stds start above and below the clamp range, where their gradient is 0 (a lower bound
    # of −1 instead of −20: at σ = e⁻²⁰ the log-density's (u − μ)/σ is float noise in both paths)
    monkeypatch.setattr(SquashedGaussianActor, "LOG_STD_MIN", -1.0)
    actor, critic = _nets(True, hidden, n_critics)
    with torch.no_grad():
        actor.log_std.bias.copy_(torch.tensor([2.5, -1.5]))
    cfg = {"lr": 3e-3, "learn_alpha": learn_alpha, "init_alpha": 0.3, "tau": 0.05}
    fast = SAC(actor, critic, SACConfig(**cfg))  # type: ignore[arg-type]
    slow = SAC(copy.deepcopy(actor), copy.deepcopy(critic),
               SACConfig(fused=False, **cfg))  # type: ignore[arg-type]
    assert fast._fused is not None and slow._fused is None
    _run(fast, slow, 12, 64, per_row_discount=learn_alpha)
    for a, b in [(fast.actor, slow.actor), (fast.critic, slow.critic),
                 (fast.critic_target, slow.critic_target)]:
        _assert_same(a, b)
    torch.testing.assert_close(fast.log_alpha, slow.log_alpha)


@pytest.mark.parametrize("squashed", [False, True])
def test_float64_observations_take_the_fused_path(squashed: bool) -> None:
    # MuJoCo observations are float64; the flat encoder casts them, and so does the fused step
    actor, critic = _nets(squashed)
    learner_type, config = (SAC, SACConfig) if squashed else (TD3, TD3Config)
    fast = learner_type(actor, critic)  # type: ignore[arg-type]
    slow = learner_type(copy.deepcopy(actor), copy.deepcopy(critic),  # type: ignore[arg-type]
                        config(fused=False))  # type: ignore[operator]
    assert fast._fused is not None
    calls = []
    original = fast._fused.__call__
    fast._fused = lambda batch, metrics=True: calls.append(1) or original(batch, metrics)  # type: ignore[assignment]
    _run(fast, slow, 4, 32, dtype=torch.float64)
    assert len(calls) == 4
    _assert_same(fast.actor, slow.actor)
    _assert_same(fast.critic, slow.critic)


def test_checkpoints_keep_the_critic_optimizer_state_in_module_order() -> None:
    actor, critic = _nets(False)
    learner = TD3(actor, critic)
    assert [id(p) for p in learner.critic_optimizer.params] != [id(p) for p in critic.parameters()]
    g = torch.Generator().manual_seed(4)
    learner.learn_batch(random_batch(OBS, ACT, 32, generator=g, continuous=True))
    state = learner.state_dict()["critic_optimizer"]["state"]
    for i, p in enumerate(critic.parameters()):  # as torch.optim.Adam(critic.parameters()) has it
        assert state[str(i)]["exp_avg"].shape == p.shape
    # a learner on the autograd path (torch.optim order for any network) loads it and continues
    # exactly like the original
    slow = TD3(*_nets(False), TD3Config(fused=False))
    slow.load_state_dict(learner.state_dict())
    _run(learner, slow, 3, 32)
    _assert_same(learner.critic, slow.critic)
    _assert_same(learner.actor, slow.actor)


def _assert_independent_twins(learner: Any, twin: Any) -> None:
    """Same parameters after the same updates, in separate memory."""
    _assert_same(learner.actor, twin.actor)
    _assert_same(learner.critic_target, twin.critic_target)
    assert twin.critic.critics[0]._linears[0].weight.data_ptr() != \
        learner.critic.critics[0]._linears[0].weight.data_ptr()


@pytest.mark.parametrize("squashed", [False, True])
def test_fused_update_survives_deepcopy(squashed: bool) -> None:
    actor, critic = _nets(squashed)
    learner = SAC(actor, critic) if squashed else TD3(actor, critic)  # type: ignore[arg-type]
    g = torch.Generator().manual_seed(3)
    for _ in range(3):
        learner.learn_batch(random_batch(OBS, ACT, 32, generator=g, continuous=True))
    twin = copy.deepcopy(learner)
    for _ in range(3):
        batch = random_batch(OBS, ACT, 32, generator=g, continuous=True)
        learner.learn_batch(batch)
        twin.learn_batch(batch)
    _assert_independent_twins(learner, twin)


def test_fused_update_survives_deepcopy_and_load_state_dict() -> None:
    actor, critic = _nets(True)
    learner = SAC(actor, critic)
    g = torch.Generator().manual_seed(3)
    learner.learn_batch(random_batch(OBS, ACT, 32, generator=g, continuous=True))
    twin = copy.deepcopy(learner)
    batch = random_batch(OBS, ACT, 32, generator=g, continuous=True)
    learner.learn_batch(batch)
    twin.learn_batch(batch)
    _assert_independent_twins(learner, twin)
    # a state loaded into the copy's modules is what its next update starts from
    fresh = SAC(*_nets(True))
    fresh.load_state_dict(learner.state_dict())
    twin.load_state_dict(learner.state_dict())
    batch = random_batch(OBS, ACT, 32, generator=g, continuous=True)
    fresh.learn_batch(batch)
    twin.learn_batch(batch)
    _assert_same(fresh.critic_target, twin.critic_target)
    _assert_same(fresh.actor, twin.actor)


def test_allocator_tuning_applies_on_glibc() -> None:
    applied = tune_allocator()
    assert applied == (platform.libc_ver()[0] == "glibc" and sys.platform.startswith("linux"))


def test_only_flat_input_relu_networks_are_fused() -> None:
    actor, critic = _nets(False)
    assert fusable_actor(actor) and fusable_critic(critic)
    assert not fusable_actor(DeterministicActor(FlattenEncoder((OBS,)), ACT, (8,), "tanh"))
    assert not fusable_actor(SquashedGaussianActor(FlattenEncoder((OBS,)), ACT, ()))
    assert not fusable_critic(TwinQCritic(OneHotEncoder(OBS), ACT, (8,)))
    assert not fusable_critic(TwinQCritic(FlattenEncoder((OBS,)), ACT, (8,), "gelu"))
    assert not fusable_critic(TwinQCritic(FlattenEncoder((2, 3)), ACT, (8,)))
    frozen = TwinQCritic(FlattenEncoder((OBS,)), ACT, (8,))
    frozen.critics[0]._linears[0].requires_grad_(False)
    assert not fusable_critic(frozen)


@pytest.mark.parametrize(("rows", "inner", "width"), [(256, 400, 300), (8, 4, 16), (64, 17, 256)])
def test_matrix_products_equal_torch(rows: int, inner: int, width: int) -> None:
    # large fp32 products go through oneDNN where available, small ones through torch.mm
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(rows, inner, generator=g), torch.randn(width, inner, generator=g)
    b, grad = torch.randn(width, generator=g), torch.randn(rows, width, generator=g)
    torch.testing.assert_close(linear(x, w, b, relu=True), torch.relu(x @ w.t() + b),
                               rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(matmul(grad, w), grad @ w, rtol=1e-5, atol=1e-4)
    out = torch.empty(width, inner)
    weight_grad_into(out, grad, x)
    torch.testing.assert_close(out, grad.t() @ x, rtol=1e-5, atol=1e-4)
