"""The offline learners (BC, CQL, IQL, TD3+BC) pass the nacre.testing conformance checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nacre.learners.offline import (
    CQL,
    IQL,
    TD3BC,
    BCConfig,
    ContinuousBC,
    CQLConfig,
    DiscreteBC,
    DiscreteCQL,
    DiscreteCQLConfig,
    IQLConfig,
    TD3BCConfig,
)
from nacre.networks import (
    MLP,
    DeterministicActor,
    FlattenEncoder,
    QNetwork,
    SquashedGaussianActor,
    TwinQCritic,
    VanillaQHead,
)
from nacre.testing import check_learner

OBS_DIM, N_ACTIONS = 6, 3


def _q() -> QNetwork:
    torch.manual_seed(0)
    return QNetwork(FlattenEncoder((OBS_DIM,)), VanillaQHead(OBS_DIM, N_ACTIONS, (16,), "relu"))


def _critic() -> TwinQCritic:
    return TwinQCritic(FlattenEncoder((OBS_DIM,)), N_ACTIONS, (16, 16))


def test_discrete_bc_conforms() -> None:
    check_learner(DiscreteBC(_q(), BCConfig(lr=1e-2)), OBS_DIM, N_ACTIONS)


def test_continuous_bc_conforms() -> None:
    torch.manual_seed(0)
    actor = DeterministicActor(FlattenEncoder((OBS_DIM,)), N_ACTIONS, (16,))
    check_learner(ContinuousBC(actor, BCConfig(lr=1e-2)), OBS_DIM, N_ACTIONS, continuous=True,
                  deterministic=True)


def test_discrete_cql_conforms() -> None:
    check_learner(DiscreteCQL(_q(), DiscreteCQLConfig(lr=1e-2)), OBS_DIM, N_ACTIONS)


@pytest.mark.parametrize("threshold", [None, 10.0])
def test_cql_conforms(threshold: float | None) -> None:
    torch.manual_seed(0)
    actor = SquashedGaussianActor(FlattenEncoder((OBS_DIM,)), N_ACTIONS, (16, 16))
    learner = CQL(actor, _critic(), CQLConfig(lr=1e-2, actor_lr=1e-2,
                                              lagrange_threshold=threshold))
    check_learner(learner, OBS_DIM, N_ACTIONS, continuous=True, squashed=True)


def test_iql_conforms() -> None:
    torch.manual_seed(0)
    actor = SquashedGaussianActor(FlattenEncoder((OBS_DIM,)), N_ACTIONS, (16, 16))
    value = nn.Sequential(FlattenEncoder((OBS_DIM,)), MLP(OBS_DIM, (16,), 1))
    check_learner(IQL(actor, _critic(), value, IQLConfig(lr=1e-2)), OBS_DIM, N_ACTIONS,
                  continuous=True, squashed=True)


def test_td3_bc_conforms() -> None:
    torch.manual_seed(0)
    actor = DeterministicActor(FlattenEncoder((OBS_DIM,)), N_ACTIONS, (16, 16))
    check_learner(TD3BC(actor, _critic(), TD3BCConfig(lr=1e-2)), OBS_DIM, N_ACTIONS,
                  continuous=True, deterministic=True, updates_per_policy_change=2)
