"""The hand-derived TD gradients equal autograd's."""

import copy

import pytest
import torch

from nacre.learners.value.dqn import DQN, DoubleDQN, DQNConfig
from nacre.learners.value.fused import fusable
from nacre.networks import DuelingQHead, FlattenEncoder, QNetwork, VanillaQHead
from nacre.testing import random_batch


def net(hidden: tuple[int, ...] = (32, 32), head: type = VanillaQHead) -> QNetwork:
    torch.manual_seed(0)
    return QNetwork(FlattenEncoder((4,)), head(4, 3, hidden, "relu"))


@pytest.mark.parametrize("cls", [DQN, DoubleDQN])
@pytest.mark.parametrize("loss", ["huber", "mse"])
@pytest.mark.parametrize("clip", [None, 0.05])
@pytest.mark.parametrize("weighted", [False, True])
def test_fused_step_matches_autograd(cls: type, loss: str, clip: float | None,
                                     weighted: bool) -> None:
    q = net()
    fast = cls(q, DQNConfig(lr=1e-2, loss=loss, max_grad_norm=clip, fused=True))
    slow = cls(copy.deepcopy(q), DQNConfig(lr=1e-2, loss=loss, max_grad_norm=clip, fused=False))
    assert fast._fused is not None and slow._fused is None
    g = torch.Generator().manual_seed(1)
    for step in range(25):
        batch = random_batch(4, 3, 32, generator=g)
        if weighted:
            batch = type(batch)(**{**batch.__dict__, "weight": torch.rand(32, generator=g)})
        if step % 2:  # n-step style per-row discounts
            batch = type(batch)(**{**batch.__dict__, "discount": torch.rand(32, generator=g)})
        mf = fast.learn_batch(batch)
        ms = slow.learn_batch(batch)
        assert torch.allclose(mf["loss"], ms["loss"], rtol=1e-4, atol=1e-6)
        if step % 5 == 4:
            fast.update_target()
            slow.update_target()
    for pf, ps in zip(fast.q.parameters(), slow.q.parameters(), strict=True):
        assert torch.allclose(pf, ps, rtol=1e-4, atol=1e-5)


def test_only_relu_mlp_heads_are_fused() -> None:
    assert fusable(net())
    assert not fusable(net(head=DuelingQHead))
    torch.manual_seed(0)
    gelu = QNetwork(FlattenEncoder((4,)), VanillaQHead(4, 3, (8,), "gelu"))
    assert not fusable(gelu)
    images = QNetwork(FlattenEncoder((2, 2)), VanillaQHead(4, 3, (8,), "relu"))
    assert not fusable(images)


@pytest.mark.parametrize("loss", ["huber", "mse"])
@pytest.mark.parametrize("weighted", [False, True])
def test_fused_rounds_match_autograd_including_a_short_last_batch(loss: str,
                                                                 weighted: bool) -> None:
    q = net()
    fast = DQN(q, DQNConfig(lr=1e-2, loss=loss, max_grad_norm=0.5, fused=True))
    slow = DQN(copy.deepcopy(q), DQNConfig(lr=1e-2, loss=loss, max_grad_norm=0.5, fused=False))
    g = torch.Generator().manual_seed(3)
    for _ in range(3):
        batch = random_batch(4, 3, 100, generator=g)  # 32 + 32 + 32 + 4 rows
        if weighted:
            batch = type(batch)(**{**batch.__dict__, "weight": torch.rand(100, generator=g)})
        mf = fast.learn_batches(batch, 32)
        ms = slow.learn_batches(batch, 32)
        torch.testing.assert_close(mf["loss"], ms["loss"], rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(mf["q_mean"], ms["q_mean"], rtol=1e-4, atol=1e-6)
        fast.update_target()
        slow.update_target()
    for pf, ps in zip(fast.q.parameters(), slow.q.parameters(), strict=True):
        torch.testing.assert_close(pf, ps, rtol=1e-4, atol=1e-5)
    start = net()  # the same initial parameters: training must have moved them
    assert not any(torch.allclose(pf, p0) for pf, p0 in zip(
        fast.q.parameters(), start.parameters(), strict=True))


def test_a_pickled_or_copied_fused_learner_continues_like_the_original() -> None:
    import pickle

    learner = DQN(net(), DQNConfig(lr=1e-2))
    g = torch.Generator().manual_seed(5)
    learner.learn_batches(random_batch(4, 3, 64, generator=g), 32)
    twins = [copy.deepcopy(learner), pickle.loads(pickle.dumps(learner))]
    for _ in range(3):
        batch = random_batch(4, 3, 64, generator=g)
        for each in (learner, *twins):
            each.learn_batches(batch, 32)
    for twin in twins:
        assert twin._fused is not None
        for p, q in zip(learner.q.parameters(), twin.q.parameters(), strict=True):
            assert torch.equal(p, q)
