"""The offline kernels (nacre.accel.iql, nacre.accel.cql) against their learners' readable
updates: the same parameters, target critics, optimizer moments and metrics after >= 100
updates, up to float rounding (the tolerances of test_accel_parity.py); what they cover."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import torch
from test_accel_parity import counted_steps, same_metrics, same_state, twins
from torch import nn

import nacre
from nacre.accel import kernel_for
from nacre.accel.cql import CQLKernel
from nacre.accel.iql import IQLKernel
from nacre.config import RunConfig
from nacre.learners.engine import LearnerEngine
from nacre.learners.offline import CQL, IQL, CQLConfig, IQLConfig
from nacre.networks import (
    FlattenEncoder,
    OneHotEncoder,
    SharedLogStd,
    SquashedGaussianActor,
    TwinQCritic,
)
from nacre.networks.mlp import MLP
from nacre.testing import random_batch
from nacre.types import Engine

OBS, ACT = 5, 3


def iql(hidden: tuple[int, ...] = (24, 16), n_critics: int = 2, log_std_bias: float = 0.0,
        cfg: IQLConfig | None = None, activation: str = "relu",
        value: nn.Module | None = None, shared_std: bool = False) -> IQL:
    torch.manual_seed(0)
    actor = SquashedGaussianActor(FlattenEncoder((OBS,)), ACT, hidden, activation,
                                  state_dependent_std=not shared_std)
    with torch.no_grad():
        if isinstance(actor.log_std, SharedLogStd):  # one dimension below the floor, one
            actor.log_std.bias.copy_(torch.tensor([-30.0, 0.5, 3.0]))  # inside, one above 2
        else:  # log σ spread around the bias: rows past the clamps on either side
            actor.log_std.weight.mul_(8.0)
            actor.log_std.bias.fill_(log_std_bias)
    critic = TwinQCritic(FlattenEncoder((OBS,)), ACT, hidden, activation, n_critics=n_critics)
    if value is None:
        value = nn.Sequential(FlattenEncoder((OBS,)), MLP(OBS, hidden, 1, activation))
    return IQL(actor, critic, value, cfg or IQLConfig(lr=1e-3, gamma=0.95, tau=0.05))


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
@pytest.mark.parametrize(("log_std_bias", "min_log_std"), [(0.0, -5.0), (1.0, 0.0)])
@pytest.mark.parametrize("weights", ["paper", "clipped"])
def test_iql_kernel_matches_the_readable_update(hidden: tuple[int, ...], n_critics: int,
                                                log_std_bias: float, min_log_std: float,
                                                weights: str) -> None:
    beta, max_weight = (3.0, 100.0) if weights == "paper" else (20.0, 1.5)
    cfg = IQLConfig(lr=1e-3, gamma=0.95, tau=0.05, expectile=0.8, beta=beta,
                    max_weight=max_weight, min_log_std=min_log_std)
    learner = iql(hidden, n_critics, log_std_bias, cfg)
    start = copy.deepcopy(learner)
    fast, slow = twins(learner)
    assert isinstance(fast, IQLKernel)
    run_rounds(fast, slow, 26, per_row_discount=n_critics != 2)  # 104 updates
    same_state(fast.learner, slow.learner)
    for before, after in ((start.actor, learner.actor), (start.critic, learner.critic),
                          (start.value, learner.value)):  # training moved every network
        assert not any(torch.equal(p0, p) for p0, p in zip(
            before.parameters(), after.parameters(), strict=True))


@pytest.mark.parametrize(("hidden", "n_critics"), [((24, 16), 2), ((20,), 1)])
def test_iql_kernel_matches_the_readable_update_with_a_shared_log_std(
        hidden: tuple[int, ...], n_critics: int) -> None:
    # log σ: −30 (under the floor and the clamp: no gradient), 0.5 (learned), 3 (over the clamp)
    learner = iql(hidden, n_critics, shared_std=True)
    fast, slow = twins(learner)
    assert isinstance(fast, IQLKernel)
    run_rounds(fast, slow, 26)
    same_state(fast.learner, slow.learner)
    bias = learner.actor.log_std.bias
    assert bias[0] == -30.0 and bias[2] == 3.0 and bias[1] != 0.5


def test_iql_takes_a_shared_log_std_by_default() -> None:
    run = nacre.build(RunConfig.from_dict({
        "env": {"id": "Pendulum-v1"}, "learner": {"name": "iql"},
        "network": {"name": "squashed_gaussian"}, "exploration": "squashed"}))
    assert isinstance(run.agent.learner.actor.log_std, SharedLogStd)
    run.env.close()
    run = nacre.build(RunConfig.from_dict({
        "env": {"id": "Pendulum-v1"}, "learner": {"name": "iql"},
        "network": {"name": "squashed_gaussian", "state_dependent_std": True},
        "exploration": "squashed"}))
    assert isinstance(run.agent.learner.actor.log_std, nn.Linear)
    run.env.close()


@pytest.mark.parametrize("hidden", [(24, 16), (20,), (16, 16, 8)])
def test_the_clamps_of_log_std_are_exercised(hidden: tuple[int, ...]) -> None:
    """With bias 1 and floor 0 the parity cases above start with rows on both sides of log σ's
    clamps (where its gradient is 0) and rows inside."""
    actor = iql(hidden, log_std_bias=1.0).actor
    assert actor.trunk is not None
    with torch.no_grad():
        raw = actor.log_std(torch.relu(actor.trunk(torch.randn(256, OBS))))
    assert bool((raw < 0.0).any()) and bool((raw > 2.0).any())
    assert bool(((raw > 0.0) & (raw < 2.0)).any())


def cql(hidden: tuple[int, ...] = (24, 16), n_critics: int = 2, cfg: CQLConfig | None = None,
        activation: str = "relu") -> CQL:
    torch.manual_seed(0)
    actor = SquashedGaussianActor(FlattenEncoder((OBS,)), ACT, hidden, activation)
    assert isinstance(actor.log_std, nn.Linear)
    with torch.no_grad():  # log σ spread widely: rows past the clamps on either side
        actor.log_std.weight.mul_(8.0)
    critic = TwinQCritic(FlattenEncoder((OBS,)), ACT, hidden, activation, n_critics=n_critics)
    return CQL(actor, critic, cfg or CQLConfig(lr=1e-3, actor_lr=3e-4, gamma=0.95, tau=0.05,
                                               n_action_samples=4))


LEARNERS = [pytest.param(iql, id="iql"), pytest.param(cql, id="cql")]


@pytest.mark.parametrize("make", LEARNERS)
def test_float64_observations_take_the_kernel(make: Callable[[], Any]) -> None:
    fast, slow = twins(make())
    steps = counted_steps(fast)
    run_rounds(fast, slow, 2, dtype=torch.float64)
    assert len(steps) == 8
    same_state(fast.learner, slow.learner)


@pytest.mark.parametrize("make", LEARNERS)
@pytest.mark.parametrize("copier", [copy.deepcopy, lambda x: pickle.loads(pickle.dumps(x))])
def test_a_copied_kernel_continues_like_the_original(make: Callable[[], Any],
                                                      copier: Any) -> None:
    fast = kernel_for(make())
    assert fast is not None
    run_rounds(fast, copy.deepcopy(fast), 1)
    twin = copier(fast)
    run_rounds(fast, twin, 3, seed=2)
    same_state(fast.learner, twin.learner)
    critic = twin.learner.critic.critics[0].layers()[0][0]
    assert critic.data_ptr() != fast.learner.critic.critics[0].layers()[0][0].data_ptr()


@pytest.mark.parametrize("make", LEARNERS)
def test_kernel_checkpoints_load_into_the_readable_learner_and_back(
        make: Callable[[], Any]) -> None:
    fast = kernel_for(make())
    assert fast is not None
    readable = make()
    run_rounds(fast, LearnerEngine(copy.deepcopy(readable)), 2)
    readable.load_state_dict(fast.learner.state_dict())
    same_state(fast.learner, readable)
    fresh = kernel_for(make())
    assert fresh is not None
    fresh.learner.load_state_dict(readable.state_dict())
    slow = LearnerEngine(make())
    slow.learner.load_state_dict(readable.state_dict())
    run_rounds(fresh, slow, 2, seed=3)
    same_state(fresh.learner, slow.learner)


def test_the_configured_iql_runs_the_kernel() -> None:
    run = nacre.build(RunConfig.from_dict({
        "env": {"id": "Pendulum-v1"}, "learner": {"name": "iql"},
        "network": {"name": "squashed_gaussian"}, "exploration": "squashed"}))
    assert isinstance(run.agent.engine, IQLKernel)


def _frozen_value() -> nn.Module:
    torch.manual_seed(0)
    value = nn.Sequential(FlattenEncoder((OBS,)), MLP(OBS, (8,), 1))
    value[1].layers()[0][0].requires_grad_(False)
    return value


def test_iql_kernel_covers_exactly_the_networks_it_is_written_for() -> None:
    assert isinstance(kernel_for(iql()), IQLKernel)
    assert kernel_for(iql(activation="tanh")) is None

    class MyIQL(IQL):
        pass

    learner = iql()
    assert kernel_for(MyIQL(learner.actor, learner.critic, learner.value)) is None
    torch.manual_seed(0)
    others: list[nn.Module] = [
        nn.Sequential(FlattenEncoder((OBS,)), MLP(OBS, (8,), 1, "tanh")),  # tanh value
        MLP(OBS, (8,), 1),  # no encoder
        nn.Sequential(FlattenEncoder((OBS,)), MLP(OBS, (8,), 1), nn.Identity()),
        nn.Sequential(OneHotEncoder(OBS), MLP(OBS, (8,), 1)),  # not a flat input
        nn.Sequential(FlattenEncoder((OBS,)), MLP(OBS, (8,), 2)),  # two outputs
        _frozen_value(),
    ]
    for value in others:
        assert kernel_for(iql(value=value)) is None, value
    learner = iql()
    no_trunk = SquashedGaussianActor(FlattenEncoder((OBS,)), ACT, ())
    assert kernel_for(IQL(no_trunk, learner.critic, learner.value)) is None
    tanh_critic = TwinQCritic(FlattenEncoder((OBS,)), ACT, (8,), "tanh")
    assert kernel_for(IQL(learner.actor, tanh_critic, learner.value)) is None
    frozen_actor = iql()
    frozen_actor.actor.mean.weight.requires_grad_(False)
    assert kernel_for(IQL(frozen_actor.actor, learner.critic, learner.value)) is None


# ------------------------------------------------------------------------------------ CQL


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
