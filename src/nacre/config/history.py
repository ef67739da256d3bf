"""Built-in history summarizers."""

from __future__ import annotations

from nacre.config.context import NoParams
from nacre.config.registry import Entry
from nacre.history import IdentityHistory

ENTRIES = [
    Entry("history", "identity", NoParams, lambda cfg, ctx: IdentityHistory(),
          "state = current observation (default)"),
]
