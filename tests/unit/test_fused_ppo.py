"""The hand-derived PPO gradients equal autograd's."""

from __future__ import annotations

import copy

import pytest
import torch

from nacre.learners import PPO, PPOConfig
from nacre.learners.policy.fused_ppo import fusable_actor_critic
from nacre.networks import ActorCritic, FlattenEncoder, OneHotEncoder
from nacre.testing import random_batch


def pair(continuous: bool, activation: str, **kw: object) -> tuple[PPO, PPO]:
    torch.manual_seed(0)
    net = ActorCritic(FlattenEncoder((5,)), 3, (16, 12), activation, continuous,
                      log_std_init=-0.3)
    cfg = {"lr": 3e-3, "max_grad_norm": 0.5, **kw}
    fast = PPO(net, PPOConfig(fused=True, **cfg))  # type: ignore[arg-type]
    slow = PPO(copy.deepcopy(net), PPOConfig(fused=False, **cfg))  # type: ignore[arg-type]
    assert fast._fused is not None and slow._fused is None
    return fast, slow


@pytest.mark.parametrize("rows", [48, 300])  # 300 × 16 units: tanh computed through σ
@pytest.mark.parametrize("continuous", [False, True])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("kw", [{}, {"clip_value": 0.1, "entropy_coef": 0.05},
                                {"max_grad_norm": None, "clip": 0.05}])
def test_fused_ppo_step_matches_autograd(continuous: bool, activation: str,
                                         kw: dict[str, object], rows: int) -> None:
    fast, slow = pair(continuous, activation, **kw)
    g = torch.Generator().manual_seed(1)
    for _ in range(12):
        batch = random_batch(5, 3, rows, generator=g, continuous=continuous, on_policy=True)
        with torch.no_grad():  # log-probs near the current policy, so some ratios clip, some not
            lp, _ = slow._log_prob(batch.obs, batch.action)
        batch = type(batch)(**{**batch.__dict__,
                               "log_prob": lp + 0.2 * torch.randn(rows, generator=g)})
        mf = fast.learn_batch(batch)
        ms = slow.learn_batch(batch)
        for key in ms:
            torch.testing.assert_close(mf[key], ms[key], rtol=1e-4, atol=1e-5, msg=key)
    for (name, pf), ps in zip(fast.net.named_parameters(), slow.net.parameters(), strict=True):
        torch.testing.assert_close(pf, ps, rtol=1e-4, atol=1e-5, msg=name)
    moved = pair(continuous, activation, **kw)[1].net.actor._linears[0].weight
    assert not torch.allclose(moved, fast.net.actor._linears[0].weight)


def test_only_flat_input_tanh_or_relu_nets_are_fused() -> None:
    assert fusable_actor_critic(ActorCritic(FlattenEncoder((4,)), 2, (8,), "tanh", False))
    assert not fusable_actor_critic(ActorCritic(FlattenEncoder((4,)), 2, (8,), "gelu", False))
    assert not fusable_actor_critic(ActorCritic(OneHotEncoder(4), 2, (8,), "tanh", False))
    assert not fusable_actor_critic(ActorCritic(FlattenEncoder((2, 2)), 2, (8,), "tanh", False))
