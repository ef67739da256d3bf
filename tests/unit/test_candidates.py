"""Candidate sets in replay and rollout storage (nacre.data.candidates), their representation for
learners (nacre.actions.CandidateBatches) and the two-tower head."""

from __future__ import annotations

import pytest
import torch

from nacre.actions import (
    CandidateBatches,
    EmbeddingActionRepresentation,
    IdentityActionRepresentation,
    OneHotActionRepresentation,
)
from nacre.data import ReplayBuffer, RolloutBuffer, StepBatch
from nacre.errors import InputError
from nacre.networks.towers import TwoTowerHead
from nacre.spaces import AvailableActions, DiscreteActionSpace

K, B = 4, 2


def _items(step: int) -> torch.Tensor:
    """Step ``step``'s catalogue ids ``[B, K]``: recoverable from the step and the env."""
    return torch.arange(B)[:, None] * 1000 + step * 10 + torch.arange(K)[None, :]


def _mask(step: int) -> torch.Tensor:
    mask = torch.ones(B, K, dtype=torch.bool)
    mask[:, step % K] = False
    return mask


def _step(t: int, done: bool = False) -> StepBatch:
    obs = torch.full((B, 1), float(t))
    return StepBatch(obs, torch.tensor([(t + 1) % K] * B), torch.ones(B), obs + 1,
                     torch.tensor([done] * B), torch.zeros(B, dtype=torch.bool),
                     available=AvailableActions(_mask(t), items=_items(t)),
                     next_available=AvailableActions(_mask(t + 1), items=_items(t + 1)))


def _filled(capacity: int, steps: int) -> ReplayBuffer:
    buf = ReplayBuffer(capacity=capacity, seed=0)
    for t in range(steps):
        buf.add(_step(t))
    return buf


@pytest.mark.parametrize("steps", [5, 23])  # within capacity, and wrapped around the ring
def test_each_row_gets_its_own_and_the_next_steps_set(steps: int) -> None:
    buf = _filled(capacity=16, steps=steps)
    batch = buf.sample(256)
    t = batch.obs[:, 0].long()
    env = (batch.candidates[:, 0] // 1000).long()
    assert batch.candidates is not None and batch.next_candidates is not None
    assert batch.mask is not None and batch.next_mask is not None
    for i in range(len(batch)):
        assert torch.equal(batch.candidates[i], _items(int(t[i]))[env[i]])
        assert torch.equal(batch.mask[i], _mask(int(t[i]))[env[i]])
        # the newest row's next set is the pending one, not a row of the ring
        assert torch.equal(batch.next_candidates[i], _items(int(t[i]) + 1)[env[i]])
        assert torch.equal(batch.next_mask[i], _mask(int(t[i]) + 1)[env[i]])
    assert int(t.max()) == steps - 1  # the newest row is sampled too


def test_memory_per_transition_does_not_grow_with_the_catalogue() -> None:
    buf = _filled(capacity=64, steps=3)
    plain = ReplayBuffer(capacity=64, seed=0)
    for t in range(3):
        plain.add(_plain(t))
    # K ids (int32) + K mask bytes per transition, plus one pending set of B rows
    assert buf.nbytes - plain.nbytes == (64 + B) * K * (4 + 1)


def _plain(t: int) -> StepBatch:
    step = _step(t)
    return StepBatch(step.obs, step.action, step.reward, step.next_obs, step.terminated,
                     step.truncated)


def test_a_buffer_without_sets_stores_none() -> None:
    buf = ReplayBuffer(capacity=8, seed=0)
    buf.add(_plain(0))
    batch = buf.sample(4)
    assert batch.mask is None and batch.candidates is None and batch.next_mask is None


def test_a_step_without_its_set_is_refused_once_items_are_stored() -> None:
    buf = _filled(capacity=8, steps=2)
    with pytest.raises(InputError, match="candidate set"):
        buf.add(_plain(2))


def test_mismatched_set_sizes_are_refused() -> None:
    buf = _filled(capacity=8, steps=1)
    step = _step(1)
    wide = StepBatch(step.obs, step.action, step.reward, step.next_obs, step.terminated,
                     step.truncated, available=AvailableActions(torch.ones(B, K + 1).bool()),
                     next_available=None)
    with pytest.raises(InputError, match="slots"):
        buf.add(wide)


def test_checkpoint_round_trip_keeps_sets() -> None:
    buf = _filled(capacity=16, steps=7)
    again = ReplayBuffer(capacity=16, seed=0)
    again.load_state_dict(buf.state_dict())
    a, b = buf.sample(32), again.sample(32)
    for name in ("candidates", "next_candidates", "mask", "next_mask"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_masks_only_and_features() -> None:
    buf = ReplayBuffer(capacity=8, seed=0)
    feats = torch.randn(6, B, K, 3)
    for t in range(5):
        s = _step(t)
        buf.add(StepBatch(s.obs, s.action, s.reward, s.next_obs, s.terminated, s.truncated,
                          available=AvailableActions(_mask(t), features=feats[t]),
                          next_available=AvailableActions(_mask(t + 1), features=feats[t + 1])))
    batch = buf.sample(64)
    assert batch.candidates is not None and batch.candidates.shape == (64, K, 3)
    t = batch.obs[:, 0].long()
    for i in range(64):
        row = (batch.candidates[i] == feats[t[i]]).all(dim=(1, 2)).nonzero()
        assert row.numel() == 1
        assert torch.equal(batch.next_candidates[i], feats[t[i] + 1, int(row)])


def test_rollout_carries_the_sets_acted_from() -> None:
    buf = RolloutBuffer(steps=3)
    for t in range(3):
        buf.add(_step(t))
    rollout = buf.rollout()
    assert rollout.mask is not None and rollout.candidates is not None
    assert rollout.mask.shape == (3, B, K)
    assert torch.equal(rollout.candidates[2], _items(2))
    assert torch.equal(rollout.flat().mask, torch.stack([_mask(t) for t in range(3)]).view(-1, K))


def test_candidate_batches_represent_stored_sets_as_when_acting() -> None:
    catalogue = torch.randn(5000, 3)
    space = DiscreteActionSpace(K, catalogue=catalogue)
    batch = _filled(capacity=16, steps=6).sample(8)
    prepare = CandidateBatches(IdentityActionRepresentation().represent)
    prepare.space = space
    out = prepare(batch)
    assert batch.candidates is not None and out.candidates is not None
    assert torch.equal(out.candidates, catalogue[batch.candidates])
    assert out.next_candidates is not None and out.next_candidates.shape == (8, K, 3)
    one_hot = CandidateBatches(OneHotActionRepresentation().represent)
    one_hot.space = space
    assert one_hot(batch).candidates.shape == (8, K, K)
    ids = CandidateBatches(EmbeddingActionRepresentation(5000).represent)
    ids.space = space
    assert torch.equal(ids(batch).candidates, batch.candidates)


def test_two_tower_scores_all_candidates_as_dot_products() -> None:
    torch.manual_seed(0)
    head = TwoTowerHead(6, 3, (8,), 5)
    s, x = torch.randn(4, 6), torch.randn(4, 7, 3)
    expected = torch.stack([head.action_tower(x[i]) @ head.state_tower(s[i]) for i in range(4)])
    torch.testing.assert_close(head(s, x), expected)
    shared = torch.randn(7, 3)  # one set for every row
    torch.testing.assert_close(head(s, shared), head(s, shared.expand(4, 7, 3)))
    ids = TwoTowerHead(6, None, (8,), 5, id_rows=50)
    with pytest.raises(ValueError, match="int64 ids"):
        ids(s, x)


def test_dqn_scores_only_the_taken_candidate_with_the_same_loss() -> None:
    from nacre.learners.value.dqn import DQN, DQNConfig
    from nacre.networks import FlattenEncoder
    from nacre.networks.q import QNetwork

    torch.manual_seed(0)
    net = QNetwork(FlattenEncoder((1,)), TwoTowerHead(1, 3, (8,), 4))
    learner = DQN(net, DQNConfig(lr=1e-2))
    batch = _filled(capacity=16, steps=6).sample(32)
    prepare = CandidateBatches(IdentityActionRepresentation().represent)
    prepare.space = DiscreteActionSpace(K, catalogue=torch.randn(5000, 3))
    batch = prepare(batch)
    features = net.features(batch.obs)
    whole = net.head(features, batch.candidates).gather(1, batch.action.long()[:, None])
    torch.testing.assert_close(learner.taken_q(features, batch), whole.squeeze(1))


def test_a_truncated_transition_bootstraps_over_its_own_final_set() -> None:
    buf = ReplayBuffer(capacity=8, seed=0)
    final = AvailableActions(_mask(99), items=_items(99))  # the set at the final observation
    for t in range(6):
        s = _step(t)
        cut = torch.tensor([t == 2] * B)
        buf.add(StepBatch(s.obs, s.action, s.reward, s.next_obs, s.terminated, cut,
                          available=s.available, next_available=s.next_available,
                          final_available=final if t == 2 else None))
    batch = buf.sample(512)
    t = batch.obs[:, 0].long()
    env = (batch.candidates[:, 0] // 1000).long()
    for i in range(len(batch)):
        expected = 99 if int(t[i]) == 2 else int(t[i]) + 1
        assert torch.equal(batch.next_candidates[i], _items(expected)[env[i]])
        assert torch.equal(batch.next_mask[i], _mask(expected)[env[i]])
    again = ReplayBuffer(capacity=8, seed=0)
    again.load_state_dict(buf.state_dict())
    assert torch.equal(again.sample(64).next_candidates, buf.sample(64).next_candidates)
    for t in range(6, 12):  # the ring wraps past row 2: its final set goes with it
        buf.add(_step(t))
    assert int(buf.sample(256).next_candidates[:, 0].remainder(1000).max()) < 990


def test_episodes_cut_after_the_fact_keep_the_set_at_their_last_observation() -> None:
    buf = _filled(capacity=16, steps=3)
    buf.mark_episodes_cut()
    for t in range(3, 5):  # a new episode: its first set is not the cut one's next
        s = _step(t + 50)
        buf.add(StepBatch(s.obs - 50, s.action, s.reward, s.next_obs - 50, s.terminated,
                          s.truncated, available=s.available, next_available=s.next_available))
    batch = buf.sample(256)
    rows = batch.obs[:, 0].long() == 2
    assert bool(rows.any())
    expected = _items(3)[(batch.candidates[rows, 0] // 1000).long()]
    assert torch.equal(batch.next_candidates[rows], expected)
