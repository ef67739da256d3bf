"""The registry of components by kind and name.

A component is a frozen config dataclass plus a factory ``(config, context) -> object``. YAML
names a component as ``{name: dqn, lr: 0.001, ...}``; ``build`` looks it up here. Third-party
components register the same way::

    @register("exploration", "my_explorer", MyConfig, "one line for `nacre components`")
    def _make(cfg: MyConfig, ctx: BuildContext) -> MyExplorer: ...
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nacre.errors import ConfigError

KINDS = ("learner", "network", "exploration", "buffer", "safety", "history", "action_repr")


@dataclass(frozen=True)
class Entry:
    kind: str
    name: str
    config: type[Any]
    factory: Callable[..., Any]
    summary: str


_REGISTRY: dict[tuple[str, str], Entry] = {}


def register(
    kind: str, name: str, config: type[Any], summary: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering ``factory`` as component ``name`` of ``kind``."""
    if kind not in KINDS:
        raise ConfigError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")

    def wrap(factory: Callable[..., Any]) -> Callable[..., Any]:
        _REGISTRY[(kind, name)] = Entry(kind, name, config, factory, summary)
        return factory

    return wrap


def lookup(kind: str, name: str) -> Entry:
    """The entry for ``name``; unknown names raise a ConfigError listing the valid ones."""
    entry = _REGISTRY.get((kind, name))
    if entry is None:
        names = names_of(kind)
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"{kind}.name: unknown {kind} {name!r}{hint}; registered: {', '.join(names)}"
        )
    return entry


def names_of(kind: str) -> list[str]:
    return sorted(name for (k, name) in _REGISTRY if k == kind)


def entries() -> list[Entry]:
    return sorted(_REGISTRY.values(), key=lambda e: (KINDS.index(e.kind), e.name))
