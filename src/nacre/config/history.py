"""Built-in history summarizers."""

from __future__ import annotations

from dataclasses import dataclass

from nacre.config.context import BuildContext, NoParams
from nacre.config.registry import Entry, collect
from nacre.history import IdentityHistory, StackingHistory

ENTRIES: list[Entry] = []
component = collect(ENTRIES, "history")


@component("identity", NoParams, "state = current observation (default)")
def _identity(cfg: NoParams, ctx: BuildContext) -> IdentityHistory:
    return IdentityHistory()


@dataclass(frozen=True)
class StackingConfig:
    """``k``: how many of the last observations the state holds."""

    k: int = 4


@component("stacking", StackingConfig,
           "state = the last k observations (windows cut from replay when sampled)")
def _stacking(cfg: StackingConfig, ctx: BuildContext) -> StackingHistory:
    return StackingHistory(cfg.k)
