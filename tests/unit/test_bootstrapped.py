"""Bootstrapped DQN's pieces: the batched ensemble, the per-member targets and masked loss
(hand-computed), bootstrap masks in replay, the member-following explorer and its wiring."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

import nacre
from nacre.data import BootstrapReplayBuffer, ReplayBuffer, StepBatch, TransitionBatch
from nacre.errors import ConfigError, InputError
from nacre.exploration.deep import EnsembleUCB, FollowMember
from nacre.learners import BootstrappedDQN
from nacre.learners.value.dqn import DQNConfig
from nacre.losses.td import bootstrapped_td_loss, ensemble_q_target
from nacre.networks import (
    EnsembleLinear,
    EnsembleMLP,
    EnsembleQHead,
    FlattenEncoder,
    QNetwork,
)


def t(*values: float) -> Tensor:
    return torch.tensor(values, dtype=torch.float32)


def test_ensemble_layers_are_m_independent_members() -> None:
    torch.manual_seed(0)
    layer = EnsembleLinear(3, 4, 2)
    x = torch.randn(3, 5, 4)
    out = layer(x)
    assert out.shape == (3, 5, 2)
    for m in range(3):
        torch.testing.assert_close(out[m], x[m] @ layer.weight[m] + layer.bias[m])
    assert not torch.equal(layer.weight[0], layer.weight[1])  # members start apart
    mlp = EnsembleMLP(3, 4, (6,), 2)
    x = torch.randn(5, 4)
    out = mlp(x)
    assert out.shape == (5, 3, 2)
    for m in range(3):  # member m: its slice of the first layer, then its own second layer
        first = mlp.first.weight[6 * m:6 * (m + 1)]
        hidden = torch.relu(x @ first.T + mlp.first.bias[6 * m:6 * (m + 1)])
        second = mlp.rest[0]
        torch.testing.assert_close(out[:, m], hidden @ second.weight[m] + second.bias[m])


def test_ensemble_head_adds_a_fixed_scaled_prior() -> None:
    torch.manual_seed(0)
    head = EnsembleQHead(4, 2, members=3, shared=(8,), hidden=(6,), prior_scale=2.0)
    x = torch.randn(5, 4)
    assert head.prior is not None and not head.prior.heads.rest  # linear: one layer
    torch.testing.assert_close(head(x), head.body(x) + 2.0 * head.prior(x))
    shaped = EnsembleQHead(4, 2, members=3, shared=(8,), hidden=(6,), prior_scale=1.0,
                           prior="mlp")
    assert shaped.prior is not None and len(shaped.prior.torso) == 2
    assert not any(p.requires_grad for p in head.prior.parameters())
    learner = BootstrappedDQN(QNetwork(FlattenEncoder((4,)), head))
    trained = {id(p) for p in learner.optimizer.params}
    assert trained == {id(p) for p in head.body.parameters()}
    for bad in (dict(members=0), dict(prior_scale=-1.0), dict(hidden=(0,)), dict(prior="x")):
        with pytest.raises(ValueError):
            EnsembleQHead(4, 2, **{"members": 3, **bad})  # type: ignore[arg-type]


def test_ensemble_q_target_and_masked_loss_hand_computed() -> None:
    next_q = torch.tensor([[[1.0, 2.0], [3.0, 0.0]], [[5.0, 6.0], [7.0, 8.0]]])  # [2, 2, 2]
    mask = torch.tensor([[True, False], [True, True]])
    # row 0: each member's max over a0 only: 1 and 3 → 1 + .5·[1, 3]; row 1 terminated: 1
    target = ensemble_q_target(t(1, 1), next_q, t(0, 1), 0.5, mask)
    torch.testing.assert_close(target, t(1.5, 2.5, 1.0, 1.0).view(2, 2))
    per_row = ensemble_q_target(t(0, 0), next_q, t(0, 0), t(0.5, 0.25))
    torch.testing.assert_close(per_row, t(1.0, 1.5, 1.5, 2.0).view(2, 2))
    q, y = t(0, 0, 0, 3).view(2, 2), t(1, 2, 0, 0).view(2, 2)
    # MSE per element [[1, 4], [0, 9]]; masks [[1, 0], [1, 1]] → rows .5 and 4.5 → mean 2.5
    boot = t(1, 0, 1, 1).view(2, 2)
    assert bootstrapped_td_loss(q, y, boot, "mse").item() == pytest.approx(2.5)
    assert bootstrapped_td_loss(q, y, None, "mse").item() == pytest.approx(3.5)
    assert bootstrapped_td_loss(q, y, boot, "mse", t(2, 0)).item() == pytest.approx(0.5)


def _learner(members: int = 3) -> BootstrappedDQN:
    torch.manual_seed(0)
    net = QNetwork(FlattenEncoder((2,)), EnsembleQHead(2, 2, members, shared=(), hidden=(8,)))
    return BootstrappedDQN(net, DQNConfig(lr=1e-2))


def test_scores_are_the_mean_then_each_member() -> None:
    learner = _learner()
    x = torch.randn(4, 2)
    values = learner.q(x)  # [4, 3, 2]
    scores = learner.scores(x)
    assert scores.shape == (4, 2, 4)
    torch.testing.assert_close(scores[..., 0], values.mean(1))
    torch.testing.assert_close(scores[..., 2], values[:, 1])


def test_a_member_learns_only_from_its_bootstrap_rows() -> None:
    learner = _learner()
    heads = learner.q.head.body.heads.rest  # type: ignore[union-attr]
    before = [layer.weight.detach().clone() for layer in heads]
    batch = TransitionBatch(torch.randn(16, 2), torch.randint(0, 2, (16,)), torch.ones(16),
                            torch.randn(16, 2), torch.zeros(16),
                            bootstrap=t(1, 0, 1).repeat(16, 1))
    learner.learn_batch(batch)
    for layer, old in zip(heads, before, strict=True):
        assert not torch.equal(layer.weight[0], old[0])
        assert torch.equal(layer.weight[1], old[1])  # member 1 saw no row
        assert not torch.equal(layer.weight[2], old[2])
    with pytest.raises(InputError, match="ensemble has 3"):
        learner.learn_batch(TransitionBatch(batch.obs, batch.action, batch.reward,
                                            batch.next_obs, batch.terminated,
                                            bootstrap=torch.ones(16, 5)))


def _step(i: int, b: int = 2) -> StepBatch:
    obs = torch.full((b, 3), float(i))
    obs[:, 1] = torch.arange(b)  # which env
    return StepBatch(obs, torch.ones(b, dtype=torch.long),
                     torch.ones(b), torch.zeros(b, 3), torch.zeros(b, dtype=torch.bool),
                     torch.zeros(b, dtype=torch.bool))


def test_bootstrap_masks_are_stored_with_their_transitions() -> None:
    buf = BootstrapReplayBuffer(capacity=400, members=8, p=0.5, seed=3)
    plain = ReplayBuffer(capacity=400, seed=3)
    for i in range(200):
        buf.add(_step(i))
        plain.add(_step(i))
    batch = buf.sample(256)
    assert batch.bootstrap is not None and batch.bootstrap.shape == (256, 8)
    assert 0.4 < float(batch.bootstrap.mean()) < 0.6
    torch.testing.assert_close(batch.obs, plain.sample(256).obs)  # the same draws as replay
    # a transition keeps its mask: the same (step, env) carries the same mask in any sample
    seen: dict[tuple[float, float], Tensor] = {}
    for sample in (batch, buf.sample(256)):
        assert sample.bootstrap is not None
        for obs, mask in zip(sample.obs, sample.bootstrap, strict=True):
            key = (float(obs[0]), float(obs[1]))
            assert torch.equal(seen.setdefault(key, mask), mask)
    full = BootstrapReplayBuffer(capacity=10, members=4, p=1.0, seed=0)
    full.add(_step(0))
    assert torch.equal(full.sample(3).bootstrap, torch.ones(3, 4))  # type: ignore[arg-type]


def test_bootstrap_buffer_state_round_trip_and_errors() -> None:
    a = BootstrapReplayBuffer(capacity=40, members=4, seed=1)
    for i in range(7):
        a.add(_step(i, b=1))
    b = BootstrapReplayBuffer(capacity=40, members=4, seed=9)
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(a.sample(16).bootstrap, b.sample(16).bootstrap)
    a.add(_step(7, b=1))
    b.add(_step(7, b=1))  # the mask generator resumed too
    torch.testing.assert_close(torch.from_numpy(a._masks), torch.from_numpy(b._masks))
    with pytest.raises(InputError, match="4 members"):
        BootstrapReplayBuffer(capacity=40, members=2).load_state_dict(a.state_dict())
    for bad in (dict(members=0), dict(p=0.0), dict(p=1.5)):
        with pytest.raises(InputError):
            BootstrapReplayBuffer(capacity=4, **bad)  # type: ignore[arg-type]


def _ensemble_scores(member_values: Tensor) -> Tensor:
    """``[B, K, M]`` member values → ``[B, K, 1 + M]`` scores."""
    return torch.cat([member_values.mean(2, keepdim=True), member_values], dim=2)


def test_follow_member_keeps_one_member_per_episode() -> None:
    # 4 members, 3 actions: member m prefers action m % 3
    values = torch.zeros(2, 3, 4)
    for m in range(4):
        values[:, m % 3, m] = 1.0
    scores = _ensemble_scores(values)
    explorer = FollowMember()
    g = torch.Generator().manual_seed(0)
    first, p = explorer.select(scores, None, 0, g)
    member = explorer.member.clone()  # type: ignore[union-attr]
    for _ in range(5):  # the same member, so the same action, until the episode ends
        action, _ = explorer.select(scores, None, 0, g)
        assert torch.equal(action, first)
    # the propensity is the share of members preferring the action: 2/4 for action 0
    torch.testing.assert_close(p, torch.where(first == 0, 0.5, 0.25))
    torch.testing.assert_close(explorer.distribution(scores, None, 0)[0], t(0.5, 0.25, 0.25))
    drawn = set()
    for _ in range(30):
        explorer.episodes_ended(torch.tensor([True, False]))
        explorer.select(scores, None, 0, g)
        assert explorer.member[1] == member[1]  # type: ignore[index]
        drawn.add(int(explorer.member[0]))  # type: ignore[index]
    assert drawn == {0, 1, 2, 3}
    state = explorer.state_dict()
    other = FollowMember()
    other.load_state_dict(state)
    assert torch.equal(other.select(scores, None, 0, g)[0], explorer.select(scores, None, 0, g)[0])


def test_follow_member_never_takes_a_masked_action() -> None:
    values = torch.zeros(64, 3, 5)
    values[:, 2] = 10.0  # every member prefers action 2, which is never available
    mask = torch.tensor([True, True, False]).repeat(64, 1)
    action, p = FollowMember().select(_ensemble_scores(values), mask, 0, None)
    assert bool((action != 2).all()) and bool((p > 0).all())


def test_ensemble_ucb_is_optimistic() -> None:
    values = t(1, 1, 0.5, 2.5).view(1, 2, 2)  # action 0: mean 1, sd 0; action 1: mean 1.5, sd 1
    scores = _ensemble_scores(values)
    assert int(EnsembleUCB(beta=0.0).select(scores, None, 0, None)[0]) == 1
    values = t(1.2, 1.2, 0.0, 2.0).view(1, 2, 2)  # mean 1.2 sd 0 vs mean 1 sd 1
    scores = _ensemble_scores(values)
    assert int(EnsembleUCB(beta=0.0).select(scores, None, 0, None)[0]) == 0
    assert int(EnsembleUCB(beta=1.0).select(scores, None, 0, None)[0]) == 1
    with pytest.raises(ValueError):
        EnsembleUCB(beta=-1.0)


def _config(*overrides: str) -> nacre.RunConfig:
    return nacre.load_preset("deepsea-bootstrapped-dqn").with_overrides(list(overrides))


@pytest.mark.parametrize(("overrides", "message"), [
    (["learner={name: dqn}"], "network 'ensemble_mlp' outputs an ensemble"),
    (["network={name: mlp}"], "set network.name: ensemble_mlp"),
    (["buffer.members=5"], "masks for 5 ensemble members"),
    (["exploration={name: warmup, steps: 10, inner: {name: bootstrapped}}"], "remove the warmup"),
    (["exploration={name: ucb}"], "bootstrapped / ensemble_ucb"),
    (["buffer.p=0"], "buffer.p"),
])
def test_bootstrapped_misconfigurations_are_config_errors(overrides: list[str],
                                                         message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        nacre.build(_config(*overrides))


def test_bootstrapped_wiring_and_mean_based_explorers() -> None:
    run = nacre.build(_config())
    assert isinstance(run.agent.learner, BootstrappedDQN)
    assert isinstance(run.agent.exploration, FollowMember)
    assert isinstance(run.agent.buffer, BootstrapReplayBuffer)
    for explorer in ("epsilon_greedy", "ensemble_ucb", "greedy"):
        nacre.build(_config(f"exploration={{name: {explorer}}}", "buffer={name: replay}"))
