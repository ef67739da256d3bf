"""What component factories read while :func:`nacre.build` wires a run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import gymnasium as gym
import torch

from nacre.config.registry import lookup
from nacre.config.run import Component, RunConfig
from nacre.errors import ConfigError, InputError, NacreError
from nacre.spaces import (
    ActionFeatures,
    ActionSpace,
    DiscreteActionSpace,
    MultiDiscreteActionSpace,
)
from nacre.types import Safety

N = TypeVar("N")


@dataclass(frozen=True)
class NoParams:
    """The config of a component without parameters."""


@dataclass
class BuildContext:
    """The run being wired: its config, the environment's spaces, device and seed, and the
    learner's discount once the learner is built (``gamma``: what multi-step buffers use), and
    the safety module, built before the learner (``safety``: a risk measure a distributional
    learner bootstraps with).

    Learners and networks see the space of the history summarizer's summaries; buffers see the
    environment's (they store observations) and ``window``, how many past observations a
    sample must carry, ``marked`` whether windows mark their episode's steps
    (:class:`nacre.types.History`)."""

    config: RunConfig
    observation_space: gym.Space[Any]
    action_space: ActionSpace
    num_envs: int
    device: torch.device
    seed: int
    gamma: float | None = None
    window: int = 1
    marked: bool = False
    actions: ActionFeatures | None = None
    safety: Safety | None = None

    def make(self, kind: str, component: Component | None = None) -> Any:
        """Build the run's ``kind`` component (or ``component``, e.g. a nested one)."""
        comp = component if component is not None else getattr(self.config, kind)
        entry = lookup(kind, comp.name)
        try:
            return entry.factory(comp.params, self)
        except ValueError as exc:  # a component refusing its parameters: name the config slot
            if isinstance(exc, NacreError) and not isinstance(exc, InputError):
                raise
            raise ConfigError(f"{kind} {comp.name!r}: {exc}") from exc

    @staticmethod
    def parse(kind: str, data: Any, path: str) -> Component:
        """A nested component written in the config (``exploration.inner``, ``learner.base``)."""
        return Component.parse(kind, data, path)

    def discrete_actions(self, who: str) -> DiscreteActionSpace:
        if isinstance(self.action_space, MultiDiscreteActionSpace):
            raise ConfigError(
                f"{who} needs a Discrete action space; {self.config.env.id} has "
                f"{len(self.action_space.nvec)} choices made together (MultiDiscrete / "
                "MultiBinary): use learner ppo or reinforce (network actor_critic) or "
                "sac_discrete (network categorical_twin_q), whose heads are factored, or wrap "
                "the env in nacre.envs.DiscreteProduct (one Discrete action per combination; "
                "see docs/environments.md)"
            )
        if not isinstance(self.action_space, DiscreteActionSpace):
            raise ConfigError(
                f"{who} needs a discrete action space, but {self.config.env.id} has continuous "
                "actions"
            )
        return self.action_space

    def slot_actions(self, who: str, instead: str) -> DiscreteActionSpace:
        """:meth:`discrete_actions` for a component with one output or model per action,
        not where each step puts different catalogue items in the slots (it would learn
        slot positions, not items); ``instead`` says what scores the candidates."""
        space = self.discrete_actions(who)
        if space.catalogue is not None:
            raise ConfigError(f"{who} has one output or model per slot, blind to which catalogue "
                              f"item each step puts there: use {instead}, which score the "
                              "candidates' features")
        return space

    def network(self, kind: type[N], wanted: str) -> N:
        """Build the configured network; a :class:`ConfigError` naming ``wanted`` unless it is a
        ``kind``."""
        net = self.make("network")
        if not isinstance(net, kind):
            raise ConfigError(f"learner {self.config.learner.name!r} needs {wanted}, got network "
                              f"{self.config.network.name!r}")
        return net


__all__ = ["BuildContext", "NoParams"]
