"""GAE and λ-returns against hand-computed sequences and a step-by-step reference."""

from __future__ import annotations

import pytest
import torch

from nacre.losses import gae


def reference(r, v, nv, term, ends, gamma, lam):  # type: ignore[no-untyped-def]
    adv = torch.zeros_like(r)
    nxt = torch.zeros(r.shape[1])
    for t in reversed(range(r.shape[0])):
        delta = r[t] + gamma * (~term[t]).float() * nv[t] - v[t]
        nxt = delta + gamma * lam * (~ends[t]).float() * nxt
        adv[t] = nxt
    return adv


def test_hand_computed_with_termination_and_truncation_inside_the_rollout() -> None:
    # One env, γ = 0.5, λ = 0.5, five steps:
    #   t=0,1: an episode that terminates at t=1 (no bootstrap);
    #   t=2,3: an episode truncated at t=3 (bootstraps from V(final obs) = 4);
    #   t=4: a new episode cut by the end of the rollout (bootstraps from V(s'_4) = 2).
    r = torch.tensor([[1.0], [2.0], [0.0], [1.0], [3.0]])
    v = torch.tensor([[1.0], [1.0], [2.0], [2.0], [1.0]])
    nv = torch.tensor([[1.0], [9.0], [2.0], [4.0], [2.0]])  # nv[1] is ignored: terminated
    term = torch.tensor([[False], [True], [False], [False], [False]])
    ends = torch.tensor([[False], [True], [False], [True], [False]])
    adv, ret = gae(r, v, nv, term, ends, gamma=0.5, lam=0.5)
    # δ = [1 + .5·1 − 1, 2 − 1, 0 + .5·2 − 2, 1 + .5·4 − 2, 3 + .5·2 − 1] = [.5, 1, −1, 1, 3]
    # A_4 = 3; A_3 = 1 (ends); A_2 = −1 + .25·1 = −.75; A_1 = 1 (ends); A_0 = .5 + .25·1 = .75
    expected = torch.tensor([[0.75], [1.0], [-0.75], [1.0], [3.0]])
    torch.testing.assert_close(adv, expected)
    torch.testing.assert_close(ret, expected + v)


def test_lambda_one_gives_discounted_reward_to_go() -> None:
    r = torch.tensor([[1.0], [1.0], [1.0]])
    zeros = torch.zeros(3, 1)
    done = torch.tensor([[False], [False], [True]])
    adv, ret = gae(r, zeros, zeros, done, done, gamma=0.9, lam=1.0)
    torch.testing.assert_close(ret[:, 0], torch.tensor([1 + 0.9 + 0.81, 1 + 0.9, 1.0]))


@pytest.mark.parametrize("block", [1, 3, 7, 64])
@pytest.mark.parametrize(("gamma", "lam"), [(0.99, 0.95), (0.98, 0.8), (0.9, 0.0), (1.0, 1.0)])
def test_matches_the_step_by_step_reference(block: int, gamma: float, lam: float) -> None:
    g = torch.Generator().manual_seed(0)
    steps, envs = 50, 6
    r, v, nv = (torch.randn(steps, envs, generator=g) for _ in range(3))
    ends = torch.rand(steps, envs, generator=g) < 0.1
    term = ends & (torch.rand(steps, envs, generator=g) < 0.5)
    adv, ret = gae(r, v, nv, term, ends, gamma, lam, block=block)
    torch.testing.assert_close(adv, reference(r, v, nv, term, ends, gamma, lam),
                               rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ret, adv + v)


def test_refuses_flat_input() -> None:
    with pytest.raises(ValueError, match=r"\[T, B\]"):
        gae(torch.zeros(5), torch.zeros(5), torch.zeros(5), torch.zeros(5, dtype=torch.bool),
            torch.zeros(5, dtype=torch.bool), 0.99, 0.95)
