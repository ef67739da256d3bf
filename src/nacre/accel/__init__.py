"""Acceleration: faster engines for learners, built from their public networks and optimizers.

Every learner has one readable update (its ``learn_batch`` / ``learn_rollout``, written with
autograd and :mod:`nacre.losses`). This package holds the hand-derived versions of some of them
— the same loss, its gradient written out, parameters in flat buffers, one optimizer kernel —
which run when the run's ``train.accelerate`` is ``auto`` (the default) and a kernel covers the
learner and its networks. Learners never import this package; each kernel has a parity test
against the readable update (tests/unit/test_accel_parity.py and test_accel_*_parity.py).
``train.accelerate: off`` runs the readable update everywhere.

Adding a kernel: write a module with ``covers(learner) -> bool`` and a class that subclasses
:class:`~nacre.learners.engine.LearnerEngine`, overriding what it computes faster
(``scores``, ``learn_batches`` or ``learn_rollout``) and reading only the learner's public
attributes (networks, optimizers, config, generators); add it to :data:`KERNELS`, and add it to
the parity test with the networks it covers (see docs/design/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from nacre.accel import cql, dqn, iql, ppo, qr_dqn, sac, td3
from nacre.accel.process import apply as apply_process_settings
from nacre.types import Engine, Learner

Accelerate = Literal["auto", "off"]

# (covers(learner), build(learner)) in the order they are tried
KERNELS: list[tuple[Callable[[Any], bool], Callable[[Any], Engine]]] = [
    (dqn.covers, dqn.DQNKernel),
    (qr_dqn.covers, qr_dqn.QRDQNKernel),
    (ppo.covers, ppo.PPOKernel),
    (td3.covers, td3.TD3Kernel),
    (sac.covers, sac.SACKernel),
    (iql.covers, iql.IQLKernel),
    (cql.covers, cql.CQLKernel),
]


def kernel_for(learner: Learner) -> Engine | None:
    """The accelerated engine of ``learner``, or None when no kernel covers it (its networks
    are not ones a kernel is written for): the readable update then runs."""
    for covers, build in KERNELS:
        if covers(learner):
            return build(learner)
    return None


def accelerate(learner: Learner, mode: Accelerate = "auto") -> Engine | None:
    """:func:`kernel_for` with ``mode`` ``auto``; None with ``off``."""
    if mode not in ("auto", "off"):
        raise ValueError(f"accelerate must be 'auto' or 'off', got {mode!r}")
    return kernel_for(learner) if mode == "auto" else None


__all__ = ["KERNELS", "Accelerate", "accelerate", "apply_process_settings", "kernel_for"]
