"""Test helpers: conformance checks for components and tiny deterministic fake environments."""

from nacre.testing.batches import random_batch
from nacre.testing.conformance import check_learner
from nacre.testing.engines import EngineLearner
from nacre.testing.exploration_checks import check_exploration
from nacre.testing.fakes import ChainEnv, IdentityEnv, TargetEnv, register_fakes

__all__ = [
    "ChainEnv",
    "EngineLearner",
    "IdentityEnv",
    "TargetEnv",
    "check_exploration",
    "check_learner",
    "random_batch",
    "register_fakes",
]
