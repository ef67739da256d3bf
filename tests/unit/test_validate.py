"""The checks of the public boundary, on the edges their fast paths take."""

import numpy as np
import pytest
import torch

from nacre.data.validate import all_finite, check_step_values, in_range
from nacre.errors import InputError


@pytest.mark.parametrize("size", [1, 4, 64, 65, 10_000])  # the Python path and the NumPy path
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_all_finite_finds_one_bad_value_anywhere(size: int, dtype: type) -> None:
    values = np.ones(size, dtype=dtype)
    assert all_finite(values) and all_finite(torch.from_numpy(values))
    for bad in (np.nan, np.inf, -np.inf):
        for where in (0, size // 2, size - 1):
            spoilt = values.copy()
            spoilt[where] = bad
            assert not all_finite(spoilt), (bad, where)
            assert not all_finite(torch.from_numpy(spoilt))


def test_all_finite_edge_cases() -> None:
    assert not all_finite(np.array([np.inf, -np.inf] * 50))  # a sum of NaN, without a warning
    assert all_finite(np.full(100, 1e308))  # the float64 sum overflows; the values are finite
    assert all_finite(np.arange(5)) and all_finite(np.array([True]))
    assert all_finite([1.0, 2.0]) and not all_finite([1.0, float("nan")])
    assert not all_finite(np.array([None], dtype=object))
    assert not all_finite(np.array([1 + 1j, complex("nan")]))


def test_in_range_is_the_same_on_both_paths() -> None:
    for n in (3, 50):
        values = np.linspace(0.0, 1.0, n)
        assert in_range(values, 0.0, 1.0) and not in_range(values, 0.0, 1.0, low_open=True)
        assert not in_range(np.append(values, np.nan), 0.0, 1.0)


def step(action: object, propensity: object) -> None:
    no = np.array([False])
    check_step_values(np.asarray(action), np.asarray(propensity), 2, no, no)


def test_one_discrete_step_fast_path_accepts_exactly_the_valid_values() -> None:
    step([1], [1.0])
    step([0], [1e-9])
    for action, propensity in (([2], [0.5]), ([-1], [0.5]), ([0], [0.0]), ([0], [1.5]),
                               ([0], [np.nan]), ([0.0], [0.5])):
        with pytest.raises(InputError):
            step(action, propensity)
    with pytest.raises(InputError, match="terminated"):
        check_step_values(np.array([0]), np.array([1.0]), 2, np.array([2]), np.array([False]))


def test_batches_of_the_agents_own_buffer_are_not_checked_twice() -> None:
    import nacre
    from nacre.data.batch import TransitionBatch
    from nacre.data.validate import stored_batches

    learner = nacre.build(nacre.load_preset("cartpole-dqn")).agent.learner
    n = 4
    flags_of_two = TransitionBatch(obs=torch.zeros(n, 4), action=torch.zeros(n, dtype=torch.int64),
                                   reward=torch.zeros(n), next_obs=torch.zeros(n, 4),
                                   terminated=torch.full((n,), 2.0))
    with pytest.raises(InputError, match="terminated"):
        learner.learn_batch(flags_of_two)
    with stored_batches():  # what Agent.learn does around batches of its own buffer
        learner.learn_batch(flags_of_two)
    with pytest.raises(InputError, match="terminated"):  # and only within
        learner.learn_batch(flags_of_two)
