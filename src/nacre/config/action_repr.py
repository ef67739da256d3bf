"""Built-in action representations."""

from __future__ import annotations

from dataclasses import dataclass

from nacre.actions import (
    BinaryActionRepresentation,
    EmbeddingActionRepresentation,
    IdentityActionRepresentation,
    OneHotActionRepresentation,
)
from nacre.config.context import BuildContext, NoParams
from nacre.config.registry import Entry, collect
from nacre.errors import ConfigError

ENTRIES: list[Entry] = []
component = collect(ENTRIES, "action_repr")


@component("identity", NoParams, "actions as indices / given features (default)")
def _identity(cfg: NoParams, ctx: BuildContext) -> IdentityActionRepresentation:
    return IdentityActionRepresentation()


@component("one_hot", NoParams, "actions as one-hot vectors e_a")
def _one_hot(cfg: NoParams, ctx: BuildContext) -> OneHotActionRepresentation:
    return OneHotActionRepresentation()


@component("binary", NoParams, "actions as the bits of their index")
def _binary(cfg: NoParams, ctx: BuildContext) -> BinaryActionRepresentation:
    return BinaryActionRepresentation()


@dataclass(frozen=True)
class EmbeddingConfig:
    """``rows``: ids the learned table holds (0: the action space's catalogue size, or its
    action count when it has no catalogue)."""

    rows: int = 0


@component("embedding", EmbeddingConfig,
           "actions as ids of an embedding learned end to end (network.head: two_tower)")
def _embedding(cfg: EmbeddingConfig, ctx: BuildContext) -> EmbeddingActionRepresentation:
    space = ctx.discrete_actions("action_repr 'embedding'")
    if cfg.rows < 0:
        raise ConfigError(f"action_repr.rows: must be >= 0, got {cfg.rows}")
    rows = cfg.rows or (space.n if space.catalogue is None else int(space.catalogue.shape[0]))
    return EmbeddingActionRepresentation(rows)
