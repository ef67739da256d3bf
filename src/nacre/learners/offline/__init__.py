"""Offline learners: behaviour cloning, CQL, IQL and TD3+BC. Each learns from sampled batches
like any replay learner, so the same learner fine-tunes online from its offline checkpoint."""

from nacre.learners.offline.bc import BCConfig, ContinuousBC, DiscreteBC
from nacre.learners.offline.cql import CQL, CQLConfig, DiscreteCQL, DiscreteCQLConfig
from nacre.learners.offline.iql import IQL, IQLConfig
from nacre.learners.offline.td3bc import TD3BC, TD3BCConfig

__all__ = [
    "BCConfig", "CQL", "CQLConfig", "ContinuousBC", "DiscreteBC", "DiscreteCQL",
    "DiscreteCQLConfig", "IQL", "IQLConfig", "TD3BC", "TD3BCConfig",
]
