"""Strict YAML reading and writing for nacre's config files, on top of PyYAML's safe loader.

PyYAML does the parsing; this module narrows what a config may contain and makes every error
name the file and the 1-based line (``config.yaml line 7: ...``):

* no tags of any kind (``!``, ``!!str``, ``!!python/object``...): a config can never ask for an
  object to be built, and only dict, list, str, int, float, bool and None come out;
* no anchors or aliases (``&a``, ``*a``): alias expansion is the "billion laughs" memory bomb,
  and configs are short enough to be written out;
* no duplicate mapping keys: with PyYAML the last one silently wins, hiding a typo;
* plain scalars resolve YAML-1.2-core style, because YAML 1.1's rules trip users up: ``yes``,
  ``no``, ``on`` and ``off`` stay strings, ``1e5`` is a float, ``010`` is ten, and dates stay
  strings. ``null``/``~``/empty -> None, ``true``/``false`` (any capitalisation PyYAML knows) ->
  bool, ints (``1_000``, ``-3``, ``0x1F``, ``0o17``), floats (``2.3e-3``, ``.5``, ``.inf``,
  ``.nan``), everything else -> str.

:func:`dumps` writes block style (flow style for lists of scalars, keys in insertion order), and
quotes any string that either nacre or a YAML 1.1 reader would not read back as that string, so
``loads(dumps(x)) == x`` and ``yaml.safe_load(dumps(x)) == x``.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode

from nacre.errors import ConfigError

__all__ = ["YAMLError", "dump_file", "dumps", "load_file", "loads"]

_TAG = "tag:yaml.org,2002:"
_NULL, _BOOL, _INT, _FLOAT, _STR = (_TAG + t for t in ("null", "bool", "int", "float", "str"))
_SEQ, _MAP = _TAG + "seq", _TAG + "map"

_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_BOOLS = frozenset({"true", "True", "TRUE", "false", "False", "FALSE"})
_SPECIAL_FLOATS = {
    **{sign + word: float(sign + "inf") for sign in ("", "+", "-")
       for word in (".inf", ".Inf", ".INF")},
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
}
_INT_RE = re.compile(r"[-+]?(?:[0-9]+(?:_[0-9]+)*|0x[0-9a-fA-F]+|0o[0-7]+)")
_FLOAT_RE = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:_[0-9]+)*(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_LINE_BREAKS = frozenset("\n\r\x85\u2028\u2029")
_UNLIMITED_WIDTH = 1 << 30  # never fold long strings over several lines


class YAMLError(ConfigError):
    """A config file that nacre cannot (or refuses to) read."""

    def __init__(self, message: str, line: int | None = None, source: str = "<string>") -> None:
        super().__init__(message)
        self.message, self.line, self.source = message, line, source

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source} line {self.line}"
        return f"{where}: {self.message}"


def _plain_tag(text: str) -> str:
    """The tag of an unquoted scalar under nacre's YAML-1.2-core-style rules."""
    if text in _NULLS:
        return _NULL
    if text in _BOOLS:
        return _BOOL
    if _INT_RE.fullmatch(text):
        return _INT
    if text in _SPECIAL_FLOATS or _FLOAT_RE.fullmatch(text):
        return _FLOAT
    return _STR


class _Loader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML is untyped
    """The pure-Python safe loader (the C one composes nodes where these checks cannot reach)."""

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        # Every node starts with an event that carries its anchor and tag, so refusing them here
        # covers document roots, keys, values and items, before anything is built.
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise ComposerError(None, None, "aliases ('*name') are not allowed", event.start_mark)
        anchor, tag = getattr(event, "anchor", None), getattr(event, "tag", None)
        if anchor is not None:
            raise ComposerError(None, None, f"anchors ('&{anchor}') are not allowed",
                                event.start_mark)
        if tag is not None:
            raise ComposerError(None, None, f"tags ({tag!r}) are not allowed", event.start_mark)
        return super().compose_node(parent, index)  # type: ignore[no-any-return]

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            return _plain_tag(value) if implicit[0] else _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, MappingNode):
            raise ConstructorError(None, None, f"expected a mapping, found {node.id}",
                                   node.start_mark)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise ConstructorError(None, None, "mapping keys must be scalars",
                                       key_node.start_mark)
            key = self.construct_object(key_node, deep=deep)
            if key in mapping:
                raise ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_int(self, node: ScalarNode) -> int:
        text = node.value.replace("_", "")
        try:
            return int(text, 0) if "0x" in text or "0o" in text else int(text)
        except ValueError as exc:  # e.g. more digits than Python converts (a DoS guard)
            raise ConstructorError(None, None, str(exc), node.start_mark) from None

    def construct_float(self, node: ScalarNode) -> float:
        text = node.value
        if text in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[text]
        return float(text.replace("_", ""))

    def construct_undefined(self, node: Node) -> Any:
        # Unreachable while every tag is rejected; kept so nothing else can ever be built.
        raise ConstructorError(None, None, f"cannot build {node.tag!r}", node.start_mark)


# Only the constructors for the seven allowed types: timestamps, sets, binary, ... are gone.
_Loader.yaml_constructors = {
    _NULL: yaml.SafeLoader.construct_yaml_null,
    _BOOL: yaml.SafeLoader.construct_yaml_bool,
    _INT: _Loader.construct_int,
    _FLOAT: _Loader.construct_float,
    _STR: yaml.SafeLoader.construct_yaml_str,
    _SEQ: yaml.SafeLoader.construct_yaml_seq,
    _MAP: yaml.SafeLoader.construct_yaml_map,
    None: _Loader.construct_undefined,
}


def _line_of(exc: yaml.YAMLError, text: str) -> int | None:
    problem = getattr(exc, "problem_mark", None)
    context = getattr(exc, "context_mark", None)
    # An unclosed bracket or quote is only noticed at the end of the text; the line where it
    # was opened is the one to fix.
    if context is not None and (problem is None or problem.index >= len(text.rstrip())):
        return int(context.line) + 1
    if problem is not None:
        return int(problem.line) + 1
    position = getattr(exc, "position", None)  # reader errors carry a character offset
    return text.count("\n", 0, position) + 1 if isinstance(position, int) else None


def _message_of(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        parts = [exc.context, exc.problem]
        return ": ".join(p for p in parts if p) or type(exc).__name__
    return str(exc).split("\n")[0]  # the rest is PyYAML's own "in <unicode string>" location


def loads(text: str, source: str = "<string>") -> Any:
    """Parse one YAML document; a non-mapping top level is returned as is (callers check)."""
    loader = None
    try:
        loader = _Loader(text)  # the reader already refuses control characters here
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise YAMLError(_message_of(exc), _line_of(exc, text), source) from None
    except RecursionError:
        raise YAMLError("nesting is too deep", None, source) from None
    finally:
        if loader is not None:
            loader.dispose()


def load_file(path: str | os.PathLike[str]) -> Any:
    """Read and parse a YAML config file; errors name the file and the line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"config file not found: {os.fspath(path)}") from None
    except UnicodeDecodeError as exc:
        raise YAMLError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", None,
                        os.fspath(path)) from None
    return loads(text, source=os.fspath(path))


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        # The serializer asks which tag a plain scalar would get to decide whether to quote it.
        # A string goes unquoted only if nacre and YAML 1.1 readers both read it as a string.
        if kind is ScalarNode and implicit[0]:
            ours = _plain_tag(value)
            if ours == _STR and super().resolve(kind, value, implicit) != _STR:
                return _BOOL  # any non-str tag makes the serializer quote
            return ours
        return super().resolve(kind, value, implicit)  # type: ignore[no-any-return]

    def ignore_aliases(self, data: Any) -> bool:
        return True  # an object seen twice is written twice: nacre's reader refuses aliases

    def represent_dict(self, data: dict[Any, Any]) -> Node:
        for key in data:
            if not (key is None or isinstance(key, bool | int | float | str)):
                raise TypeError(f"YAML mapping keys must be scalars, got {key!r}")
        return super().represent_dict(data)  # type: ignore[no-any-return]

    def represent_str(self, data: str) -> Node:
        # Only double quotes escape line breaks; in other styles a raw break (also NEL, U+2028,
        # U+2029, which PyYAML writes as is) is folded and would read back as a space.
        style = '"' if any(c in _LINE_BREAKS for c in data) else None
        return self.represent_scalar(_STR, data, style=style)  # type: ignore[no-any-return]

    def represent_list(self, data: Any) -> Node:
        scalars = all(v is None or isinstance(v, bool | int | float | str) for v in data)
        return self.represent_sequence(_SEQ, data, flow_style=scalars and bool(data))

    def represent_undefined(self, data: Any) -> Node:
        # NumPy scalars and str subclasses are written as the plain value they stand for.
        if isinstance(data, numbers.Integral) and not isinstance(data, bool):
            return self.represent_int(int(data))  # type: ignore[no-any-return]
        if isinstance(data, numbers.Real):
            return self.represent_float(float(data))  # type: ignore[no-any-return]
        if isinstance(data, str):
            return self.represent_str(str.__str__(data))  # the text, not an enum's name
        raise TypeError(f"cannot write {type(data).__name__} to YAML: {data!r}")


# Only the seven config types (and tuples, written as lists): never a tagged !!set or object.
_REPRESENTERS: dict[Any, Callable[..., Node]] = {
    type(None): yaml.SafeDumper.represent_none,
    bool: yaml.SafeDumper.represent_bool,
    int: yaml.SafeDumper.represent_int,
    float: yaml.SafeDumper.represent_float,
    str: _Dumper.represent_str,
    list: _Dumper.represent_list,
    tuple: _Dumper.represent_list,
    dict: _Dumper.represent_dict,
    None: _Dumper.represent_undefined,
}
_Dumper.yaml_representers = _REPRESENTERS
_Dumper.yaml_multi_representers = {}


def dumps(obj: Any) -> str:
    """Serialise nested dicts/lists of scalars as block-style YAML that :func:`loads` reads."""
    try:
        text: str = yaml.dump(obj, Dumper=_Dumper, default_flow_style=False, sort_keys=False,
                              allow_unicode=True, width=_UNLIMITED_WIDTH)
    except RecursionError:
        raise TypeError("cannot write a recursive or too deeply nested structure") from None
    return text


def dump_file(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write ``obj`` to ``path`` as YAML (UTF-8)."""
    Path(path).write_text(dumps(obj), encoding="utf-8")
