"""Tests for nacre's strict YAML layer over PyYAML (``nacre.config.yaml_io``)."""

from __future__ import annotations

import math
import random
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from nacre.config import yaml_io
from nacre.config.yaml_io import YAMLError, dump_file, dumps, load_file, loads
from nacre.errors import ConfigError

# ------------------------------------------------------------------------------ scalars


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("null", None), ("Null", None), ("NULL", None), ("~", None),
        ("true", True), ("True", True), ("TRUE", True),
        ("false", False), ("False", False), ("FALSE", False),
        ("0", 0), ("42", 42), ("-7", -7), ("+7", 7), ("1_000", 1000), ("1_000_000", 1_000_000),
        ("0x1F", 31), ("0o17", 15), ("010", 10),
        ("2.3e-3", 2.3e-3), ("1e5", 1e5), ("1E5", 1e5), ("1.5e+10", 1.5e10), (".5", 0.5),
        ("-.5", -0.5), ("-0.04", -0.04), ("3.", 3.0),
        (".inf", math.inf), (".Inf", math.inf), ("+.inf", math.inf), ("-.inf", -math.inf),
        ("-.INF", -math.inf),
        # YAML 1.1 would turn these into booleans, octal, sexagesimal ints or dates
        ("yes", "yes"), ("no", "no"), ("on", "on"), ("Off", "Off"), ("y", "y"),
        ("0b11", "0b11"), ("1:30", "1:30"), ("2001-12-14", "2001-12-14"), ("<<", "<<"),
        ("hello world", "hello world"), ("1_", "1_"), ("1.2.3", "1.2.3"), ("1e", "1e"),
        ("inf", "inf"), ("v1", "v1"), ("CartPole-v1", "CartPole-v1"), ("don't", "don't"),
        ("a#b", "a#b"), ("http://x.org/a#b", "http://x.org/a#b"), ("/tmp/x:y", "/tmp/x:y"),
        ("-x", "-x"),
    ],
)  # fmt: skip
def test_plain_scalar_resolution(text: str, expected: Any) -> None:
    value = loads(f"key: {text}\n")["key"]
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize("text", [".nan", ".NaN", ".NAN"])
def test_nan(text: str) -> None:
    assert math.isnan(loads(f"x: {text}")["x"])


def test_quoted_scalars_are_always_strings() -> None:
    doc = loads("a: '1'\nb: \"true\"\nc: ''\nd: 'it''s'\ne: \"tab\\tnl\\n\\u00e9\"\nf: '1e5'\n")
    assert doc == {"a": "1", "b": "true", "c": "", "d": "it's", "e": "tab\tnl\né", "f": "1e5"}


def test_empty_values_and_documents() -> None:
    assert loads("a:\nb: 1\n") == {"a": None, "b": 1}
    assert loads("") is None
    assert loads("\n   \n# just a comment\n") is None
    assert loads("---\n") is None


def test_top_level_non_mappings_are_returned_as_is() -> None:
    assert loads("hello") == "hello"
    assert loads("42\n") == 42
    assert loads("- 1\n- two\n") == [1, "two"]


def test_block_flow_and_block_scalars() -> None:
    text = (
        "# header\n"
        "agent:\n  name: dqn  # trailing comment\n  net: {layers: [64, 64], act: relu}\n"
        "envs:\n- id: CartPole-v1\n  n: 8\n- id: Pendulum-v1\n"
        "notes: |\n  line one\n  line two\n"
        "folded: >\n  one\n  two\n"
    )
    assert loads(text) == {
        "agent": {"name": "dqn", "net": {"layers": [64, 64], "act": "relu"}},
        "envs": [{"id": "CartPole-v1", "n": 8}, {"id": "Pendulum-v1"}],
        "notes": "line one\nline two\n",
        "folded": "one two\n",
    }


def test_only_plain_python_types_come_out() -> None:
    doc = loads("a: [1, 2.5, x, null, true, {b: 2001-12-14}]\nc: {d: 0x10}\n'e': yes\n")

    def types(node: Any) -> set[type]:
        if isinstance(node, dict):
            return {dict}.union(*(types(k) | types(v) for k, v in node.items()))
        if isinstance(node, list):
            return {list}.union(*(types(v) for v in node))
        return {type(node)}

    assert types(doc) <= {dict, list, str, int, float, bool, type(None)}


def test_loader_is_pyyaml_safe_loader() -> None:
    assert issubclass(yaml_io._Loader, yaml.SafeLoader)
    assert not issubclass(yaml_io._Dumper, yaml.Dumper)  # the unsafe dumper is never used
    assert issubclass(yaml_io._Dumper, yaml.SafeDumper)


# ----------------------------------------------------------------------------- refusals


def _error(text: str, source: str = "cfg.yaml") -> YAMLError:
    with pytest.raises(YAMLError) as info:
        loads(text, source)
    err = info.value
    assert type(err) is YAMLError and isinstance(err, ConfigError)
    assert err.__cause__ is None and err.__suppress_context__  # no raw PyYAML error leaks
    return err


def _assert_names(err: YAMLError, line: int, fragment: str, source: str = "cfg.yaml") -> None:
    assert (err.source, err.line) == (source, line), str(err)
    assert fragment in err.message, str(err)
    assert str(err) == f"{source} line {line}: {err.message}"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: !!python/object:os.system x\n", 1),
        ("a: 1\nb: !!python/object/apply:os.system ['echo hi']\n", 2),
        ("a: !!python/name:os.system\n", 1),
        ("a: !!str 1\n", 1),
        ("a: !!float 1\n", 1),
        ("a: !custom x\n", 1),
        ("a: ! x\n", 1),
        ("a:\n  - 1\n  - [!!str 1]\n", 3),
        ("!!str key: 1\n", 1),
        ("!!map {a: 1}\n", 1),
        ("a: !!set {x}\n", 1),
        ("a: !!binary aGk=\n", 1),
        ("a: !!timestamp 2001-12-14\n", 1),
        ("%TAG !e! tag:example.com,2000:\n---\na: !e!thing x\n", 3),
    ],
)
def test_tags_are_refused(text: str, line: int) -> None:
    _assert_names(_error(text), line, "tags")


def test_python_object_tags_never_construct_anything(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    for text in (
        f"a: !!python/object/apply:os.mkdir ['{marker}']\n",
        f"!!python/object/apply:os.mkdir\nargs: ['{marker}']\n",
        f"a: !!python/object/new:pathlib.Path ['{marker}']\n",
        "a: !!python/object:collections.OrderedDict {}\n",
    ):
        with pytest.raises(YAMLError, match="tags"):
            loads(text)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("base: &b 1\n", 1, "anchors"),
        ("a: 1\nb: *b\n", 2, "aliases"),
        ("a: &x [1, 2]\nb: *x\n", 1, "anchors"),
        ("&a key: 1\n", 1, "anchors"),
        ("a:\n  - x\n  - &y {k: v}\n", 3, "anchors"),
    ],
)
def test_anchors_and_aliases_are_refused(text: str, line: int, fragment: str) -> None:
    _assert_names(_error(text), line, fragment)


def test_billion_laughs_is_refused_at_once() -> None:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")  # 9**9 "lol"s
    start = time.perf_counter()
    _assert_names(_error("\n".join(lines) + "\n"), 1, "anchors")
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("a: 1\nb: 2\na: 3\n", 3, "'a'"),
        ("x:\n  lr: 1\n  lr: 2\n", 3, "'lr'"),
        ("a: {k: 1, k: 2}\n", 1, "'k'"),
        ("- {a: 1}\n- b: 1\n  c: 2\n  b: 3\n", 4, "'b'"),
        ("1: a\n1.0: b\n", 2, "1"),  # equal as Python keys: one would silently replace the other
    ],
)
def test_duplicate_keys_are_refused(text: str, line: int, key: str) -> None:
    _assert_names(_error(text), line, f"duplicate key {key}")


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("env:\n  id: CartPole-v1\nlearner: [dqn\n", 3, "flow sequence"),  # where it opened
        ("a: ok\nb: 'abc\n", 2, "quoted scalar"),
        ("a:\n\tb: 1\n", 2, "'\\t'"),
        ("a: 1\n  b: 2\n", 2, "mapping values are not allowed"),
        ("a: b: c\n", 1, "mapping values are not allowed"),
        ("a: 1\n\n\n- x\n", 4, "expected <block end>"),
        ("a: 1\n---\nb: 2\n", 2, "single document"),
        ("a: 1\nb: \x00\n", 2, "unacceptable character"),
        ("a: 1\nb: " + "1" * 5000 + "\n", 2, "digits"),
        ("? [1, 2]\n: x\n", 1, "mapping keys must be scalars"),
        ("a: {[1]: 2}\n", 1, "mapping keys must be scalars"),
    ],
)
def test_parse_errors_name_source_and_line(text: str, line: int, fragment: str) -> None:
    _assert_names(_error(text), line, fragment)


def test_error_without_a_line() -> None:
    assert str(YAMLError("boom")) == "<string>: boom"
    err = _error("[" * 10_000)  # too deep for the recursive composer: still a YAMLError
    assert str(err).startswith("cfg.yaml")


def test_default_source_name() -> None:
    assert str(_error("a: [1\n", source="<string>")).startswith("<string> line 1: ")


# ---------------------------------------------------------------------------- files


def test_load_and_dump_file(tmp_path: Path) -> None:
    config = {"agent": {"lr": 0.001, "layers": [64, 64]}, "envs": [{"id": "CartPole-v1"}]}
    path = tmp_path / "config.yaml"
    dump_file(config, path)
    assert load_file(path) == config
    assert load_file(str(path)) == config


@pytest.mark.parametrize(
    ("text", "line"), [("a: 1\nb: [1\n", 2), ("a: 1\nb: !!python/object:os.system x\n", 2)]
)
def test_load_file_errors_name_the_file(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(YAMLError) as info:
        load_file(path)
    assert (info.value.source, info.value.line) == (str(path), line)
    assert str(info.value).startswith(f"{path} line {line}: ")
    assert "bad.yaml" in str(info.value)


def test_load_file_refuses_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"a: caf\xe9\n")
    with pytest.raises(YAMLError, match="latin.yaml: not UTF-8"):
        load_file(path)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config file not found: .*nope.yaml"):
        load_file(tmp_path / "nope.yaml")


# ----------------------------------------------------------------------------- writer


def test_dumps_layout() -> None:
    config = {
        "name": "dqn", "lr": 0.001, "layers": [64, 64], "none": None, "flag": True,
        "empty_list": [], "empty_map": {}, "net": {"act": "relu", "sizes": [1, 2.5]},
        "envs": [{"id": "CartPole-v1", "n": 8}], "grid": [[1, 2], [3]], "answer": "yes",
    }  # fmt: skip
    assert dumps(config) == (
        "name: dqn\nlr: 0.001\nlayers: [64, 64]\nnone: null\nflag: true\n"
        "empty_list: []\nempty_map: {}\nnet:\n  act: relu\n  sizes: [1, 2.5]\n"
        "envs:\n- id: CartPole-v1\n  n: 8\ngrid:\n- [1, 2]\n- [3]\nanswer: 'yes'\n"
    )  # keys in insertion order, block style, flow style only for lists of scalars
    assert loads(dumps([1, "a"])) == [1, "a"]
    assert dumps({}) == "{}\n"


def test_dumps_writes_shared_objects_twice_and_plain_values_of_numpy_scalars() -> None:
    shared = [1, 2]
    text = dumps({"a": shared, "b": shared, "c": np.int64(3), "d": np.float32(0.5)})
    assert "&" not in text and "*" not in text
    assert loads(text) == {"a": [1, 2], "b": [1, 2], "c": 3, "d": 0.5}


def test_dumps_rejects_unsupported_objects() -> None:
    with pytest.raises(TypeError, match="cannot write set"):
        dumps({"a": {1, 2}})
    with pytest.raises(TypeError, match="cannot write object"):
        dumps([object()])
    with pytest.raises(TypeError, match="keys must be scalars"):
        dumps({(1, 2): 3})
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(TypeError, match="recursive"):
        dumps(loop)


STRINGS = [
    "", " lead", "trail ", "a: b", "a:b", "#x", "a #b", "x,y", "[x]", "{x}", "- x", "-", "true",
    "False", "null", "~", "12", "1_0", "1e5", ".5", ".inf", ".nan", "0x1F", "010", "yes", "Off",
    "2001-12-14", "1:30", "<<", "=", "'q'", '"q"', "it's", "line\nbreak", "tab\there", "a\r",
    "back\\slash", "\x00\x85\u2028", "é😀", "&a", "*a", "!t", "!!str", "|", ">", "%", "@", "`",
    "?", "? x", "x" * 300,
]  # fmt: skip


@pytest.mark.parametrize("value", STRINGS)
def test_string_round_trip(value: str) -> None:
    for tree in (value, {value: [value]}, [{value: value}]):
        assert loads(dumps(tree)) == tree
        assert yaml.safe_load(dumps(tree)) == tree  # YAML 1.1 readers see the same strings


@pytest.mark.parametrize(
    "value", [0.1 + 0.2, 1e16, 1e-5, 5e-324, 1.7976931348623157e308, -2.5, 1.0, 0.0, 1e5]
)
def test_float_round_trip_is_exact(value: float) -> None:
    back = loads(dumps({"x": value}))["x"]
    assert back == value and isinstance(back, float)


def test_special_floats() -> None:
    back = loads(dumps({"a": math.inf, "b": -math.inf, "c": math.nan, "d": -0.0}))
    assert back["a"] == math.inf and back["b"] == -math.inf
    assert math.isnan(back["c"])
    assert back["d"] == 0.0 and math.copysign(1.0, back["d"]) == -1.0


NESTED_CONFIGS: list[Any] = [
    {
        "agent": {"kind": "dqn", "lr": 2.5e-4, "gamma": 0.99, "target": {"tau": 0.005}},
        "network": {"layers": [256, 256], "activation": "relu", "dueling": True},
        "envs": [{"id": "CartPole-v1", "num": 8, "kwargs": {}},
                 {"id": "Pendulum-v1", "wrappers": ["clip", "normalize"]}],
        "seed": None,
        "notes": "lr: tuned # by hand",
    },
    [{"a": [{"b": [[1, 2], [], [{"c": None}]]}]}, [], {}, [[[]]], "end"],
    {1: "one", None: "none", False: "no", 2.5: "float", "": "empty"},
]  # fmt: skip


@pytest.mark.parametrize("config", NESTED_CONFIGS)
def test_round_trip_nested_configs(config: Any) -> None:
    assert loads(dumps(config)) == config


# ------------------------------------------------------------------ randomized round trip

_ALPHABET = "ab xyz019-_.:#,[]{}'\"\\\n\t~&*!|>%@`?é😀\x00\x85\u2028"
_WORDS = ["", "true", "False", "null", "~", "1", "-3", "1e5", ".5", ".inf", "0x1F", "yes", "- a",
          "a: b", "#", "'", '"', "-", " ", "on", "2020-01-01"]  # fmt: skip


def _random_float(rng: random.Random) -> float:
    if rng.random() < 0.5:
        return rng.choice([math.inf, -math.inf, 0.0, -0.0, 1e16, 5e-324, 0.1, rng.uniform(-9, 9)])
    while True:  # any finite double, from random bits
        value: float = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if not math.isnan(value):
            return value


def _random_scalar(rng: random.Random) -> Any:
    choice = rng.randrange(5)
    if choice == 0:
        return rng.choice([None, True, False, rng.randint(-(10**20), 10**20)])
    if choice == 1:
        return _random_float(rng)
    if choice == 2:
        return rng.choice(_WORDS)
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(9)))


def _random_tree(rng: random.Random, depth: int) -> Any:
    choice = rng.randrange(3) if depth > 0 else 0
    if choice == 0:
        return _random_scalar(rng)
    if choice == 1:
        return [_random_tree(rng, depth - 1) for _ in range(rng.randrange(5))]
    return {_random_scalar(rng): _random_tree(rng, depth - 1) for _ in range(rng.randrange(5))}


def test_randomized_round_trip() -> None:
    rng = random.Random(0)
    for _ in range(200):
        tree = _random_tree(rng, depth=4)
        text = dumps(tree)
        assert loads(text) == tree, text
