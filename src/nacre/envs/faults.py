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
                where: str) -> tuple[gym.Env[Any, Any], Any, dict[str, Any], str]:
        """A new environment, its first observation and reset info (which may say what is
        available there, :mod:`nacre.envs.dynamic`), and the fault's message, after ``exc``
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
                obs, info = broken.reset()
            except Exception as again:  # any error of user code is a fault
                exc, where = again, "env.reset"
                continue
            logging.getLogger("nacre").warning("environment fault, environment made anew: %s",
                                               message)
            return broken, obs, info, message


# The info keys under which FaultTolerant reports a fault, and the fault that ends the run
# (Gymnasium's vector envs gather them per copy, with the masks "_nacre_fault" …).
FAULT_INFO = "nacre_fault"
FATAL_INFO = "nacre_fault_fatal"


class FaultTolerant(gym.Wrapper[Any, Any, Any, Any]):
    """:class:`FaultPolicy` around one environment, the one place faults are handled (nacre's
    adapters wrap every env they make in it; Gymnasium's subprocess vector env, in its
    workers): a step that raises returns the last observation, reward 0 and
    ``truncated=True`` with ``info["nacre_fault"]`` holding the message; the environment behind
    the wrapper is made anew (its first observation is what the next reset returns). The
    ``max_faults``-th fault in a row is reported as ``info["nacre_fault_fatal"]`` instead, for
    the adapter to raise :class:`EnvFaultError` (raised in a worker, Gymnasium would print its
    traceback and shut the worker down); the env then stays as it is."""

    def __init__(self, env: gym.Env[Any, Any], make: MakeEnv, max_faults: int) -> None:
        super().__init__(env)
        self.policy = FaultPolicy(make, max_faults)
        self._last_obs: Any = None
        self._fresh: Any = None  # a new env's first observation, for the automatic reset
        self._fresh_info: dict[str, Any] = {}  # and its reset info
        self._fatal = False

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if self._fatal:
            return self._last_obs, {}
        if self._fresh is not None:  # made anew after a fault: already reset
            self._last_obs, self._fresh = self._fresh, None
            info, self._fresh_info = self._fresh_info, {}
            return self._last_obs, info
        try:
            obs, info = self.env.reset(seed=seed, options=options)
        except Exception as exc:
            try:
                self.env, obs, fresh, message = self.policy.recover(self.env, exc, "env.reset")
            except EnvFaultError as fatal:
                if self._last_obs is None:  # nothing to report it with: the first reset
                    raise
                self._fatal = True
                return self._last_obs, {FATAL_INFO: str(fatal)}
            info = {**fresh, FAULT_INFO: message}
        self._last_obs = obs
        return obs, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        try:
            obs, reward, terminated, truncated, info = self.env.step(action)
        except Exception as exc:
            try:
                self.env, self._fresh, self._fresh_info, message = self.policy.recover(
                    self.env, exc, "env.step")
            except EnvFaultError as fatal:
                self._fatal = True
                return self._last_obs, 0.0, False, True, {FATAL_INFO: str(fatal)}
            return self._last_obs, 0.0, False, True, {FAULT_INFO: message}
        self.policy.in_a_row = 0
        self._last_obs = obs
        return obs, reward, terminated, truncated, info


def fault_messages(info: dict[str, Any]) -> list[str]:
    """The fault a :class:`FaultTolerant` step reported in ``info`` (none or one message);
    :class:`EnvFaultError` if it gave up."""
    if FATAL_INFO in info:
        raise EnvFaultError(info[FATAL_INFO])
    return [info[FAULT_INFO]] if FAULT_INFO in info else []


__all__ = ["FATAL_INFO", "FAULT_INFO", "FaultPolicy", "FaultTolerant", "MakeEnv",
           "fault_messages"]
