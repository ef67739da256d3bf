"""Built-in action representations."""

from __future__ import annotations

from nacre.actions import (
    BinaryActionRepresentation,
    IdentityActionRepresentation,
    OneHotActionRepresentation,
)
from nacre.config.context import NoParams
from nacre.config.registry import Entry

ENTRIES = [
    Entry("action_repr", "identity", NoParams, lambda cfg, ctx: IdentityActionRepresentation(),
          "actions as indices / given features (default)"),
    Entry("action_repr", "one_hot", NoParams, lambda cfg, ctx: OneHotActionRepresentation(),
          "actions as one-hot vectors e_a"),
    Entry("action_repr", "binary", NoParams, lambda cfg, ctx: BinaryActionRepresentation(),
          "actions as the bits of their index"),
]
