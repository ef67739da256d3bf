"""Fitted Q Evaluation on a two-state MDP whose value is known in closed form."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from nacre.errors import InputError
from nacre.eval import Estimate, FQEConfig, fqe, fqe_bootstrap

# Two states (one-hot observations), two actions: action 0 stays, action 1 moves to the other
# state; the reward is 1 for acting in state 1. The evaluated policy moves from state 0 with
# probability 0.8 and stays in state 1 with probability 0.9, so under it
#   P_π = [[0.2, 0.8], [0.1, 0.9]],  r_π = [0, 1],  V = (I − γ P_π)⁻¹ r_π.
# With γ = 0.9, by hand:
#   V0 = 0.9 (0.2 V0 + 0.8 V1)      → 0.82 V0 = 0.72 V1
#   V1 = 1 + 0.9 (0.1 V0 + 0.9 V1)  → 0.19 V1 = 1 + 0.09 V0 = 1 + 0.09 · 0.72 / 0.82 V1
#   → V1 = 1 / (0.19 − 0.0648 / 0.82) = 9.0110,  V0 = 0.72 / 0.82 · V1 = 7.9121.
GAMMA = 0.9
POLICY = np.array([[0.2, 0.8], [0.9, 0.1]])
V1 = 1 / (0.19 - 0.0648 / 0.82)
V0 = 0.72 / 0.82 * V1
CONFIG = FQEConfig(gamma=GAMMA, hidden=(32, 32), steps=3000, target_every=50, batch_size=128)


def _log(n: int = 2000, seed: int = 0) -> dict[str, np.ndarray]:
    """Uniformly random states and actions (the behaviour policy is uniform)."""
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 2, n)
    a = rng.integers(0, 2, n)
    s_next = np.where(a == 1, 1 - s, s)
    eye = np.eye(2, dtype=np.float32)
    return {"obs": eye[s], "action": a, "reward": (s == 1).astype(np.float32),
            "next_obs": eye[s_next], "terminated": np.zeros(n), "next_target": POLICY[s_next],
            "initial_obs": eye[[0]], "initial_target": POLICY[[0]]}


def test_closed_form_value() -> None:
    p = np.array([[0.2, 0.8], [0.1, 0.9]])
    v = np.linalg.solve(np.eye(2) - GAMMA * p, [0.0, 1.0])
    assert v == pytest.approx([V0, V1])
    assert pytest.approx((7.9121, 9.0110), abs=1e-4) == (V0, V1)


def test_fqe_recovers_the_true_value_quickly() -> None:
    t0 = time.perf_counter()
    result = fqe(**_log(), config=CONFIG)
    assert time.perf_counter() - t0 < 10
    assert result.estimate.value == pytest.approx(V0, rel=0.03)
    assert isinstance(result.estimate, Estimate) and result.estimate.n == 1
    assert len(result.losses) == 3000 // 50
    assert result.losses[-1] < result.losses[0]
    # the fitted Q also matches Q^π in the other state
    v1 = (torch.as_tensor(POLICY[1]) * result.q(torch.tensor([[0.0, 1.0]]))).sum()
    assert float(v1) == pytest.approx(V1, rel=0.03)


def test_terminal_transitions_do_not_bootstrap() -> None:
    # every transition ends the episode: the value is the expected immediate reward
    log = _log()
    log["terminated"] = np.ones(len(log["reward"]))
    result = fqe(**log, config=FQEConfig(gamma=GAMMA, hidden=(16,), steps=600, target_every=50))
    assert result.estimate.value == pytest.approx(0.0, abs=0.02)  # state 0 pays nothing
    log["initial_obs"] = np.eye(2, dtype=np.float32)[[1]]
    result = fqe(**log, config=FQEConfig(gamma=GAMMA, hidden=(16,), steps=600, target_every=50))
    assert result.estimate.value == pytest.approx(1.0, abs=0.02)


def test_seeded_and_accepts_tensors() -> None:
    small = FQEConfig(gamma=GAMMA, hidden=(8,), steps=200, target_every=20, seed=3)
    log = _log(300)
    a = fqe(**log, config=small)
    b = fqe(**{k: torch.as_tensor(v) for k, v in log.items()}, config=small)
    assert a.estimate == b.estimate
    assert fqe(**log, config=FQEConfig(**{**vars(small), "seed": 4})).estimate != a.estimate


def test_initial_state_interval() -> None:
    log = _log(500)
    log["initial_obs"] = np.eye(2, dtype=np.float32)[[0, 0, 1, 1]]
    log["initial_target"] = POLICY[[0, 0, 1, 1]]
    result = fqe(**log, config=FQEConfig(gamma=0.5, hidden=(16,), steps=500, target_every=25))
    est = result.estimate
    assert est.n == 4 and est.low <= est.value <= est.high
    assert est.value == pytest.approx(float(result.initial_values.mean()))
    assert est.low == pytest.approx(result.initial_values.min(), abs=1e-6)


def test_bootstrap_refits_on_resampled_episodes() -> None:
    log = _log(400)
    starts = np.arange(0, 400, 10)  # forty episodes of ten transitions
    quick = FQEConfig(gamma=0.5, hidden=(16,), steps=300, target_every=30)
    est = fqe_bootstrap(**log, episode_starts=starts, config=quick, refits=4)
    assert est.n == 40 and est.resamples == 4
    assert est.value == pytest.approx(fqe(**log, config=quick).estimate.value)
    assert est.low < est.high


@pytest.mark.parametrize(("change", "field"), [
    ({"obs": np.full((2000, 2), np.nan)}, "obs"),
    ({"action": np.full(2000, 2)}, "action"),
    ({"action": np.zeros(2000)}, "action"),
    ({"reward": np.zeros(1999)}, "reward"),
    ({"next_obs": np.zeros((2000, 3))}, "next_obs"),
    ({"next_target": np.full((2000, 2), 0.6)}, "next_target"),
    ({"initial_target": np.ones((1, 3)) / 3}, "initial_target"),
])
def test_bad_input(change: dict[str, np.ndarray], field: str) -> None:
    with pytest.raises(InputError) as info:
        fqe(**{**_log(), **change}, config=FQEConfig(steps=1))
    assert info.value.field == field


def test_bad_config() -> None:
    with pytest.raises(InputError, match="gamma"):
        fqe(**_log(), config=FQEConfig(gamma=1.5))
    with pytest.raises(InputError, match="config"):
        fqe(**_log(), config=FQEConfig(steps=0))
    with pytest.raises(InputError, match="episode_starts"):
        fqe_bootstrap(**_log(), episode_starts=np.array([5, 10]), config=FQEConfig(steps=1))


# Continuous actions: a state s and an action a in [-1, 1], reward s + a, the next state drawn
# uniformly whatever the action. For the deterministic policy a = 0.5, by hand:
#   V(s) = s + 0.5 + γ V̄,  V̄ = E[s'] + 0.5 + γ V̄ = 0.5 / (1 − γ) = 1 for γ = 0.5,
# so Q(s, a) = s + a + 0.5 and V(0.4) = 1.4.
def _continuous_log(n: int = 2000, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    s, a, s_next = (rng.uniform(-1, 1, (n, 1)).astype(np.float32) for _ in range(3))
    return {"obs": s, "action": a, "reward": (s + a)[:, 0], "next_obs": s_next,
            "terminated": np.zeros(n), "next_target": np.full((n, 1), 0.5, np.float32),
            "initial_obs": np.array([[0.4]], np.float32),
            "initial_target": np.array([[0.5]], np.float32)}


CONTINUOUS = FQEConfig(gamma=0.5, hidden=(32, 32), steps=2000, target_every=50, batch_size=128)


def test_continuous_actions_recover_the_true_value() -> None:
    result = fqe(**_continuous_log(), config=CONTINUOUS)
    assert result.estimate.value == pytest.approx(1.4, abs=0.05)
    q = result.q(torch.tensor([[0.0], [0.0], [-0.5]]), torch.tensor([[-0.5], [0.5], [0.5]]))
    assert q.numpy() == pytest.approx([0.0, 1.0, 0.5], abs=0.08)  # Q(s, a) = s + a + 0.5


def test_a_stochastic_policy_is_given_by_sampled_actions() -> None:
    # π samples a uniformly in [0, 1]: the same mean action, the same values (Q is linear in a)
    log = _continuous_log()
    rng = np.random.default_rng(1)
    log["next_target"] = rng.uniform(0, 1, (2000, 8, 1)).astype(np.float32)
    log["initial_target"] = rng.uniform(0, 1, (1, 64, 1)).astype(np.float32)
    assert fqe(**log, config=CONTINUOUS).estimate.value == pytest.approx(1.4, abs=0.06)
    est = fqe_bootstrap(**log, episode_starts=np.arange(0, 2000, 20),
                        config=FQEConfig(gamma=0.5, hidden=(16,), steps=300, target_every=30),
                        refits=3)
    assert est.resamples == 3 and est.low < est.high


@pytest.mark.parametrize(("change", "field"), [
    ({"action": np.zeros((2000, 2), np.float32)}, "next_target"),  # π's actions are 1-D
    ({"next_target": np.zeros((2000, 2, 2), np.float32)}, "next_target"),
    ({"initial_target": np.zeros((2, 1), np.float32)}, "initial_target"),
    ({"action": np.full((2000, 1), np.inf, np.float32)}, "action"),
])
def test_bad_continuous_input(change: dict[str, np.ndarray], field: str) -> None:
    with pytest.raises(InputError) as info:
        fqe(**{**_continuous_log(), **change}, config=FQEConfig(steps=1))
    assert info.value.field == field
