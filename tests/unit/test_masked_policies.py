"""Policy learners over dynamic action sets: log-probabilities, entropies and soft values over
the available actions only, checked against numbers computed by hand."""

from __future__ import annotations

import math

import torch

from nacre.data import RolloutBuffer, StepBatch
from nacre.learners.policy.ppo import PPO, PPOConfig
from nacre.losses.policy import categorical_log_prob, masked_logits
from nacre.networks import ActorCritic, FlattenEncoder
from nacre.spaces import AvailableActions


def test_masked_log_prob_and_entropy_by_hand() -> None:
    logits = torch.tensor([[1.0, 2.0, 3.0]])
    mask = torch.tensor([[True, False, True]])
    log_prob, entropy = categorical_log_prob(masked_logits(logits, mask), torch.tensor([2]))
    # π over {0, 2} only: e^1 / (e^1 + e^3) and e^3 / (e^1 + e^3)
    z = math.exp(1.0) + math.exp(3.0)
    p0, p2 = math.exp(1.0) / z, math.exp(3.0) / z
    assert math.isclose(float(log_prob), math.log(p2), rel_tol=1e-6)
    assert math.isclose(float(entropy), -(p0 * math.log(p0) + p2 * math.log(p2)), rel_tol=1e-6)
    # the unmasked policy differs: the test would fail if the mask were ignored
    unmasked, _ = categorical_log_prob(logits, torch.tensor([2]))
    assert abs(float(unmasked) - math.log(p2)) > 0.1


def test_masked_logits_keep_gradients_finite() -> None:
    logits = torch.tensor([[0.5, -1.0, 2.0, 0.0]], requires_grad=True)
    mask = torch.tensor([[False, True, True, False]])
    log_p, entropy = categorical_log_prob(masked_logits(logits, mask), torch.tensor([1]))
    (log_p + entropy).sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    assert torch.equal(logits.grad[0, [0, 3]], torch.zeros(2))  # unavailable: no gradient


def _ppo() -> PPO:
    torch.manual_seed(0)
    net = ActorCritic(FlattenEncoder((2,)), 4, (16,), "tanh", continuous=False)
    return PPO(net, PPOConfig(epochs=1))


def test_ppo_rollout_log_probs_are_over_the_available_actions() -> None:
    ppo = _ppo()
    buf = RolloutBuffer(steps=3)
    masks = [torch.tensor([[True, False, True, False], [False, True, True, True]])] * 4
    obs = torch.randn(4, 2, 2)
    for t in range(3):
        buf.add(StepBatch(obs[t], torch.tensor([2, 1]), torch.ones(2), obs[t + 1],
                          torch.zeros(2, dtype=torch.bool), torch.zeros(2, dtype=torch.bool),
                          available=AvailableActions(masks[t]),
                          next_available=AvailableActions(masks[t + 1])))
    processed = ppo.process(buf.rollout())
    assert processed.log_prob is not None and processed.mask is not None
    logits = ppo.net.policy(obs[:3].reshape(6, 2)).detach()
    m = torch.cat(masks[:3])
    expected = torch.log_softmax(logits.masked_fill(~m, float("-inf")), dim=1)
    torch.testing.assert_close(processed.log_prob, expected[torch.arange(6),
                                                            torch.tensor([2, 1] * 3)])
    metrics = ppo.learn_rollout(buf.rollout(), batch_size=6)
    assert torch.isfinite(metrics["loss"])
