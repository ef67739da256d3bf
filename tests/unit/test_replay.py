"""Ring replay storage: layout, n-step returns, SARSA next actions, validity, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor

import nacre
from nacre.data import ReplayBuffer, SARSABuffer, StepBatch, TransitionBatch


def add_step(
    buf: ReplayBuffer,
    t: int,
    num_envs: int = 1,
    *,
    reward: list[float] | None = None,
    terminated: list[bool] | None = None,
    truncated: list[bool] | None = None,
    valid: list[bool] | None = None,
    action: list[int] | None = None,
) -> None:
    """Step ``t`` of ``num_envs`` envs; env ``b``'s observation is ``[10 t + b]`` and its next
    observation ``[1000 + 10 t + b]``, so every sampled field tells which row it came from."""
    ids = np.array([10.0 * t + b for b in range(num_envs)], dtype=np.float32)
    buf.add(StepBatch(
        ids[:, None],
        np.array(action if action is not None else [t] * num_envs),
        np.array(reward if reward is not None else ids, dtype=np.float32),
        1000.0 + ids[:, None],
        np.array(terminated or [False] * num_envs),
        np.array(truncated or [False] * num_envs),
        valid=None if valid is None else np.array(valid),
    ))


def rows(batch: TransitionBatch) -> list[int]:
    return [int(v) for v in batch.obs[:, 0].tolist()]


def by_row(batch: TransitionBatch) -> dict[int, dict[str, float]]:
    """Sampled transitions keyed by observation id (all samples of one row must agree)."""
    out: dict[int, dict[str, float]] = {}
    for i, key in enumerate(rows(batch)):
        row = {
            "reward": float(batch.reward[i]),
            "next_obs": float(batch.next_obs[i, 0]),
            "terminated": float(batch.terminated[i]),
            "discount": float(batch.discount[i]) if batch.discount is not None else -1.0,
            "action": float(batch.action[i]),
            "next_action": float(batch.next_action[i]) if batch.next_action is not None else -1,
        }
        assert out.setdefault(key, row) == row, f"row {key} sampled with different contents"
    return out


# ------------------------------------------------------------------------------------ layout


def test_ring_wraps_around_and_keeps_the_last_capacity_steps() -> None:
    buf = ReplayBuffer(capacity=5, seed=0)
    for t in range(8):
        add_step(buf, t)
    assert len(buf) == 5
    batch = buf.sample(500)
    # obs ids are 10 t: only t = 3..7 survive (0, 1, 2 were overwritten)
    assert set(rows(batch)) == {30, 40, 50, 60, 70}
    for key, row in by_row(batch).items():
        assert row["reward"] == key and row["next_obs"] == 1000 + key and row["action"] == key / 10


def test_len_grows_then_saturates() -> None:
    buf = ReplayBuffer(capacity=3, seed=0)
    assert len(buf) == 0
    lengths = []
    for t in range(5):
        add_step(buf, t)
        lengths.append(len(buf))
    assert lengths == [1, 2, 3, 3, 3]


def test_multi_env_layout_keeps_env_columns_together() -> None:
    buf = ReplayBuffer(capacity=9, seed=0)  # B = 3 -> 3 time rows
    for t in range(5):
        add_step(buf, t, num_envs=3, action=[t * 3 + b for b in range(3)])
    assert len(buf) == 9
    batch = buf.sample(900)
    assert batch.obs.shape == (900, 1) and batch.action.dtype == torch.int64
    expected = {10 * t + b for t in (2, 3, 4) for b in range(3)}
    assert set(rows(batch)) == expected
    for key, row in by_row(batch).items():
        t, b = divmod(key, 10)
        assert row["reward"] == key and row["next_obs"] == 1000 + key
        assert row["action"] == t * 3 + b


def test_capacity_rounds_up_to_a_multiple_of_the_env_count() -> None:
    buf = ReplayBuffer(capacity=10, seed=0)  # B = 3 -> ceil(10 / 3) = 4 rows = 12 transitions
    for t in range(6):
        add_step(buf, t, num_envs=3)
    assert len(buf) == 12
    assert {k // 10 for k in rows(buf.sample(600))} == {2, 3, 4, 5}


def test_sampled_dtypes_and_defaults() -> None:
    buf = ReplayBuffer(capacity=4, seed=0)
    add_step(buf, 0, terminated=[True])
    batch = buf.sample(3)
    assert batch.terminated.dtype == torch.float32 and batch.terminated.tolist() == [1.0] * 3
    assert batch.reward.dtype == torch.float32
    assert batch.discount is None and batch.next_action is None  # 1-step, not SARSA
    assert batch.propensity is not None and batch.propensity.tolist() == [1.0] * 3


def test_propensity_is_stored() -> None:
    buf = ReplayBuffer(capacity=4, seed=0)
    for t in range(2):
        buf.add(StepBatch(np.full((2, 1), t, np.float32), np.array([0, 1]), np.zeros(2, np.float32),
                np.zeros((2, 1), np.float32), np.zeros(2, bool), np.zeros(2, bool),
                propensity=torch.tensor([0.25, 0.5]) * (t + 1)))
    batch = buf.sample(200)
    assert batch.propensity is not None
    for obs, action, p in zip(batch.obs[:, 0], batch.action, batch.propensity, strict=True):
        assert float(p) == pytest.approx((0.25, 0.5)[int(action)] * (int(obs) + 1))


def test_sampling_an_empty_buffer_raises() -> None:
    with pytest.raises(nacre.InputError):
        ReplayBuffer(capacity=4).sample(1)


# ------------------------------------------------------------------------------------ n-step


def test_n_step_returns_with_truncation_termination_and_write_head() -> None:
    gamma = 0.5
    buf = ReplayBuffer(capacity=16, n_step=3, gamma=gamma, seed=0)
    rewards = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    for t, r in enumerate(rewards):
        add_step(buf, t, reward=[r], truncated=[t == 2], terminated=[t == 4])
    got = by_row(buf.sample(2000))
    expected = {
        # t: (return, next obs id of the last included step, terminated, discount γ^k)
        0: (1 + 0.5 * 2 + 0.25 * 3, 1020, 0.0, 0.125),  # truncation at t=2 included, bootstraps
        1: (2 + 0.5 * 3, 1020, 0.0, 0.25),
        2: (3.0, 1020, 0.0, 0.5),  # the truncated step itself: 1 step, bootstrap with γ
        3: (4 + 0.5 * 5, 1040, 1.0, 0.25),  # termination at t=4 included, no bootstrap
        4: (5.0, 1040, 1.0, 0.5),
        5: (6 + 0.5 * 7, 1060, 0.0, 0.25),  # t=7 not written yet: the window stops at the head
        6: (7.0, 1060, 0.0, 0.5),
    }
    assert set(got) == {10 * t for t in expected}
    for t, (ret, next_obs, terminated, discount) in expected.items():
        row = got[10 * t]
        assert row["reward"] == pytest.approx(ret), t
        assert (row["next_obs"], row["terminated"]) == (next_obs, terminated), t
        assert row["discount"] == pytest.approx(discount), t


def test_n_step_window_does_not_cross_the_write_head_after_wrapping() -> None:
    buf = ReplayBuffer(capacity=4, n_step=3, gamma=0.5, seed=0)
    for t in range(6):  # rows hold t = 2..5; the row after t = 5 holds the old t = 2
        add_step(buf, t, reward=[float(t + 1)])
    got = by_row(buf.sample(1000))
    assert sorted(got) == [20, 30, 40, 50]
    # t=2: 3 + .5*4 + .25*5 = 6.25 ; t=3: 4 + .5*5 + .25*6 = 8 ; t=4: 5 + .5*6 = 8 ; t=5: 6
    assert [got[k]["reward"] for k in (20, 30, 40, 50)] == pytest.approx([6.25, 8.0, 8.0, 6.0])
    assert [got[k]["discount"] for k in (20, 30, 40, 50)] == pytest.approx([.125, .125, .25, .5])
    assert [got[k]["next_obs"] for k in (20, 30, 40, 50)] == [1040, 1050, 1050, 1050]


def test_n_step_multi_env_columns_are_independent() -> None:
    buf = ReplayBuffer(capacity=8, n_step=2, gamma=0.5, seed=0)
    add_step(buf, 0, 2, reward=[1.0, 10.0], terminated=[True, False])
    add_step(buf, 1, 2, reward=[2.0, 20.0])
    add_step(buf, 2, 2, reward=[3.0, 30.0])
    got = by_row(buf.sample(1000))
    # env 0, t=0 terminated: 1 ; env 1, t=0: 10 + .5 * 20 = 20
    assert (got[0]["reward"], got[0]["terminated"], got[0]["next_obs"]) == (1.0, 1.0, 1000)
    assert (got[1]["reward"], got[1]["discount"], got[1]["next_obs"]) == (20.0, 0.25, 1011)
    # t=1: 2 + .5 * 3 = 3.5 ; 20 + .5 * 30 = 35
    assert (got[10]["reward"], got[11]["reward"]) == (3.5, 35.0)


# ------------------------------------------------------------------------------------ SARSA


def test_sarsa_next_action_and_newest_row_never_sampled() -> None:
    buf = SARSABuffer(capacity=8, seed=0)
    assert buf.needs_next_action
    actions = [3, 1, 4, 1, 5, 9]
    for t, a in enumerate(actions):
        add_step(buf, t, action=[a])
    got = by_row(buf.sample(1000))
    assert sorted(got) == [0, 10, 20, 30, 40]  # the newest step (t=5) has no next action yet
    for key, row in got.items():
        t = key // 10
        assert (row["action"], row["next_action"]) == (actions[t], actions[t + 1])


def test_sarsa_buffer_with_one_step_cannot_sample() -> None:
    buf = SARSABuffer(capacity=8, seed=0)
    add_step(buf, 0)
    with pytest.raises(nacre.InputError):
        buf.sample(1)


def test_sarsa_next_action_after_wrap_multi_env() -> None:
    buf = SARSABuffer(capacity=6, seed=0)  # B = 2 -> 3 rows
    for t in range(5):
        add_step(buf, t, 2, action=[t, 100 + t])
    got = by_row(buf.sample(1000))
    assert sorted(got) == [20, 21, 30, 31]  # rows t = 2, 3 ; t = 4 is the newest
    for key, row in got.items():
        t, b = divmod(key, 10)
        assert row["next_action"] == 100 * b + t + 1


def test_sarsa_n_step_next_action_is_taken_at_the_bootstrap_state() -> None:
    buf = SARSABuffer(capacity=16, n_step=2, gamma=0.5, seed=0)
    for t in range(6):
        add_step(buf, t, action=[t])
    got = by_row(buf.sample(500))
    row = got[0]
    # t=0: the 2-step window is t = 0, 1; it bootstraps from s_2 = next_obs[1] (id 1010), where
    # the action taken was a_2 = 2.
    assert row["next_obs"] == 1010
    assert row["next_action"] == 2


# ------------------------------------------------------------------------------------ validity


def test_invalid_rows_are_never_sampled() -> None:
    buf = ReplayBuffer(capacity=20, seed=0)
    add_step(buf, 0, 2, valid=[True, True])  # all valid: no mask stored yet
    add_step(buf, 1, 2, valid=[False, True])
    add_step(buf, 2, 2)  # valid=None: all valid
    add_step(buf, 3, 2, valid=[True, False])
    got = by_row(buf.sample(2000))
    assert sorted(got) == [0, 1, 11, 20, 21, 30]


def test_overwritten_invalid_row_becomes_valid() -> None:
    buf = ReplayBuffer(capacity=2, seed=0)  # B = 1 -> 2 rows
    add_step(buf, 0, valid=[False])
    add_step(buf, 1)
    assert set(rows(buf.sample(200))) == {10}
    add_step(buf, 2)  # overwrites the invalid t=0 row
    assert set(rows(buf.sample(200))) == {10, 20}


def test_sarsa_and_n_step_also_skip_invalid_rows() -> None:
    buf = SARSABuffer(capacity=10, n_step=2, gamma=0.5, seed=0)
    add_step(buf, 0, terminated=[True])
    add_step(buf, 1, valid=[False])  # NEXT_STEP reset step after the episode end
    add_step(buf, 2)
    add_step(buf, 3)
    got = by_row(buf.sample(500))
    assert sorted(got) == [0, 20]  # t = 3 is the newest
    assert got[0]["reward"] == 0.0 and got[0]["terminated"] == 1.0  # stops at the episode end


# ------------------------------------------------------------------------------------ checkpoints


def _same_batches(a: ReplayBuffer, b: ReplayBuffer, n: int = 3) -> None:
    for _ in range(n):
        x, y = a.sample(16), b.sample(16)
        for name in ("obs", "action", "reward", "next_obs", "terminated", "discount",
                     "next_action", "propensity"):
            u, v = getattr(x, name), getattr(y, name)
            assert (u is None) == (v is None), name
            if isinstance(u, Tensor) and isinstance(v, Tensor):
                assert torch.equal(u, v), name


@pytest.mark.parametrize("steps", [3, 11])  # partly filled; wrapped around
@pytest.mark.parametrize("cls", [ReplayBuffer, SARSABuffer])
def test_state_dict_round_trip(cls: type[ReplayBuffer], steps: int) -> None:
    buf = cls(capacity=8, n_step=2, gamma=0.9, seed=3)
    for t in range(steps):
        add_step(buf, t, 2, terminated=[t % 3 == 0, False], valid=[t != 5, True])
    buf.sample(5)  # advance the generator
    state = buf.state_dict()
    copy = cls(capacity=8, n_step=2, gamma=0.9, seed=99)
    copy.load_state_dict(state)
    assert len(copy) == len(buf) and copy.nbytes == buf.nbytes
    _same_batches(buf, copy)
    # and both keep going identically
    add_step(buf, steps, 2)
    add_step(copy, steps, 2)
    _same_batches(buf, copy)


def test_state_dict_is_a_snapshot() -> None:
    buf = ReplayBuffer(capacity=4, seed=0)
    add_step(buf, 0)
    state = buf.state_dict()
    for t in range(1, 6):
        add_step(buf, t)
    restored = ReplayBuffer(capacity=4, seed=0)
    restored.load_state_dict(state)
    assert len(restored) == 1 and set(rows(restored.sample(10))) == {0}


# ------------------------------------------------------------------------------------ errors


def _valid_args() -> list[np.ndarray]:
    return [
        np.zeros((2, 3), np.float32), np.array([0, 1]), np.zeros(2, np.float32),
        np.zeros((2, 3), np.float32), np.zeros(2, bool), np.zeros(2, bool),
    ]


@pytest.mark.parametrize("first", [True, False])
@pytest.mark.parametrize(
    ("index", "value", "field"),
    [
        (2, np.array([0.0, np.nan], np.float32), "reward"),
        (2, np.array([np.inf, 0.0], np.float32), "reward"),
        (3, np.array([[0, 0, np.inf], [0, 0, 0]], np.float32), "next_obs"),
        (3, np.array([[0, 0, np.nan], [0, 0, 0]], np.float32), "next_obs"),
        (3, np.zeros((2, 4), np.float32), "next_obs"),
        (1, np.array([0, 1, 2]), "action"),
        (4, np.zeros(1, bool), "terminated"),
        (5, np.zeros(3, bool), "truncated"),
    ],
)
def test_bad_inputs_raise_input_error_naming_the_field(
    first: bool, index: int, value: np.ndarray, field: str
) -> None:
    buf = ReplayBuffer(capacity=8, seed=0)
    if not first:
        buf.add(StepBatch(*_valid_args()))
    args = _valid_args()
    args[index] = value
    with pytest.raises(nacre.InputError) as info:
        buf.add(StepBatch(*args))
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}:")
    assert len(buf) == (0 if first else 2)  # nothing written (one step of B = 2)


def test_wrong_obs_shape_names_obs_after_the_first_step() -> None:
    buf = ReplayBuffer(capacity=8, seed=0)
    args = _valid_args()
    args[0] = np.zeros((2, 4), np.float32)
    with pytest.raises(nacre.InputError) as info:
        buf.add(StepBatch(*args))
    assert info.value.field == "next_obs"  # first step: obs and next_obs disagree
    buf.add(StepBatch(*_valid_args()))
    with pytest.raises(nacre.InputError) as info:
        buf.add(StepBatch(*args))
    assert info.value.field == "obs"  # later: obs differs from the stored shape
    assert len(buf) == 2


def test_wrong_reward_length_on_first_add_names_reward() -> None:
    args = _valid_args()
    args[2] = np.zeros(3, np.float32)
    with pytest.raises(nacre.InputError) as info:
        ReplayBuffer(capacity=8).add(StepBatch(*args))
    assert info.value.field == "reward"


def test_wrong_reward_length_after_first_add_names_reward() -> None:
    buf = ReplayBuffer(capacity=8)
    buf.add(StepBatch(*_valid_args()))
    args = _valid_args()
    args[2] = np.zeros(3, np.float32)
    with pytest.raises(nacre.InputError) as info:
        buf.add(StepBatch(*args))
    assert info.value.field == "reward"


@pytest.mark.parametrize("first", [True, False])
def test_inf_obs_raises_input_error(first: bool) -> None:
    buf = ReplayBuffer(capacity=8, seed=0)
    if not first:
        buf.add(StepBatch(*_valid_args()))
    args = _valid_args()
    args[0] = np.array([[0, np.inf, 0], [0, 0, 0]], np.float32)
    with pytest.raises(nacre.InputError) as info:
        buf.add(StepBatch(*args))
    assert info.value.field == "obs"


@pytest.mark.parametrize("valid", [[False], [False, True, True]])
def test_wrong_valid_shape_raises_input_error(valid: list[bool]) -> None:
    buf = ReplayBuffer(capacity=8, seed=0)
    buf.add(StepBatch(*_valid_args()))
    with pytest.raises(nacre.InputError) as info:
        buf.add(StepBatch(*_valid_args(), valid=np.array(valid)))
    assert info.value.field == "valid"


def test_scalar_input_and_bad_constructor_arguments() -> None:
    args: list[object] = list(_valid_args())
    args[2] = np.float32(1.0)
    with pytest.raises(nacre.InputError) as info:
        ReplayBuffer(capacity=8).add(StepBatch(*args))
    assert info.value.field == "reward"
    with pytest.raises(nacre.InputError, match="capacity"):
        ReplayBuffer(capacity=0)
    with pytest.raises(nacre.InputError, match="n_step"):
        ReplayBuffer(capacity=4, n_step=0)


def test_integer_observations_are_not_checked_for_finiteness() -> None:
    buf = ReplayBuffer(capacity=4, seed=0)
    buf.add(StepBatch(
            np.array([3]), np.array([0]), np.array([1.0]), np.array([4]), np.array([False]),
            np.array([False])))
    batch = buf.sample(2)
    assert batch.obs.dtype == torch.int64 and batch.obs.tolist() == [3, 3]


# ------------------------------------------------------------------------------------ memory


def test_nbytes_is_the_sum_of_field_bytes() -> None:
    buf = ReplayBuffer(capacity=10, seed=0)  # B = 2 -> 5 rows
    assert buf.nbytes == 0
    for t in range(7):
        add_step(buf, t, 2)
    # obs/next_obs [5, 2, 1] float32 = 40 B each ; action int64 = 80 ; reward, propensity
    # float32 = 40 each ; terminated, truncated bool = 10 each
    assert buf.nbytes == 40 + 80 + 40 + 40 + 10 + 10 + 40
    buf2 = ReplayBuffer(capacity=10, seed=0)
    for t in range(7):
        buf2.add(StepBatch(
                np.zeros((2, 3, 4), np.float32), np.zeros(2, np.int64), np.zeros(2, np.float32),
                 np.zeros((2, 3, 4), np.float32), np.zeros(2, bool), np.zeros(2, bool),
                 valid=np.array([t != 1, True])))
    rows_ = 5 * 2
    field_bytes = rows_ * (12 * 4 * 2 + 8 + 4 + 1 + 1 + 4)
    assert buf2.nbytes == field_bytes + rows_  # + the [5, 2] bool validity mask


def test_sarsa_next_action_is_unknown_after_truncation() -> None:
    buf = SARSABuffer(capacity=8, seed=0)
    for t in range(4):
        buf.add(StepBatch(
                np.full((1, 2), t, np.float32), np.array([t]), np.array([0.0], np.float32),
                np.full((1, 2), t + 1, np.float32), np.array([False]), np.array([t == 1])))
    batch = buf.sample(200)
    for obs, nxt in zip(batch.obs[:, 0].tolist(), batch.next_action.tolist(), strict=True):
        assert nxt == (-1 if obs == 1 else obs + 1)
