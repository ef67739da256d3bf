"""The schema of :meth:`nacre.Agent.state_dict`, checked before a checkpoint is loaded into an
agent (the learner's and buffer's own states are checked by their ``load_state_dict`` and
against the shapes of a fresh build)."""

from __future__ import annotations

from typing import Any, NotRequired

import pydantic
from torch import Tensor
from typing_extensions import TypedDict


@pydantic.with_config(pydantic.ConfigDict(strict=True, extra="forbid",
                                          arbitrary_types_allowed=True))
class AgentState(TypedDict):
    """What :meth:`nacre.Agent.state_dict` holds (a field of the wrong type raises pydantic's
    ``ValidationError``)."""

    learner: dict[str, Any]
    generator: Tensor
    env_steps: int
    grad_steps: int
    buffer: NotRequired[dict[str, Any]]
    obs: NotRequired[Tensor]
    action: NotRequired[Tensor]
    propensity: NotRequired[Tensor]
    mask: NotRequired[Tensor]
    features: NotRequired[Tensor]
    items: NotRequired[Tensor]
    history: NotRequired[Tensor]
    exploration: NotRequired[dict[str, Tensor]]
    safety: NotRequired[dict[str, Any]]


AGENT_STATE = pydantic.TypeAdapter(AgentState)


__all__ = ["AGENT_STATE", "AgentState"]
