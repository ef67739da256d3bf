"""Built-in safety modules."""

from __future__ import annotations

from nacre.config.context import BuildContext, NoParams
from nacre.config.registry import Entry, collect
from nacre.safety import NoSafety

ENTRIES: list[Entry] = []
component = collect(ENTRIES, "safety")


@component("none", NoParams, "no restriction (default)")
def _none(cfg: NoParams, ctx: BuildContext) -> NoSafety:
    return NoSafety()
