"""The protocols of where the training loop's steps come from, beside :mod:`nacre.types` (the
agent's slots): the agent acting in its env, or collectors stepping their own envs for it
(:mod:`nacre.distributed`)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from nacre.data.batch import StepChunk
from nacre.envs.base import ActionResult


class StepSource(Protocol):
    """Where the training loop's steps come from (:func:`nacre.train.loop.run_loop`): the
    agent acting in its env, step by step (:class:`nacre.train.loop.InProcess`), or collectors
    stepping their own envs (:class:`nacre.distributed.CollectedSteps`). Each :meth:`step`
    leaves the learner's agent as :meth:`nacre.Agent.observe` would: the step stored in its
    buffer and counted in ``env_steps``."""

    def start(self, seed: int, restored: bool) -> None:
        """Start (or continue, ``restored``: the envs were restored mid-episode) the episodes;
        ``seed``: the run's."""
        ...

    def step(self) -> ActionResult:
        """One step of every environment, stored by the learner's agent."""
        ...


@runtime_checkable
class CollectorGroup(Protocol):
    """Collectors for one learner (:mod:`nacre.distributed`): each steps its own environments
    with an acting copy of the agent, in this process or as a Ray actor.

    Attributes:
        num_envs: environments over all collectors (``num_collectors × env.num_envs``).
    """

    num_envs: int

    def start(self, env_steps: int) -> None:
        """Reset every collector's envs (seeded from the run's seed and ``env_steps``, the
        learner's count so far)."""
        ...

    def collect(self, weights: dict[str, Any] | None, env_steps: int,
                steps: int) -> list[StepChunk]:
        """Load ``weights`` (the learner's ``state_dict``; None: keep the last ones), then
        take ``steps`` steps in each collector, the first counted as env step ``env_steps`` of
        the run (for exploration schedules); one chunk per collector, in order."""
        ...

    def close(self) -> None: ...


__all__ = ["CollectorGroup", "StepSource"]
