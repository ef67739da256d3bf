"""Test helpers: conformance checks for components and tiny deterministic fake environments."""

from nacre.testing.conformance import check_exploration, check_learner, random_batch
from nacre.testing.fakes import ChainEnv, IdentityEnv, TargetEnv, register_fakes

__all__ = [
    "ChainEnv",
    "IdentityEnv",
    "TargetEnv",
    "check_exploration",
    "check_learner",
    "random_batch",
    "register_fakes",
]
