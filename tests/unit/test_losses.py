"""Hand-computed TD targets and n-step returns (``nacre.losses``)."""

from __future__ import annotations

import torch
from torch import Tensor

from nacre.losses import (
    double_q_target,
    masked_max,
    n_step_returns,
    next_window_loss,
    q_learning_target,
    sarsa_target,
    td_target,
)


def t(*values: float) -> Tensor:
    return torch.tensor(values, dtype=torch.float32)


def close(actual: Tensor, expected: list[float]) -> None:
    torch.testing.assert_close(actual, torch.tensor(expected), rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------ td_target


def test_td_target_terminated_vs_not() -> None:
    # row 0: not terminated: 1 + 0.9 * 1 * 10 = 10
    # row 1: terminated:     1 + 0.9 * 0 * 10 = 1
    # row 2: negative reward, not terminated: -2 + 0.9 * 4 = 1.6
    out = td_target(t(1, 1, -2), t(10, 10, 4), t(0, 1, 0), 0.9)
    close(out, [10.0, 1.0, 1.6])


def test_td_target_accepts_bool_terminated() -> None:
    out = td_target(t(1, 1), t(10, 10), torch.tensor([False, True]), 0.5)
    close(out, [6.0, 1.0])  # 1 + .5 * 10 = 6 ; 1


def test_truncated_transition_bootstraps() -> None:
    # td_target has no truncation parameter: a time-limit truncation is stored with
    # terminated = 0, so it bootstraps from V(s') of the true final observation:
    # r = 0, V(s') = 5, γ = 0.99 -> 0 + 0.99 * 5 = 4.95 (a terminal step would give 0).
    truncated_not_terminated = t(0)
    close(td_target(t(0), t(5), truncated_not_terminated, 0.99), [4.95])
    close(td_target(t(0), t(5), t(1), 0.99), [0.0])


def test_td_target_per_sample_discount_tensor() -> None:
    # n-step rows carry γ^k: 1 + 0.25 * 8 = 3 ; 2 + 0.5 * 8 = 6 ; 3 + 1.0 * 8 * 0 = 3 (terminated)
    out = td_target(t(1, 2, 3), t(8, 8, 8), t(0, 0, 1), t(0.25, 0.5, 1.0))
    close(out, [3.0, 6.0, 3.0])


# ------------------------------------------------------------------------------------ masked_max


def test_masked_max() -> None:
    q = torch.tensor([[1.0, 5.0, 3.0], [4.0, -2.0, 0.0], [7.0, 8.0, 9.0]])
    close(masked_max(q, None), [5.0, 4.0, 9.0])
    mask = torch.tensor([[True, False, True], [False, True, False], [False, False, False]])
    # row 0: max(1, 3) = 3 ; row 1: only -2 ; row 2: nothing available -> 0 by convention
    close(masked_max(q, mask), [3.0, -2.0, 0.0])


def test_masked_max_with_negative_values_is_not_clamped_to_zero() -> None:
    q = torch.tensor([[-5.0, -1.0, -3.0]])
    close(masked_max(q, torch.tensor([[True, False, True]])), [-3.0])


# ------------------------------------------------------------------------------------ targets

NEXT_Q = torch.tensor([[1.0, 4.0, 2.0], [3.0, 0.0, 6.0]])


def test_q_learning_target() -> None:
    # row 0: 1 + 0.5 * max(1, 4, 2) = 1 + 2 = 3
    # row 1: 2 + 0.5 * max(3, 0, 6) * (1 - 1) = 2 (terminated)
    close(q_learning_target(t(1, 2), NEXT_Q, t(0, 1), 0.5), [3.0, 2.0])


def test_q_learning_target_with_next_mask() -> None:
    mask = torch.tensor([[True, False, True], [True, True, False]])
    # row 0: best available is 2 (the 4 is masked): 1 + 0.5 * 2 = 2
    # row 1: best available is 3 (the 6 is masked): 2 + 0.5 * 3 = 3.5
    close(q_learning_target(t(1, 2), NEXT_Q, t(0, 0), 0.5, mask), [2.0, 3.5])
    # without the mask: 1 + 0.5 * 4 = 3 ; 2 + 0.5 * 6 = 5
    close(q_learning_target(t(1, 2), NEXT_Q, t(0, 0), 0.5), [3.0, 5.0])


def test_double_q_target_uses_online_argmax_and_target_values() -> None:
    online = torch.tensor([[0.0, 9.0, 1.0], [5.0, 0.0, 1.0]])  # online argmax: 1 ; 0
    target = torch.tensor([[3.0, 2.0, 7.0], [1.0, 8.0, 4.0]])  # target argmax: 2 ; 1
    # row 0: 1 + 0.5 * target[0, 1] = 1 + 0.5 * 2 = 2
    # row 1: 0 + 0.5 * target[1, 0] = 0 + 0.5 * 1 = 0.5
    out = double_q_target(t(1, 0), online, target, t(0, 0), 0.5)
    close(out, [2.0, 0.5])
    # Q-learning would take max of the target net: 1 + 0.5 * 7 = 4.5 ; 0 + 0.5 * 8 = 4
    plain = q_learning_target(t(1, 0), target, t(0, 0), 0.5)
    close(plain, [4.5, 4.0])
    assert not torch.allclose(out, plain)
    # terminated rows ignore the next values: 1 ; 0
    close(double_q_target(t(1, 0), online, target, t(1, 1), 0.5), [1.0, 0.0])


def test_double_q_target_with_next_mask() -> None:
    online = torch.tensor([[0.0, 9.0, 1.0]])
    target = torch.tensor([[3.0, 2.0, 7.0]])
    mask = torch.tensor([[True, False, True]])
    # online argmax over {0, 2} is 2 (1 > 0): 1 + 0.5 * target[0, 2] = 1 + 3.5 = 4.5
    close(double_q_target(t(1), online, target, t(0), 0.5, mask), [4.5])
    mask = torch.tensor([[True, False, False]])
    # only action 0: 1 + 0.5 * 3 = 2.5
    close(double_q_target(t(1), online, target, t(0), 0.5, mask), [2.5])


def test_double_q_target_with_no_available_next_action_matches_q_learning() -> None:
    online = torch.tensor([[0.0, 9.0, 1.0]])
    target = torch.tensor([[3.0, 2.0, 7.0]])
    none = torch.zeros(1, 3, dtype=torch.bool)
    close(q_learning_target(t(1), target, t(0), 0.5, none), [1.0])  # 1 + 0.5 * 0
    close(double_q_target(t(1), online, target, t(0), 0.5, none), [1.0])


def test_sarsa_target() -> None:
    # row 0: a' = 0 -> 1 + 0.5 * 1 = 1.5 (not the max 4)
    # row 1: a' = 2 -> 2 + 0.5 * 6 = 5
    close(sarsa_target(t(1, 2), NEXT_Q, torch.tensor([0, 2]), t(0, 0), 0.5), [1.5, 5.0])
    # row 1 terminated: 2 ; float-typed next actions are accepted (cast to long)
    close(sarsa_target(t(1, 2), NEXT_Q, t(2, 2), t(0, 1), 0.5), [2.0, 2.0])  # 1 + .5 * 2 = 2


def test_targets_keep_no_grad_through_next_values() -> None:
    next_q = NEXT_Q.clone().requires_grad_()
    out = q_learning_target(t(1, 2), next_q, t(0, 0), 0.5)
    out.sum().backward()
    assert next_q.grad is not None
    # the gradient flows only to the max entries, scaled by γ
    torch.testing.assert_close(next_q.grad, torch.tensor([[0.0, 0.5, 0.0], [0.0, 0.0, 0.5]]))


# ------------------------------------------------------------------------------------ n-step


def test_n_step_returns_full_window() -> None:
    rewards = torch.tensor([[1.0, 2.0, 4.0]])
    stops = torch.zeros(1, 3, dtype=torch.bool)
    available = torch.ones(1, 3, dtype=torch.bool)
    ret, last, steps = n_step_returns(rewards, stops, available, 0.5)
    # 1 + 0.5 * 2 + 0.25 * 4 = 3 ; last index 2 ; 3 steps (bootstrap with 0.5^3)
    close(ret, [3.0])
    assert last.tolist() == [2] and steps.tolist() == [3]


def test_n_step_returns_episode_end_inside_window() -> None:
    rewards = torch.tensor([[1.0, 2.0, 4.0, 8.0], [1.0, 2.0, 4.0, 8.0], [1.0, 2.0, 4.0, 8.0]])
    stops = torch.tensor(
        [
            [False, True, False, False],  # ends at step 1: include r0, r1
            [True, False, True, False],  # ends at step 0: only r0
            [False, False, False, True],  # ends at the last step: all 4
        ]
    )
    available = torch.ones(3, 4, dtype=torch.bool)
    ret, last, steps = n_step_returns(rewards, stops, available, 0.5)
    # row 0: 1 + .5 * 2 = 2 ; row 1: 1 ; row 2: 1 + 1 + 1 + 1 = 4
    close(ret, [2.0, 1.0, 4.0])
    assert last.tolist() == [1, 0, 3]
    assert steps.tolist() == [2, 1, 4]


def test_n_step_returns_unavailable_steps() -> None:
    rewards = torch.tensor([[1.0, 2.0, 4.0], [1.0, 2.0, 4.0]])
    stops = torch.zeros(2, 3, dtype=torch.bool)
    # row 0: only 2 steps recorded so far ; row 1: a gap at step 1 cuts the window there
    available = torch.tensor([[True, True, False], [True, False, True]])
    ret, last, steps = n_step_returns(rewards, stops, available, 0.9)
    # row 0: 1 + 0.9 * 2 = 2.8 ; row 1: 1
    close(ret, [2.8, 1.0])
    assert last.tolist() == [1, 0] and steps.tolist() == [2, 1]


def test_n_step_returns_stop_after_unavailable_is_ignored() -> None:
    rewards = torch.tensor([[1.0, 10.0, 100.0]])
    stops = torch.tensor([[False, False, True]])
    available = torch.tensor([[True, True, False]])
    ret, last, steps = n_step_returns(rewards, stops, available, 1.0)
    close(ret, [11.0])  # 1 + 10 ; the unrecorded (stopping) step 2 is not included
    assert last.tolist() == [1] and steps.tolist() == [2]


def test_n_step_returns_n_equals_1() -> None:
    rewards = torch.tensor([[3.0], [-1.0]])
    stops = torch.tensor([[False], [True]])
    available = torch.ones(2, 1, dtype=torch.bool)
    ret, last, steps = n_step_returns(rewards, stops, available, 0.99)
    close(ret, [3.0, -1.0])  # exactly r_t
    assert last.tolist() == [0, 0] and steps.tolist() == [1, 1]


def test_n_step_returns_feed_td_target() -> None:
    # 2-step: r = 1 + 0.5 * 2 = 2, bootstrap 0.5^2 * V = 0.25 * 8 = 2 -> target 4
    rewards = torch.tensor([[1.0, 2.0]])
    ret, _, steps = n_step_returns(
        rewards, torch.zeros(1, 2, dtype=torch.bool), torch.ones(1, 2, dtype=torch.bool), 0.5
    )
    close(td_target(ret, t(8), t(0), 0.5 ** steps.float()), [4.0])


def test_sarsa_target_after_truncation_uses_the_greedy_value() -> None:
    from nacre.losses import sarsa_target

    next_q = torch.tensor([[1.0, 3.0], [1.0, 3.0]])
    # row 0: a' = 0 was taken -> 1 + 0.5 * 1 = 1.5; row 1: truncated (a' = -1) -> 1 + 0.5 * 3 = 2.5
    got = sarsa_target(torch.ones(2), next_q, torch.tensor([0, -1]), torch.zeros(2), 0.5)
    assert torch.equal(got, torch.tensor([1.5, 2.5]))


def test_next_window_loss_compares_the_last_rows_observations() -> None:
    # windows [B=1, L=3, W=4]: 2 observation features, 1 action feature, the marker
    nxt = torch.tensor([[[9.0, 9.0, 5.0, 1.0], [1.0, 2.0, 5.0, 1.0], [3.0, 4.0, 5.0, 1.0]]])
    predicted = torch.tensor([[1.0, 2.0, 3.0, 6.0]])  # rows 2 and 3: off by 2 in one feature
    close(next_window_loss(predicted, nxt, rows=2, observation_width=2).reshape(1), [1.0])
    close(next_window_loss(torch.tensor([[3.0, 2.0]]), nxt, rows=1,
                           observation_width=2).reshape(1), [2.0])  # (0 + 4) / 2
