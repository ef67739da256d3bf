"""Test helpers: conformance checks for components, tiny deterministic fake environments and
generated logs."""

from nacre.testing.batches import random_batch
from nacre.testing.conformance import check_learner
from nacre.testing.engines import EngineLearner
from nacre.testing.exploration_checks import check_exploration
from nacre.testing.fakes import ChainEnv, IdentityEnv, TargetEnv, register_fakes
from nacre.testing.logs import cartpole_controller_log

__all__ = [
    "ChainEnv",
    "EngineLearner",
    "IdentityEnv",
    "TargetEnv",
    "cartpole_controller_log",
    "check_exploration",
    "check_learner",
    "random_batch",
    "register_fakes",
]
