"""The CQL kernel (nacre.accel.cql) against CQL's readable update: the same parameters, target
critics, optimizer moments and metrics after >= 100 updates, up to float rounding (the
tolerances of test_accel_parity.py); what it covers."""

from __future__ import annotations

import copy
import pickle
from dataclasses import replace
from typing import Any

import pytest
import torch
from test_accel_parity import same_metrics, same_state, twins

import nacre
from nacre.accel import kernel_for
from nacre.accel.cql import CQLKernel
from nacre.config import RunConfig
from nacre.learners.engine import LearnerEngine
from nacre.learners.offline import CQL, CQLConfig
from nacre.networks import FlattenEncoder, SquashedGaussianActor, TwinQCritic
from nacre.testing import random_batch
from nacre.types import Engine

OBS, ACT = 5, 3


def cql(hidden: tuple[int, ...] = (24, 16), n_critics: int = 2, cfg: CQLConfig | None = None,
        activation: str = "relu") -> CQL:
    torch.manual_seed(0)
    actor = SquashedGaussianActor(FlattenEncoder((OBS,)), ACT, hidden, activation)
    with torch.no_grad():  # log σ spread widely: rows past the clamps on either side
        actor.log_std.weight.mul_(8.0)
    critic = TwinQCritic(FlattenEncoder((OBS,)), ACT, hidden, activation, n_critics=n_critics)
    return CQL(actor, critic, cfg or CQLConfig(lr=1e-3, actor_lr=3e-4, gamma=0.95, tau=0.05,
                                               n_action_samples=4))


def run_rounds(fast: Engine, slow: Engine, rounds: int, dtype: torch.dtype = torch.float32,
               per_row_discount: bool = False, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    for _ in range(rounds):  # rounds of 4 updates of 32 rows, a last short one of 24
        batch = random_batch(OBS, ACT, 120, generator=g, continuous=True)
        batch = replace(batch, obs=batch.obs.to(dtype), next_obs=batch.next_obs.to(dtype))
        if per_row_discount:  # e.g. n-step returns: γ^k per row
            batch = replace(batch, discount=0.9 ** torch.randint(1, 4, (120,), generator=g))
        same_metrics(fast.learn_batches(batch, 32), slow.learn_batches(batch, 32))


@pytest.mark.parametrize(("hidden", "n_critics"), [((24, 16), 2), ((20,), 1), ((16, 16, 8), 3)])
@pytest.mark.parametrize(("samples", "weight", "learn_alpha"), [(4, 5.0, True),
                                                                 (1, 0.5, False)])
def test_cql_kernel_matches_the_readable_update(hidden: tuple[int, ...], n_critics: int,
                                                samples: int, weight: float,
                                                learn_alpha: bool) -> None:
    cfg = CQLConfig(lr=1e-3, actor_lr=3e-4, gamma=0.95, tau=0.05, n_action_samples=samples,
                    conservative_weight=weight, learn_alpha=learn_alpha, init_alpha=0.5)
    learner = cql(hidden, n_critics, cfg)
    start = copy.deepcopy(learner)
    fast, slow = twins(learner)
    assert isinstance(fast, CQLKernel)
    run_rounds(fast, slow, 26, per_row_discount=n_critics != 2)  # 104 updates
    same_state(fast.learner, slow.learner)
    for before, after in ((start.actor, learner.actor), (start.critic, learner.critic)):
        assert not any(torch.equal(p0, p) for p0, p in zip(
            before.parameters(), after.parameters(), strict=True))


def test_float64_observations_take_the_kernel() -> None:
    fast, slow = twins(cql())
    steps: list[int] = []
    original = fast.step  # type: ignore[attr-defined]
    fast.step = lambda batch, want_metrics: steps.append(1) or original(  # type: ignore[attr-defined]
        batch, want_metrics)
    run_rounds(fast, slow, 2, dtype=torch.float64)
    assert len(steps) == 8
    same_state(fast.learner, slow.learner)


@pytest.mark.parametrize("copier", [copy.deepcopy, lambda x: pickle.loads(pickle.dumps(x))])
def test_a_copied_kernel_continues_like_the_original(copier: Any) -> None:
    fast = kernel_for(cql())
    assert fast is not None
    run_rounds(fast, copy.deepcopy(fast), 1)
    twin = copier(fast)
    run_rounds(fast, twin, 3, seed=2)
    same_state(fast.learner, twin.learner)


def test_kernel_checkpoints_load_into_the_readable_learner_and_back() -> None:
    fast = kernel_for(cql())
    assert fast is not None
    readable = cql()
    run_rounds(fast, LearnerEngine(copy.deepcopy(readable)), 2)
    readable.load_state_dict(fast.learner.state_dict())
    same_state(fast.learner, readable)
    fresh = kernel_for(cql())
    assert fresh is not None
    fresh.learner.load_state_dict(readable.state_dict())
    slow = LearnerEngine(cql())
    slow.learner.load_state_dict(readable.state_dict())
    run_rounds(fresh, slow, 2, seed=3)
    same_state(fresh.learner, slow.learner)


def test_the_configured_cql_runs_the_kernel() -> None:
    run = nacre.build(RunConfig.from_dict({
        "env": {"id": "Pendulum-v1"}, "learner": {"name": "cql"},
        "network": {"name": "squashed_gaussian"}, "exploration": "squashed"}))
    assert isinstance(run.agent.engine, CQLKernel)
    run.env.close()


def test_cql_kernel_covers_exactly_what_it_is_written_for() -> None:
    assert isinstance(kernel_for(cql()), CQLKernel)
    assert kernel_for(cql(activation="tanh")) is None
    lagrange = CQLConfig(lagrange_threshold=10.0)
    assert kernel_for(cql(cfg=lagrange)) is None  # the Lagrange variant: readable update

    class MyCQL(CQL):
        pass

    learner = cql()
    assert kernel_for(MyCQL(learner.actor, learner.critic)) is None
    tanh_critic = TwinQCritic(FlattenEncoder((OBS,)), ACT, (8,), "tanh")
    assert kernel_for(CQL(learner.actor, tanh_critic)) is None
    no_trunk = SquashedGaussianActor(FlattenEncoder((OBS,)), ACT, ())
    assert kernel_for(CQL(no_trunk, learner.critic)) is None
    shared = SquashedGaussianActor(FlattenEncoder((OBS,)), ACT, (8,), state_dependent_std=False)
    assert kernel_for(CQL(shared, learner.critic)) is None  # SAC's kernel takes a log-σ head
