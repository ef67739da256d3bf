"""The built-in components: one registration module per kind, each ending with its ``ENTRIES``,
all added to the registry here (and nowhere else)."""

from __future__ import annotations

from nacre.config import (
    action_repr,
    buffers,
    exploration,
    history,
    learners,
    networks,
    offline,
    safety,
)
from nacre.config.registry import add

MODULES = (learners, offline, networks, exploration, buffers, safety, history, action_repr)


def register_builtins() -> None:
    """Add every built-in component to the registry (idempotent)."""
    for module in MODULES:
        add(*module.ENTRIES)


__all__ = ["MODULES", "register_builtins"]
