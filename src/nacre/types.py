"""The slot protocols an :class:`~nacre.Agent` is composed of.

Each slot is a small ``typing.Protocol`` with a do-nothing default elsewhere in the package
(greedy exploration, no safety, identity history, identity action representation), following
Pearl's decomposition (Zhu et al. 2023, arXiv 2312.03814) with batched tensors throughout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.spaces import ActionSpace, AvailableActions

Metrics = dict[str, Tensor]


@runtime_checkable
class Learner(Protocol):
    """Owns networks and optimizers; never acts in an environment."""

    def scores(self, state: Tensor, action_features: Tensor | None) -> Tensor:
        """Action scores ``[B, K]`` (Q-values, logits …) for a batch of states."""
        ...

    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        """One update from one batch; returns detached metric tensors."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Every tensor needed to resume exactly (networks and optimizer state)."""
        ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


@runtime_checkable
class Exploration(Protocol):
    """Turns scores into actions and reports the probability of each chosen action."""

    def select(
        self, scores: Tensor, mask: Tensor | None, step: int, generator: Any
    ) -> tuple[Tensor, Tensor]:
        """Return ``(action [B] int64, propensity [B] float32)``; masked actions are never taken."""
        ...


@runtime_checkable
class Safety(Protocol):
    """Restricts which actions may be taken."""

    def filter(self, state: Tensor, scores: Tensor, mask: Tensor | None) -> Tensor | None:
        """Return the mask of allowed actions (None = all allowed)."""
        ...


@runtime_checkable
class History(Protocol):
    """Summarizes the observation history into the state a learner sees."""

    def summarize(self, obs: Tensor, last_action: Tensor | None) -> Tensor: ...

    def reset(self, done: Tensor) -> None:
        """Forget the history of environments whose episode ended (``done`` is ``[B]`` bool)."""
        ...


@runtime_checkable
class ActionRepresentation(Protocol):
    """Maps the available actions to the features a learner scores."""

    def represent(
        self, space: ActionSpace, available: AvailableActions | None
    ) -> Tensor | None: ...


@runtime_checkable
class Buffer(Protocol):
    """Stores transitions and samples batches of them."""

    needs_next_action: bool

    def add(
        self,
        obs: Any,
        action: Any,
        reward: Any,
        next_obs: Any,
        terminated: Any,
        truncated: Any,
        propensity: Any = None,
        valid: Any = None,
    ) -> None: ...

    def sample(self, batch_size: int) -> TransitionBatch: ...

    def __len__(self) -> int: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...
