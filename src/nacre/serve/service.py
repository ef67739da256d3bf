"""The decision service's core, without HTTP: decide with the production model (and score the
same contexts with the shadow candidate), turn decisions into log rows, and follow the
registry's production and candidate versions.

A decision is: the context as the client sent it (raw; the model applies its own observation
processing, e.g. the run's normalization), the action, its propensity under the exploring
policy that chose it, the model version, and the candidate's action and propensity when one is
in shadow. The production model's choice is always the one served.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from nacre.agent import Agent
from nacre.errors import ConfigError, InputError
from nacre.serve.log import DecisionLog
from nacre.serve.registry import ModelRegistry
from nacre.spaces import AvailableActions, BoxActionSpace, DiscreteActionSpace


@dataclass
class Model:
    """A registry version loaded for acting."""

    version: int
    agent: Agent

    @classmethod
    def load(cls, registry: ModelRegistry, version: int, seed: int) -> Model:
        agent = registry.load(version)
        if agent.action_space is None or agent.observation_shape is None:
            raise ConfigError(f"version {version} has no action space / observation shape")
        agent.generator.manual_seed(seed + version)  # exploration draws differ per version
        return cls(version, agent)


def layout_of(agent: Agent) -> dict[str, Any]:
    """What the log's arrays are for models like ``agent`` (see :class:`DecisionLog`)."""
    space = agent.action_space
    shape = agent.observation_shape
    if shape is None:
        raise ConfigError("the model does not know its observation shape")
    if isinstance(space, DiscreteActionSpace):
        return {"observation_shape": list(shape), "action": "discrete", "n_actions": space.n}
    if isinstance(space, BoxActionSpace):
        return {"observation_shape": list(shape), "action": "box",
                "action_shape": list(space.shape)}
    raise ConfigError(f"the decision service serves discrete or Box actions, not "
                      f"{type(space).__name__}")


class DecisionService:
    """Decides for batches of contexts and follows the registry (see the module docstring).

    Args:
        registry: the model registry; its production version serves, its candidate shadows.
        log: where decisions and rewards go (its writer is started here).
        seed: seeds each model's exploration (``seed + version``).
    """

    def __init__(self, registry: ModelRegistry, log: DecisionLog, *, seed: int = 0) -> None:
        self.registry = registry
        self.log = log
        self.seed = seed
        self._seen = -1
        self._production: Model | None = None
        self.shadow: Model | None = None
        self.layout: dict[str, Any] = {}
        self.refresh()
        self.layout = layout_of(self.production.agent)
        self._size = int(np.prod(self.layout["observation_shape"]))
        log.start()

    def refresh(self) -> bool:
        """Load the registry's production / candidate versions if they changed; True if so."""
        stamp = self.registry.state_mtime()
        if stamp == self._seen:
            return False
        state = self.registry.state()
        production, candidate = state["production"], state["candidate"]
        if production is None:
            raise ConfigError(f"{self.registry.path} has no production version")
        if self._production is None or self._production.version != production:
            loaded = Model.load(self.registry, production, self.seed)
            self._check(loaded)
            self._production = loaded
        if candidate is None:
            self.shadow = None
        elif self.shadow is None or self.shadow.version != candidate:
            loaded = Model.load(self.registry, candidate, self.seed)
            self._check(loaded)
            self.shadow = loaded
        self._seen = stamp
        return True

    @property
    def production(self) -> Model:
        assert self._production is not None  # loaded by __init__
        return self._production

    def _check(self, model: Model) -> None:
        if self.layout and layout_of(model.agent) != self.layout:
            raise ConfigError(f"version {model.version} acts on other observations or actions "
                              f"than the log holds ({self.layout})")

    def decide(self, contexts: list[list[float]], candidates: list[list[list[float]]] | None,
               exploit: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``(log rows, response decisions)`` for a batch of contexts."""
        obs = np.asarray(contexts, np.float32)
        if obs.ndim != 2 or obs.shape[1] != self._size:
            raise InputError("contexts", f"each context must hold {self._size} numbers (the "
                             f"observation {self.layout['observation_shape']}, flattened)")
        obs = obs.reshape((len(obs), *self.layout["observation_shape"]))
        available, blobs = self._candidates(candidates, len(obs))
        action, propensity = _decide(self.production, obs, available, exploit)
        shadow = (None if self.shadow is None
                  else _decide(self.shadow, obs, available, exploit))
        now = time.time()
        rows, out = [], []
        for i in range(len(obs)):
            event_id = uuid.uuid4().hex
            row: dict[str, Any] = {
                "event_id": event_id, "time": now, "model_version": self.production.version,
                "context": obs[i].tobytes(), "propensity": float(propensity[i]),
                "candidates": None if blobs is None else blobs[i][0],
                "num_candidates": None if blobs is None else blobs[i][1],
                **_action_columns("", action[i]),
                **_action_columns("shadow_", None if shadow is None else shadow[0][i]),
                "shadow_version": None if shadow is None else self.shadow_version,
                "shadow_propensity": None if shadow is None else float(shadow[1][i])}
            rows.append(row)
            out.append({"event_id": event_id, "action": _plain(action[i]),
                        "propensity": row["propensity"], "model_version": row["model_version"]})
        return rows, out

    @property
    def shadow_version(self) -> int | None:
        return None if self.shadow is None else self.shadow.version

    def _candidates(self, candidates: list[list[list[float]]] | None, batch: int
                    ) -> tuple[AvailableActions | None, list[tuple[bytes, int]] | None]:
        """Candidate feature lists → a padded ``[B, n, d_a]`` set with its mask."""
        if candidates is None:
            return None, None
        space = self.production.agent.action_space
        if not isinstance(space, DiscreteActionSpace) or space.action_dim is None:
            raise InputError("candidates", "this model chooses among fixed actions: it takes "
                             "no candidate features")
        d, n = space.action_dim, space.n
        features = np.zeros((batch, n, d), np.float32)
        mask = np.zeros((batch, n), bool)
        blobs = []
        for i, cands in enumerate(candidates):
            arr = np.asarray(cands, np.float32)
            if arr.ndim != 2 or arr.shape[1] != d or len(arr) > n:
                raise InputError("candidates", f"context {i}: expected at most {n} candidates "
                                 f"of {d} features each")
            features[i, :len(arr)] = arr
            mask[i, :len(arr)] = True
            blobs.append((arr.tobytes(), len(arr)))
        return AvailableActions(torch.from_numpy(mask), torch.from_numpy(features)), blobs


def _decide(model: Model, obs: np.ndarray, available: AvailableActions | None,
            exploit: bool) -> tuple[np.ndarray, np.ndarray]:
    agent = model.agent
    batch, _ = agent.observations(obs)
    action, propensity = agent.decide(batch, available, exploit=exploit)
    return action.numpy(force=True), propensity.numpy(force=True)


def _action_columns(prefix: str, action: np.ndarray | None) -> dict[str, Any]:
    if action is None or action.ndim == 0:
        return {f"{prefix}action": None if action is None else int(action),
                f"{prefix}action_values": None}
    return {f"{prefix}action": None,
            f"{prefix}action_values": np.asarray(action, np.float32).tobytes()}


def _plain(action: np.ndarray) -> int | list[float]:
    return int(action) if action.ndim == 0 else [float(x) for x in action]


__all__ = ["DecisionService", "Model", "layout_of"]
