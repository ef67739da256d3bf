"""Built-in history summarizers."""

from __future__ import annotations

from nacre.config.context import BuildContext, NoParams
from nacre.config.registry import Entry, collect
from nacre.history import IdentityHistory

ENTRIES: list[Entry] = []
component = collect(ENTRIES, "history")


@component("identity", NoParams, "state = current observation (default)")
def _identity(cfg: NoParams, ctx: BuildContext) -> IdentityHistory:
    return IdentityHistory()
