"""Surviving environments that raise.

A simulator that crashes once in a million steps should not take a day of training with it. When
``env.step`` or ``env.reset`` of a Gymnasium environment raises, nacre's adapters end that
environment's episode as *truncated* (the agent bootstraps from the last observation it saw, as
at a time limit), close the broken instance, make a new one and reset it, and report the fault
in :attr:`ActionResult.faults <nacre.envs.base.ActionResult>`. Each fault is logged (logger
``nacre``, level WARNING) with its message, and the training loop counts them (``env/faults``
in the metrics and the summary). Only ``max_faults`` faults *in a row* (no
successful step between them) stop the run, with :class:`~nacre.errors.EnvFaultError` — after a
checkpoint, so it can be resumed once the environment is mended.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from nacre.errors import EnvFaultError

MakeEnv = Callable[[], gym.Env[Any, Any]]


class FaultPolicy:
    """How one adapter recovers: ``make`` builds a fresh environment; the ``max_faults``-th
    fault in a row raises :class:`EnvFaultError` (``max_faults=0``: faults are not caught)."""

    def __init__(self, make: MakeEnv, max_faults: int = 3) -> None:
        if max_faults < 0:
            raise ValueError(f"max_faults must be >= 0, got {max_faults}")
        self.make = make
        self.max_faults = max_faults
        self.in_a_row = 0

    def recover(self, broken: gym.Env[Any, Any], exc: Exception,
                where: str) -> tuple[gym.Env[Any, Any], Any, str]:
        """A new environment, its first observation, and the fault's message, after ``exc``
        was raised by ``where`` of ``broken``. A reset of the new environment that fails too
        counts as one more fault in a row."""
        while True:
            message = f"{where} raised {type(exc).__name__}: {exc}"
            self.in_a_row += 1
            if self.in_a_row >= self.max_faults:
                times = "once" if self.in_a_row == 1 else f"{self.in_a_row} times in a row"
                raise EnvFaultError(f"the environment failed {times} "
                                    f"(env.max_faults: {self.max_faults}); last: {message}"
                                    ) from exc
            with contextlib.suppress(Exception):  # a broken env may fail to close as well
                broken.close()
            broken = self.make()
            try:
                obs, _ = broken.reset()
            except Exception as again:  # any error of user code is a fault
                exc, where = again, "env.reset"
                continue
            logging.getLogger("nacre").warning("environment fault, environment made anew: %s",
                                               message)
            return broken, obs, message


__all__ = ["FaultPolicy", "MakeEnv"]
