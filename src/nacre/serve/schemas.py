"""The HTTP API's request and response bodies, validated by pydantic at the boundary: finite
numbers only (NaN and ±inf are refused), no unknown fields, bounded sizes. Nothing in a request
is ever unpickled or evaluated: bodies are JSON, read into these models."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, model_validator

MAX_CONTEXTS = 1024  # contexts per /v1/decide request
MAX_CANDIDATES = 1024  # candidate actions per context
MAX_WIDTH = 65_536  # numbers per context or per candidate's features

EventId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$", description="an id /v1/decide gave")]
F32_MAX = 3.4028234663852886e38  # contexts become float32: a larger number would be inf
Number = Annotated[FiniteFloat, Field(ge=-F32_MAX, le=F32_MAX)]
Vector = Annotated[list[Number], Field(min_length=1, max_length=MAX_WIDTH)]


class DecideRequest(BaseModel):
    """One context (``context``) or a batch (``contexts``), each a flat list of the
    observation's numbers; ``candidates``: per context, the features of the actions it may
    take (a dynamic action set), for models that score action features."""

    model_config = ConfigDict(extra="forbid")

    context: Vector | None = None
    contexts: Annotated[list[Vector], Field(min_length=1, max_length=MAX_CONTEXTS)] | None = None
    candidates: Annotated[list[Annotated[list[Vector], Field(min_length=1,
                                                             max_length=MAX_CANDIDATES)]],
                          Field(max_length=MAX_CONTEXTS)] | None = None
    exploit: bool = Field(False, description="the greedy action (propensity 1) instead of an "
                          "exploring one")

    @model_validator(mode="after")
    def _one_form(self) -> DecideRequest:
        if (self.context is None) == (self.contexts is None):
            raise ValueError("give exactly one of `context` (one) or `contexts` (a batch)")
        if self.candidates is not None and len(self.candidates) != len(self.batch):
            raise ValueError(f"`candidates` needs one list per context ({len(self.batch)}), "
                             f"got {len(self.candidates)}")
        return self

    @property
    def batch(self) -> list[list[float]]:
        return [self.context] if self.context is not None else list(self.contexts or [])


class Decision(BaseModel):
    event_id: str
    action: int | list[float]
    propensity: float = Field(description="probability (density for continuous actions) of "
                              "the action under the policy that chose it")
    model_version: int


class DecideResponse(BaseModel):
    decisions: list[Decision]


class RewardRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: EventId
    reward: FiniteFloat
    cost: FiniteFloat | None = None


class RewardResponse(BaseModel):
    event_id: str
    status: str


class RewardBatch(BaseModel):
    """Many rewards in one request: how a reward joiner that reads an event stream sends
    them. Each is joined or refused on its own (see :class:`RewardBatchResponse`)."""

    model_config = ConfigDict(extra="forbid")

    rewards: Annotated[list[RewardRequest], Field(min_length=1, max_length=MAX_CONTEXTS)]


class RewardBatchResponse(BaseModel):
    """Per reward: ``joined``, ``unknown`` (no such decision) or ``duplicate`` (already
    rewarded); only the joined ones were written."""

    results: list[RewardResponse]


__all__ = ["MAX_CANDIDATES", "MAX_CONTEXTS", "DecideRequest", "DecideResponse", "Decision",
           "RewardBatch", "RewardBatchResponse", "RewardRequest", "RewardResponse"]
