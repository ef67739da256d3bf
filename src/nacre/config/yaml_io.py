"""A small, strict YAML reader and writer for nacre's config files.

nacre has its own reader rather than PyYAML so that (1) the core dependencies stay torch, numpy
and gymnasium; (2) every error names the file and 1-based line (``config.yaml line 7: ...``) and
anything outside the subset below is rejected loudly instead of half-understood; (3) it only
builds dicts, lists, str, int, float, bool and None -- a config can never construct objects.

Supported subset (anything else raises :class:`YAMLError`):

* block mappings ``key: value`` and sequences ``- item`` (also ``- key: v`` items with
  continuation lines, and sequences indented at the level of their parent key);
* single-line flow sequences ``[a, b, [c]]`` and flow mappings ``{a: 1, b: [2, 3]}``, nestable;
* ``#`` comments, full-line or trailing (a ``#`` inside quotes or glued to a word is text);
* single-line ``'...'`` (``''`` is a quote) and ``"..."`` strings (escapes ``\\" \\\\ \\/ \\n
  \\t \\r \\0 \\xXX \\uXXXX \\UXXXXXXXX``);
* plain scalars resolved YAML-1.2-core style: ``null``/``~``/empty -> None, ``true``/``false``
  (also ``True``/``TRUE``...) -> bool, ints (``1_000``, ``-3``, ``0x1F``, ``0o17``), floats
  (``2.3e-3``, ``1e5``, ``.5``, ``.inf``, ``-.inf``, ``.nan``), else str (so ``yes``/``on``
  stay strings, unlike YAML 1.1); an optional leading ``---``; an empty document is None.

Not supported: anchors/aliases (``&``/``*``), tags (``!!``), block scalars (``|``/``>``),
multi-line scalars or flow collections, complex keys (``?``), directives, multiple documents.
Duplicate keys, tab indentation and inconsistent indentation are errors. :func:`dumps` writes
block style (flow style for lists of scalars) with ``loads(dumps(x)) == x``.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nacre.errors import ConfigError

__all__ = ["YAMLError", "dump_file", "dumps", "load_file", "loads"]

_NOT_SUPPORTED = "not supported by nacre's YAML reader"


class YAMLError(ConfigError):
    """A config file that nacre's YAML reader cannot (or refuses to) read."""

    def __init__(self, message: str, line: int | None = None, source: str = "<string>") -> None:
        super().__init__(message)
        self.message, self.line, self.source = message, line, source

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source} line {self.line}"
        return f"{where}: {self.message}"


_CONSTANTS: dict[str, Any] = {
    **dict.fromkeys(["", "~", "null", "Null", "NULL"]),
    **dict.fromkeys(["true", "True", "TRUE"], True),
    **dict.fromkeys(["false", "False", "FALSE"], False),
    **dict.fromkeys([".nan", ".NaN", ".NAN"], math.nan),
    **{sign + word: float(sign + "inf") for sign in "+-" for word in (".inf", ".Inf", ".INF")},
    **dict.fromkeys([".inf", ".Inf", ".INF"], math.inf),
}
_INT = re.compile(r"[-+]?(?:[0-9]+(?:_[0-9]+)*|0x[0-9a-fA-F]+|0o[0-7]+)")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:_[0-9]+)*(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_QUOTED = {'"': re.compile(r'"((?:[^"\\]|\\.)*)"'), "'": re.compile(r"'((?:[^']|'')*)'")}
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "n": "\n", "t": "\t", "r": "\r", "0": "\0"}
_UNSUPPORTED = dict.fromkeys("&*", "anchors and aliases ('&', '*')") | {
    **dict.fromkeys("|>", "block scalars ('|', '>')"),
    **dict.fromkeys("@`", "the reserved indicators '@' and '`'"),
    "!": "tags ('!', '!!')",
    "%": "directives ('%YAML', '%TAG')",
}


def _resolve(text: str) -> Any:
    """Resolve a plain scalar YAML-1.2-core style (never raises)."""
    if text in _CONSTANTS:
        return _CONSTANTS[text]
    if _INT.fullmatch(text):
        return int(text, 0) if "0x" in text or "0o" in text else int(text)
    return float(text) if _FLOAT.fullmatch(text) else text


def _check_supported(text: str, num: int) -> None:
    if text[:1] in _UNSUPPORTED:
        raise YAMLError(f"{_UNSUPPORTED[text[0]]} are {_NOT_SUPPORTED}", num)
    if text == "?" or text.startswith("? "):
        raise YAMLError(f"complex keys ('? ') are {_NOT_SUPPORTED}", num)


def _plain(text: str, num: int) -> Any:
    """Validate and resolve a plain (unquoted) scalar."""
    if not text:
        return None
    _check_supported(text, num)
    if text == "-" or text.startswith("- "):
        raise YAMLError(f"a '- ' sequence item is not allowed here: {text!r}", num)
    if text[0] in ",]}":
        raise YAMLError(f"unexpected {text[0]!r}", num)
    if ": " in text or text.endswith(":"):
        raise YAMLError(f"mapping values are not allowed here; quote {text!r} if it is text", num)
    return _resolve(text)


def _quoted(text: str, i: int, num: int) -> tuple[str, int]:
    """Parse the quoted string starting at ``text[i]``; return it and the index after it."""
    m = _QUOTED[text[i]].match(text, i)
    if m is None:
        raise YAMLError(f"unclosed quoted string {text[i:]!r} (missing {text[i]})", num)
    if text[i] == "'":
        return m.group(1).replace("''", "'"), m.end()

    def unescape(esc: re.Match[str]) -> str:
        code = esc.group(1)
        if code in _ESCAPES:
            return _ESCAPES[code]
        if len(code) > 1 and int(code[1:], 16) <= 0x10FFFF:
            return chr(int(code[1:], 16))
        raise YAMLError(f"invalid escape sequence {esc.group()!r}", num)

    return _ESCAPE.sub(unescape, m.group(1)), m.end()


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t":
        i += 1
    return i


def _flow_item(text: str, i: int, num: int) -> tuple[Any, int]:
    if text[i] in "[{":
        return _flow(text, i, num)
    if text[i] in "'\"":
        return _quoted(text, i, num)
    j = i
    while j < len(text) and text[j] not in ",[]{}":
        if text[j] == ":" and text[j + 1 : j + 2] in ("", " ", ",", "]", "}"):
            break
        j += 1
    if not (token := text[i:j].rstrip()):
        raise YAMLError(f"unexpected {text[i]!r} in flow collection", num)
    return _plain(token, num), j


def _flow(text: str, i: int, num: int) -> tuple[Any, int]:
    """Parse the single-line flow collection opened at ``text[i]``."""
    opener, closer = text[i], "]" if text[i] == "[" else "}"
    items: list[Any] = []
    mapping: dict[Any, Any] = {}
    i += 1
    while True:
        i = _skip(text, i)
        if i >= len(text):
            raise YAMLError(f"unclosed {opener!r} (flow collections must fit on one line)", num)
        if text[i] == closer:
            return (items if opener == "[" else mapping), i + 1
        if opener == "[":
            value, i = _flow_item(text, i, num)
            items.append(value)
        else:
            if text[i] in "[{":
                raise YAMLError(f"collections as mapping keys are {_NOT_SUPPORTED}", num)
            key, i = _flow_item(text, i, num)
            value, i = None, _skip(text, i)
            if text[i : i + 1] == ":":
                i = _skip(text, i + 1)
                if i < len(text) and text[i] not in ",}":
                    value, i = _flow_item(text, i, num)
            if key in mapping:
                raise YAMLError(f"duplicate key {key!r}", num)
            mapping[key] = value
        i = _skip(text, i)
        if text[i : i + 1] == ",":
            i += 1
        elif i < len(text) and text[i] != closer:
            raise YAMLError(f"expected ',' or {closer!r} in flow collection, got {text[i]!r}", num)


def _inline(text: str, num: int) -> Any:
    """Parse a value written on one line: a flow collection, a quoted or a plain scalar."""
    if text[0] not in "[{'\"":
        return _plain(text, num)
    value, end = _flow(text, 0, num) if text[0] in "[{" else _quoted(text, 0, num)
    if rest := text[end:].strip():
        raise YAMLError(f"unexpected text {rest!r} after {text[:end]!r}", num)
    return value


@dataclass
class _Line:
    num: int  # 1-based line number
    indent: int
    text: str  # without indentation, comment and surrounding whitespace


_SCALAR_START = ("", "-", ":", "?", ",", "[", "{")  # last non-blank before a scalar


def _strip_comment(text: str, num: int) -> str:
    prev, i = "", 0
    while i < len(text):
        c = text[i]
        if c == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i]
        # A quote only opens a string where a scalar may start (not in "don't").
        if c in "'\"" and prev in _SCALAR_START and (i == 0 or text[i - 1] in " \t,[{"):
            i = _quoted(text, i, num)[1] - 1
        prev = c if c not in " \t" else prev
        i += 1
    return text


def _scan(text: str) -> list[_Line]:
    lines: list[_Line] = []
    marker = False
    for num, raw in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        body = raw.lstrip(" ")
        if not (content := _strip_comment(body, num).strip(" \t\r")):
            continue
        if body.startswith("\t"):
            raise YAMLError("tab characters cannot be used for indentation", num)
        indent = len(raw) - len(body)
        if indent == 0 and content.startswith("%"):
            raise YAMLError(f"directives ('%YAML', '%TAG') are {_NOT_SUPPORTED}", num)
        if indent == 0 and (content in ("---", "...") or content.startswith("--- ")):
            if content == "---" and not (marker or lines):
                marker = True
                continue
            what = {"---": "multiple documents are", "...": "the end marker '...' is"}
            raise YAMLError(f"{what.get(content, 'content after --- is')} {_NOT_SUPPORTED}", num)
        lines.append(_Line(num, indent, content))
    return lines


def _is_item(text: str) -> bool:
    return text == "-" or text.startswith("- ")


def _split_key(text: str, num: int) -> tuple[Any, str] | None:
    """Split ``key: rest`` into the resolved key and the rest; None if not a mapping entry."""
    if text[0] in "'\"":
        key, end = _quoted(text, 0, num)
        after = text[end:].lstrip(" \t")
        return (key, after[1:].strip()) if after == ":" or after[:2] in (": ", ":\t") else None
    if text[0] in "[{" or _is_item(text) or not (m := re.search(r":(?:[ \t]|$)", text)):
        return None
    if not (key_text := text[: m.start()].rstrip()):
        raise YAMLError("empty mapping key", num)
    return _plain(key_text, num), text[m.end() :].strip()


def _indent_error(expected: int, line: _Line) -> YAMLError:
    message = f"inconsistent indentation: expected {expected} spaces, got {line.indent}"
    return YAMLError(message, line.num)


class _Parser:
    def __init__(self, lines: list[_Line]) -> None:
        self.lines, self.pos = lines, 0

    def peek(self) -> _Line | None:
        return self.lines[self.pos] if self.pos < len(self.lines) else None

    def document(self) -> Any:
        if not self.lines:
            return None
        value = self.node(self.lines[0].indent)
        if (line := self.peek()) is not None:
            raise _indent_error(self.lines[0].indent, line)
        return value

    def node(self, indent: int) -> Any:
        """Parse the block node whose first line is the current one (at ``indent``)."""
        line = self.lines[self.pos]
        if _is_item(line.text):
            return self.sequence(indent, in_mapping=False)
        if _split_key(line.text, line.num) is not None:
            return self.mapping(indent)
        self.pos += 1
        value = _inline(line.text, line.num)
        if (nxt := self.peek()) is not None and nxt.indent >= indent:
            message = f"unexpected line after the value {line.text!r}"
            raise YAMLError(f"{message} (multi-line plain scalars are {_NOT_SUPPORTED})", nxt.num)
        return value

    def nested(self, indent: int, after_key: bool) -> Any:
        """The value of a ``key:`` or ``-`` that has nothing after it on its line."""
        nxt = self.peek()
        if nxt is not None and nxt.indent > indent:
            return self.node(nxt.indent)
        if after_key and nxt is not None and nxt.indent == indent and _is_item(nxt.text):
            return self.sequence(indent, in_mapping=True)
        return None

    def mapping(self, indent: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        while (line := self.peek()) is not None and line.indent >= indent:
            if line.indent > indent:
                raise _indent_error(indent, line)
            if (entry := _split_key(line.text, line.num)) is None:
                _check_supported(line.text, line.num)
                raise YAMLError(f"expected 'key: value', got {line.text!r}", line.num)
            key, rest = entry
            if key in result:
                raise YAMLError(f"duplicate key {key!r}", line.num)
            self.pos += 1
            result[key] = _inline(rest, line.num) if rest else self.nested(indent, True)
        return result

    def sequence(self, indent: int, in_mapping: bool) -> list[Any]:
        result: list[Any] = []
        while (line := self.peek()) is not None and line.indent >= indent:
            if line.indent > indent:
                raise _indent_error(indent, line)
            if not _is_item(line.text):
                if in_mapping:  # the sequence was the value of a key at this same indent
                    break
                raise YAMLError(f"expected '- item', got {line.text!r}", line.num)
            if not (rest := line.text[1:].lstrip(" ")):
                self.pos += 1
                result.append(self.nested(indent, False))
                continue
            # Re-read the item's content as a block node starting at its own column.
            column = indent + len(line.text) - len(rest)
            self.lines[self.pos] = _Line(line.num, column, rest)
            result.append(self.node(column))
        return result


def loads(text: str, source: str = "<string>") -> Any:
    """Parse a YAML document (nacre's subset, see the module docstring)."""
    try:
        return _Parser(_scan(text)).document()
    except YAMLError as exc:
        exc.source = source
        raise


def load_file(path: str | os.PathLike[str]) -> Any:
    """Read and parse a YAML config file; errors name the file and the line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"config file not found: {os.fspath(path)}") from None
    return loads(text, source=os.fspath(path))


_YAML11_WORDS = frozenset({"yes", "no", "on", "off"})  # quoted for YAML 1.1 readers
_ESCAPE_OUT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _string(s: str) -> str:
    if not (
        s == ""
        or s != s.strip()
        or not isinstance(_resolve(s), str)
        or s[0] in "-?:,[]{}#&*!|>'\"%@`"
        or any(c in ":#,[]{}" for c in s)
        or s.lower() in _YAML11_WORDS
        or not s.isprintable()
    ):
        return s
    out = (_ESCAPE_OUT.get(c) or (c if c.isprintable() else f"\\U{ord(c):08x}") for c in s)
    return '"' + "".join(out) + '"'


def _scalar(obj: Any) -> str | None:
    """The plain or quoted text of a scalar; None if ``obj`` is not a scalar."""
    if obj is None or isinstance(obj, bool):
        return {None: "null", True: "true", False: "false"}[obj]
    if isinstance(obj, numbers.Integral):
        return str(int(obj))
    if isinstance(obj, numbers.Real):
        f = float(obj)
        if math.isnan(f) or math.isinf(f):
            return ".nan" if math.isnan(f) else ".inf" if f > 0 else "-.inf"
        text = repr(f)
        return text if "." in text else text.replace("e", ".0e")  # 1e+16 -> 1.0e+16
    return _string(obj) if isinstance(obj, str) else None


def _one_line(obj: Any) -> str | None:
    """The one-line form of a scalar, an empty dict or a list of scalars; else None."""
    if isinstance(obj, (list, tuple)):
        items = [text for text in map(_scalar, obj) if text is not None]
        return "[" + ", ".join(items) + "]" if len(items) == len(obj) else None
    return "{}" if isinstance(obj, dict) and not obj else _scalar(obj)


def _block(obj: Any) -> list[str]:
    lines: list[str] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if (key_text := _scalar(key)) is None:
                raise TypeError(f"YAML mapping keys must be scalars, got {key!r}")
            if (text := _one_line(value)) is not None:
                lines.append(f"{key_text}: {text}")
            else:
                lines += [f"{key_text}:", *("  " + line for line in _block(value))]
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            if (text := _one_line(item)) is not None:
                lines.append(f"- {text}")
            else:
                first, *more = _block(item)
                lines += ["- " + first, *("  " + line for line in more)]
    else:
        raise TypeError(f"cannot write {type(obj).__name__} to YAML: {obj!r}")
    return lines


def dumps(obj: Any) -> str:
    """Serialise nested dicts/lists of scalars as block-style YAML that :func:`loads` reads."""
    text = _one_line(obj)
    return ("\n".join(_block(obj)) if text is None else text) + "\n"


def dump_file(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write ``obj`` to ``path`` as YAML (UTF-8)."""
    Path(path).write_text(dumps(obj), encoding="utf-8")
