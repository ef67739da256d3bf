"""Built-in safety modules."""

from __future__ import annotations

from nacre.config.context import NoParams
from nacre.config.registry import Entry
from nacre.safety import NoSafety

ENTRIES = [
    Entry("safety", "none", NoParams, lambda cfg, ctx: NoSafety(), "no restriction (default)"),
]
