"""The hand-derived TD3 and SAC updates equal the autograd ones."""

from __future__ import annotations

import copy

import pytest
import torch

from nacre.learners import SAC, TD3, SACConfig, TD3Config
from nacre.learners.policy.fused_ac import fusable_actor, fusable_critic
from nacre.networks import FlattenEncoder, OneHotEncoder
from nacre.networks.continuous import DeterministicActor, SquashedGaussianActor, TwinQCritic
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


def _run(fast: TD3 | SAC, slow: TD3 | SAC, steps: int, rows: int) -> None:
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        batch = random_batch(OBS, ACT, rows, generator=g, continuous=True)
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
    _run(fast, slow, 12, 64)
    for a, b in [(fast.actor, slow.actor), (fast.critic, slow.critic),
                 (fast.actor_target, slow.actor_target), (fast.critic_target, slow.critic_target)]:
        _assert_same(a, b)
    _assert_same(fast.critic, slow.critic)
    untouched = _nets(False, n_critics=n_critics)[0]
    assert not torch.allclose(untouched.mlp._linears[0].weight, fast.actor.mlp._linears[0].weight)


@pytest.mark.parametrize("learn_alpha", [True, False])
@pytest.mark.parametrize("hidden", [(24, 16), (16,), (8, 8, 8)])
def test_fused_sac_matches_autograd(learn_alpha: bool, hidden: tuple[int, ...]) -> None:
    actor, critic = _nets(True, hidden)
    with torch.no_grad():  # some log-stds start outside the clamp range: their gradient is 0
        actor.log_std.bias.copy_(torch.tensor([2.5, -0.5]))
    cfg = {"lr": 3e-3, "learn_alpha": learn_alpha, "init_alpha": 0.3, "tau": 0.05}
    fast = SAC(actor, critic, SACConfig(**cfg))  # type: ignore[arg-type]
    slow = SAC(copy.deepcopy(actor), copy.deepcopy(critic),
               SACConfig(fused=False, **cfg))  # type: ignore[arg-type]
    assert fast._fused is not None and slow._fused is None
    _run(fast, slow, 12, 64)
    for a, b in [(fast.actor, slow.actor), (fast.critic, slow.critic),
                 (fast.critic_target, slow.critic_target)]:
        _assert_same(a, b)
    torch.testing.assert_close(fast.log_alpha, slow.log_alpha)


def test_fused_update_survives_deepcopy_and_load_state_dict() -> None:
    actor, critic = _nets(True)
    learner = SAC(actor, critic)
    g = torch.Generator().manual_seed(3)
    learner.learn_batch(random_batch(OBS, ACT, 32, generator=g, continuous=True))
    twin = copy.deepcopy(learner)
    batch = random_batch(OBS, ACT, 32, generator=g, continuous=True)
    learner.learn_batch(batch)
    twin.learn_batch(batch)
    _assert_same(learner.actor, twin.actor)
    _assert_same(learner.critic_target, twin.critic_target)
    assert twin.critic.critics[0]._linears[0].weight.data_ptr() != \
        learner.critic.critics[0]._linears[0].weight.data_ptr()
    # a state loaded into the copy's modules is what its next update starts from
    fresh = SAC(*_nets(True))
    fresh.load_state_dict(learner.state_dict())
    twin.load_state_dict(learner.state_dict())
    batch = random_batch(OBS, ACT, 32, generator=g, continuous=True)
    fresh.learn_batch(batch)
    twin.learn_batch(batch)
    _assert_same(fresh.critic_target, twin.critic_target)
    _assert_same(fresh.actor, twin.actor)


def test_only_flat_input_relu_networks_are_fused() -> None:
    actor, critic = _nets(False)
    assert fusable_actor(actor) and fusable_critic(critic)
    assert not fusable_actor(DeterministicActor(FlattenEncoder((OBS,)), ACT, (8,), "tanh"))
    assert not fusable_actor(SquashedGaussianActor(FlattenEncoder((OBS,)), ACT, ()))
    assert not fusable_critic(TwinQCritic(OneHotEncoder(OBS), ACT, (8,)))
    assert not fusable_critic(TwinQCritic(FlattenEncoder((OBS,)), ACT, (8,), "gelu"))
    assert not fusable_critic(TwinQCritic(FlattenEncoder((2, 3)), ACT, (8,)))
