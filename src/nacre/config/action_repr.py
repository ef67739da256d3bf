"""Built-in action representations."""

from __future__ import annotations

from nacre.actions import (
    BinaryActionRepresentation,
    IdentityActionRepresentation,
    OneHotActionRepresentation,
)
from nacre.config.context import BuildContext, NoParams
from nacre.config.registry import Entry, collect

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
