"""The registry of components by kind and name.

A component is a frozen config dataclass plus a factory ``(config, context) -> object``. YAML
names a component as ``{name: dqn, lr: 0.001, ...}``; :func:`nacre.build` looks it up here. The
built-in components are listed in one module per kind (``nacre/config/learners.py``,
``networks.py`` …, each ending with its ``ENTRIES``), added by ``nacre/config/builtin.py``.
Third-party components register the same way::

    @register("exploration", "my_explorer", MyConfig, "one line for `nacre components`")
    def _make(cfg: MyConfig, ctx: BuildContext) -> MyExplorer: ...
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from nacre.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])

# The component slots of a run config, in the order they are written and listed.
KINDS = ("learner", "network", "exploration", "buffer", "safety", "history", "action_repr")


@dataclass(frozen=True)
class Entry:
    """One component: its ``kind`` (one of :data:`KINDS`), ``name``, config dataclass,
    factory ``(config, BuildContext) -> component`` and a one-line summary."""

    kind: str
    name: str
    config: type[Any]
    factory: Callable[..., Any]
    summary: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown component kind {self.kind!r}; kinds: {', '.join(KINDS)}")


_REGISTRY: dict[tuple[str, str], Entry] = {}


def add(*entries: Entry) -> None:
    """Add components to the registry (a later entry of the same kind and name replaces)."""
    for entry in entries:
        _REGISTRY[(entry.kind, entry.name)] = entry


def collect(entries: list[Entry], kind: str
            ) -> Callable[[str, type[Any], str], Callable[[F], F]]:
    """A decorator that appends each factory it decorates, as an :class:`Entry` of ``kind``, to
    ``entries`` (a module's ``ENTRIES``; nothing is registered until the list is added)::

        ENTRIES: list[Entry] = []
        component = collect(ENTRIES, "exploration")

        @component("greedy", NoParams, "always the best action")
        def _greedy(cfg: NoParams, ctx: BuildContext) -> Greedy: ...
    """
    def component(name: str, config: type[Any], summary: str) -> Callable[[F], F]:
        def wrap(factory: F) -> F:
            entries.append(Entry(kind, name, config, factory, summary))
            return factory
        return wrap
    return component


def register(
    kind: str, name: str, config: type[Any], summary: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering ``factory`` as component ``name`` of ``kind``."""
    if kind not in KINDS:
        raise ConfigError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")

    def wrap(factory: Callable[..., Any]) -> Callable[..., Any]:
        add(Entry(kind, name, config, factory, summary))
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
