"""Tests for nacre's own YAML subset reader/writer (``nacre.config.yaml_io``)."""

from __future__ import annotations

import math
import random
import struct
from pathlib import Path
from typing import Any

import pytest

from nacre.config.yaml_io import YAMLError, dump_file, dumps, load_file, loads

# ------------------------------------------------------------------------------ scalars


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("null", None),
        ("Null", None),
        ("NULL", None),
        ("~", None),
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("false", False),
        ("False", False),
        ("FALSE", False),
        ("0", 0),
        ("42", 42),
        ("-7", -7),
        ("+7", 7),
        ("1_000", 1000),
        ("1_000_000", 1_000_000),
        ("0x1F", 31),
        ("0o17", 15),
        ("2.3e-3", 2.3e-3),
        ("1e5", 1e5),
        ("1E5", 1e5),
        ("1.5e+10", 1.5e10),
        (".5", 0.5),
        ("-.5", -0.5),
        ("-0.04", -0.04),
        ("3.", 3.0),
        (".inf", math.inf),
        (".Inf", math.inf),
        ("+.inf", math.inf),
        ("-.inf", -math.inf),
        ("-.INF", -math.inf),
        ("yes", "yes"),
        ("no", "no"),
        ("on", "on"),
        ("hello world", "hello world"),
        ("1_", "1_"),
        ("1.2.3", "1.2.3"),
        ("1e", "1e"),
        ("v1", "v1"),
        ("CartPole-v1", "CartPole-v1"),
        ("don't", "don't"),
        ("a#b", "a#b"),
        ("http://x.org/a#b", "http://x.org/a#b"),
        ("/tmp/x:y", "/tmp/x:y"),
        ("-x", "-x"),
    ],
)
def test_plain_scalar_resolution(text: str, expected: Any) -> None:
    value = loads(f"key: {text}\n")["key"]
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize("text", [".nan", ".NaN", ".NAN"])
def test_nan(text: str) -> None:
    assert math.isnan(loads(f"x: {text}")["x"])


def test_empty_value_and_empty_document() -> None:
    assert loads("a:\nb: 1\n") == {"a": None, "b": 1}
    assert loads("") is None
    assert loads("\n   \n# just a comment\n") is None
    assert loads("---\n") is None
    assert loads("---\n# c\n") is None


def test_quoted_strings() -> None:
    doc = loads(
        "a: 'single # not a comment'\n"
        'b: "double # not a comment" # a comment\n'
        "c: 'it''s'\n"
        'd: "q\\"uote \\\\ back\\/slash\\n\\t tab"\n'
        'e: "\\u00e9\\U0001F600\\x41\\0"\n'
        "f: '1'\n"
        'g: "true"\n'
        "h: ''\n"
        "i: 'a \\n b'\n"
        'j: "  padded  "\n'
    )
    assert doc == {
        "a": "single # not a comment",
        "b": "double # not a comment",
        "c": "it's",
        "d": 'q"uote \\ back/slash\n\t tab',
        "e": "é😀A\0",
        "f": "1",
        "g": "true",
        "h": "",
        "i": "a \\n b",
        "j": "  padded  ",
    }


def test_comments() -> None:
    text = "# header\n\na: 1  # trailing\n   # indented comment\nb: x#y\nc: [1, 2] # c\n# end"
    assert loads(text) == {"a": 1, "b": "x#y", "c": [1, 2]}


# -------------------------------------------------------------------------------- block


def test_block_mappings_nested() -> None:
    text = "agent:\n  name: dqn\n  net:\n    layers: 3\n    act: relu\nseed: 0\n"
    assert loads(text) == {"agent": {"name": "dqn", "net": {"layers": 3, "act": "relu"}}, "seed": 0}


def test_block_sequences() -> None:
    assert loads("- 1\n- two\n- 3.0\n-\n- null\n") == [1, "two", 3.0, None, None]
    assert loads("xs:\n  - a\n  - b\n") == {"xs": ["a", "b"]}
    # A sequence may sit at the same indentation as its parent key.
    assert loads("xs:\n- a\n- b\nys: 1\n") == {"xs": ["a", "b"], "ys": 1}
    assert loads("- - 1\n  - 2\n- - 3\n") == [[1, 2], [3]]
    assert loads("-\n  - 1\n") == [[1]]
    assert loads("-   spaced\n") == ["spaced"]


def test_sequence_of_mappings_with_continuation_lines() -> None:
    text = (
        "envs:\n"
        "  - id: CartPole-v1\n"
        "    n: 8\n"
        "    kwargs:\n"
        "      render: false\n"
        "  - id: Pendulum-v1\n"
        "    wrappers:\n"
        "    - clip\n"
        "    - norm\n"
        "  -\n"
        "    id: Acrobot-v1\n"
    )
    assert loads(text) == {
        "envs": [
            {"id": "CartPole-v1", "n": 8, "kwargs": {"render": False}},
            {"id": "Pendulum-v1", "wrappers": ["clip", "norm"]},
            {"id": "Acrobot-v1"},
        ]
    }


def test_keys() -> None:
    assert loads("'quoted: key': 1\n\"dq\": 2\nwith space: 3\n1: int\nnull: n\n") == {
        "quoted: key": 1,
        "dq": 2,
        "with space": 3,
        1: "int",
        None: "n",
    }


def test_flow_collections() -> None:
    assert loads("a: [1, 2, [3, [4]]]") == {"a": [1, 2, [3, [4]]]}
    assert loads("a: {x: 1, y: [2, 3], z: {w: null}}") == {
        "a": {"x": 1, "y": [2, 3], "z": {"w": None}}
    }
    assert loads("a: []\nb: {}\nc: [ 1 , 2 , ]\n") == {"a": [], "b": {}, "c": [1, 2]}
    assert loads("a: ['x, y', \"]\", b c]") == {"a": ["x, y", "]", "b c"]}
    assert loads("a: {\"k\": 1, 'j': 2, m}") == {"a": {"k": 1, "j": 2, "m": None}}
    assert loads("[1, {a: b}]") == [1, {"a": "b"}]
    assert loads("- [1, 2]\n- {a: 1}\n") == [[1, 2], {"a": 1}]
    assert loads("a:\n  [1, 2]\n") == {"a": [1, 2]}


def test_top_level_scalars_and_document_marker() -> None:
    assert loads("hello") == "hello"
    assert loads("42\n") == 42
    assert loads('"quoted"') == "quoted"
    assert loads("---\na: 1\n") == {"a": 1}
    assert loads("# c\n--- # c\na: 1\n") == {"a": 1}
    assert loads("\ufeffa: 1\r\nb: 2\r\n") == {"a": 1, "b": 2}
    assert loads("  a: 1\n  b: 2\n") == {"a": 1, "b": 2}


# ------------------------------------------------------------------------------- errors


def _error(text: str, source: str = "<string>") -> YAMLError:
    with pytest.raises(YAMLError) as info:
        loads(text, source)
    return info.value


def test_error_message_format() -> None:
    err = _error("a: 1\nb: 2\n\n\n\n\n- x\n", "config.yaml")
    assert err.line == 7
    assert str(err) == "config.yaml line 7: expected 'key: value', got '- x'"
    assert err.message == "expected 'key: value', got '- x'"
    assert isinstance(err, ValueError)
    assert str(_error("a: [1")).startswith("<string> line 1: ")
    assert str(YAMLError("boom")) == "<string>: boom"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        # duplicate keys
        ("a: 1\nb: 2\na: 3\n", 3, "duplicate key 'a'"),
        ("x:\n  lr: 1\n  lr: 2\n", 3, "duplicate key 'lr'"),
        ("a: {k: 1, k: 2}\n", 1, "duplicate key 'k'"),
        # tabs
        ("a:\n\tb: 1\n", 2, "tab"),
        ("a:\n  \tb: 1\n", 2, "tab"),
        # indentation
        ("a: 1\n  b: 2\n", 2, "inconsistent indentation"),
        ("a:\n    b: 1\n  c: 2\n", 3, "inconsistent indentation"),
        ("  a: 1\nb: 2\n", 2, "inconsistent indentation"),
        ("- a\n  - b\n", 2, "multi-line"),
        ("- 1\n - 2\n", 2, "inconsistent indentation"),
        ("a:\n  b\n  c\n", 3, "multi-line"),
        ("a: x\n  y\n", 2, "inconsistent indentation"),
        # unclosed brackets and quotes
        ("a: [1, 2\n", 1, "unclosed '['"),
        ("\n\na: {x: [1, 2}\n", 3, "expected ','"),
        ("a: {x: 1\n", 1, "unclosed '{'"),
        ("a: 'abc\n", 1, "unclosed quoted string"),
        ('a: ok\nb: "abc\n', 2, "unclosed quoted string"),
        ('a: "abc\\"\n', 1, "unclosed quoted string"),
        # neither key: value nor - item
        ("a: 1\n- x\n", 2, "expected 'key: value', got '- x'"),
        ("a: 1\njust text\n", 2, "expected 'key: value', got 'just text'"),
        ("- a\nb: 1\n", 2, "expected '- item', got 'b: 1'"),
        ("x:\n  - a\n  b: 1\n", 3, "expected '- item', got 'b: 1'"),
        ("text\nb: 1\n", 2, "unexpected line"),
        # malformed values
        ("a: b: c\n", 1, "mapping values are not allowed"),
        ("a: [1, , 2]\n", 1, "unexpected ','"),
        ("a: [1] x\n", 1, "unexpected text 'x'"),
        ("a: 'x' y\n", 1, "unexpected text 'y'"),
        ("a: - b\n", 1, "sequence item is not allowed"),
        ('a: "\\q"\n', 1, "invalid escape"),
        ("a: [b: c]\n", 1, "expected ','"),
        (": x\n", 1, "empty mapping key"),
        ("a: ]\n", 1, "unexpected ']'"),
    ],
)
def test_errors_with_line_numbers(text: str, line: int, fragment: str) -> None:
    err = _error(text, "cfg.yaml")
    assert err.line == line, str(err)
    assert fragment in err.message, str(err)
    assert str(err).startswith(f"cfg.yaml line {line}: ")


@pytest.mark.parametrize(
    ("text", "line", "feature"),
    [
        ("base: &b 1\n", 1, "anchors"),
        ("a: 1\nb: *b\n", 2, "anchors"),
        ("&a key: 1\n", 1, "anchors"),
        ("a: !!float 1\n", 1, "tags"),
        ("a: !custom x\n", 1, "tags"),
        ("a: [!!str 1]\n", 1, "tags"),
        ("a: |\n  text\n", 1, "block scalars"),
        ("a: >\n  text\n", 1, "block scalars"),
        ("a: 1\n---\nb: 2\n", 2, "multiple documents"),
        ("---\n---\n", 2, "multiple documents"),
        ("a: 1\n...\n", 2, "'...'"),
        ("--- a: 1\n", 1, "content after ---"),
        ("%YAML 1.2\n---\na: 1\n", 1, "directives"),
        ("? a\n: b\n", 1, "complex keys"),
        ("a: 1\n? b\n", 2, "complex keys"),
        ("a: @x\n", 1, "reserved"),
        ("a: {[1]: 2}\n", 1, "collections as mapping keys"),
    ],
)
def test_unsupported_features(text: str, line: int, feature: str) -> None:
    err = _error(text)
    assert err.line == line, str(err)
    assert feature in err.message, str(err)
    assert "not supported by nacre's YAML reader" in err.message


# ---------------------------------------------------------------------------- files


def test_load_and_dump_file(tmp_path: Path) -> None:
    config = {"agent": {"lr": 0.001, "layers": [64, 64]}, "envs": [{"id": "CartPole-v1"}]}
    path = tmp_path / "config.yaml"
    dump_file(config, path)
    assert load_file(path) == config
    assert load_file(str(path)) == config


def test_load_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("a: 1\nb: [1\n", encoding="utf-8")
    with pytest.raises(YAMLError) as info:
        load_file(path)
    assert info.value.line == 2
    assert info.value.source == str(path)
    assert str(info.value).startswith(f"{path} line 2: ")


def test_load_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(FileNotFoundError, match="config file not found: .*nope.yaml"):
        load_file(missing)


# ----------------------------------------------------------------------------- writer


def test_dumps_layout() -> None:
    config = {
        "name": "dqn",
        "lr": 0.001,
        "layers": [64, 64],
        "none": None,
        "flag": True,
        "empty_list": [],
        "empty_map": {},
        "net": {"act": "relu", "sizes": [1, 2.5]},
        "envs": [{"id": "CartPole-v1", "n": 8}, {"id": "Pendulum-v1"}],
        "grid": [[1, 2], [3]],
    }
    assert dumps(config) == (
        "name: dqn\n"
        "lr: 0.001\n"
        "layers: [64, 64]\n"
        "none: null\n"
        "flag: true\n"
        "empty_list: []\n"
        "empty_map: {}\n"
        "net:\n"
        "  act: relu\n"
        "  sizes: [1, 2.5]\n"
        "envs:\n"
        "  - id: CartPole-v1\n"
        "    n: 8\n"
        "  - id: Pendulum-v1\n"
        "grid:\n"
        "  - [1, 2]\n"
        "  - [3]\n"
    )
    assert dumps([1, "a"]) == "[1, a]\n"
    assert dumps({}) == "{}\n"
    assert dumps("x") == "x\n"
    assert dumps(None) == "null\n"


@pytest.mark.parametrize(
    "value",
    [
        "",
        " lead",
        "trail ",
        "a: b",
        "a:b",
        "#x",
        "a #b",
        "x,y",
        "[x]",
        "{x}",
        "- x",
        "-",
        "true",
        "False",
        "null",
        "~",
        "12",
        "1_0",
        "1e5",
        ".5",
        ".inf",
        ".nan",
        "0x1F",
        "yes",
        "Off",
        "'q'",
        '"q"',
        "it's",
        "line\nbreak",
        "tab\there",
        "back\\slash",
        "\x00\x85\u2028",
        "é😀",
        "&a",
        "*a",
        "!t",
        "|",
        ">",
        "%",
        "@",
        "`",
        "?",
        "? x",
        "a\r",
    ],
)
def test_string_round_trip(value: str) -> None:
    assert loads(dumps(value)) == value
    assert loads(dumps({value: [value]})) == {value: [value]}
    assert loads(dumps([{value: value}])) == [{value: value}]


def test_string_quoting_is_minimal() -> None:
    assert dumps({"a": "plain text"}) == "a: plain text\n"
    assert dumps({"a": "CartPole-v1"}) == "a: CartPole-v1\n"
    assert dumps({"a": "1"}) == 'a: "1"\n'
    assert dumps({"a": "x: y"}) == 'a: "x: y"\n'
    assert dumps({"a": ""}) == 'a: ""\n'


@pytest.mark.parametrize(
    "value",
    [0.1 + 0.2, 1e16, 1e-5, 5e-324, 1.7976931348623157e308, -2.5, 123456789.123456789, 1.0, 0.0],
)
def test_float_round_trip_is_exact(value: float) -> None:
    text = dumps({"x": value})
    assert loads(text)["x"] == value
    assert isinstance(loads(text)["x"], float)


def test_special_floats() -> None:
    assert dumps([math.inf, -math.inf, math.nan]) == "[.inf, -.inf, .nan]\n"
    back = loads(dumps({"a": math.inf, "b": -math.inf, "c": math.nan, "d": -0.0}))
    assert back["a"] == math.inf and back["b"] == -math.inf
    assert math.isnan(back["c"])
    assert back["d"] == 0.0 and math.copysign(1.0, back["d"]) == -1.0


def test_dumps_rejects_unsupported_objects() -> None:
    with pytest.raises(TypeError, match="cannot write set"):
        dumps({"a": {1, 2}})
    with pytest.raises(TypeError, match="cannot write object"):
        dumps([object()])
    with pytest.raises(TypeError, match="keys must be scalars"):
        dumps({(1, 2): 3})


NESTED_CONFIGS: list[Any] = [
    {
        "agent": {"kind": "dqn", "lr": 2.5e-4, "gamma": 0.99, "target": {"tau": 0.005}},
        "network": {"layers": [256, 256], "activation": "relu", "dueling": True},
        "envs": [
            {"id": "CartPole-v1", "num": 8, "kwargs": {}},
            {"id": "Pendulum-v1", "num": 4, "wrappers": ["clip", "normalize"]},
        ],
        "seed": None,
        "notes": "lr: tuned # by hand",
    },
    [{"a": [{"b": [[1, 2], [], [{"c": None}]]}]}, [], {}, [[[]]], "end"],
    {"deep": {"er": {"est": {"list": [{"x": 1}, [1, [2, [3]]]]}}}},
    {1: "one", None: "none", False: "no", 2.5: "float", "": "empty"},
]


@pytest.mark.parametrize("config", NESTED_CONFIGS)
def test_round_trip_nested_configs(config: Any) -> None:
    assert loads(dumps(config)) == config


@pytest.mark.parametrize("config", NESTED_CONFIGS[:3])
def test_dumps_output_is_readable_by_pyyaml(config: Any) -> None:
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load(dumps(config)) == config


# ---------------------------------------------------------------------- PyYAML cross-check

CROSS_CHECK_SNIPPETS = [
    "a: 1\nb: two\nc: 3.5\n",
    "agent:\n  name: ppo\n  clip: 0.2\n  net:\n    sizes: [64, 64]\n",
    "items:\n  - 1\n  - 2\n",
    "items:\n- 1\n- 2\nafter: x\n",
    "- a: 1\n  b: 2\n- a: 3\n",
    "layers: [64, 64, 32]\n",
    "opt: {name: adam, lr: 0.001, betas: [0.9, 0.999]}\n",
    "x: [a, [b, c], {d: e}, []]\n",
    "# header\na: 1 # trailing\n\n   # indented\nb: 2\n# end\n",
    "s: 'single # not comment'\nd: \"double # not\"\n",
    "url: http://example.com/a#frag\npath: /tmp/a:b\n",
    'e: "tab\\tnew\\nline \\"q\\" back\\\\ slash\\/"\n',
    "q: 'it''s'\nr: don't\n",
    "n1: null\nn2: ~\nn3:\nn4: Null\n",
    "b1: true\nb2: False\nb3: TRUE\n",
    "i: -42\nj: 1_000\nk: +7\nz: 0\n",
    "f: 2.3e-3\ng: -0.04\nh: .5\nk: 1.5e+10\nl: 3.\n",
    "inf: .inf\nninf: -.inf\n",
    "---\na: 1\n",
    "- - 1\n  - 2\n- - 3\n",
    "a:\n  b:\n    c:\n      d: deep\n",
    "maps:\n  - name: x\n    params: {k: 1}\n  - name: y\n    params:\n      k: 2\n",
    "key with spaces: value with spaces\n",
    "'quoted key': 1\n\"other\": 2\n",
    "empty_list: []\nempty_map: {}\ntrailing: [1, 2, ]\n",
    "version: '1.0'\nstr_num: \"42\"\n",
    "- 1\n- two\n- 3.0\n- null\n-\n",
    "scalar\n",
    "-\n  a: 1\n  b: [x, y]\n",
    'u: "\\u00e9\\U0001F600"\nneg_zero: -0.0\n',
    "env:\n  id: CartPole-v1\n  max_steps: 500\ntrain:\n  steps: 100_000\n  log: true\n",
    "",
    "# only a comment\n",
]


@pytest.mark.parametrize("snippet", CROSS_CHECK_SNIPPETS)
def test_matches_pyyaml(snippet: str) -> None:
    yaml = pytest.importorskip("yaml")
    assert loads(snippet) == yaml.safe_load(snippet)


# ------------------------------------------------------------------ randomized round trip

_ALPHABET = "ab xyz019-_.:#,[]{}'\"\\\n\t~&*!|>%@`?é😀\x00\x85\u2028"
_WORDS = [
    "",
    "true",
    "False",
    "null",
    "~",
    "1",
    "-3",
    "1e5",
    ".5",
    ".inf",
    "0x1F",
    "yes",
    "- a",
    "a: b",
    "#",
    "'",
    '"',
    "-",
    " ",
]


def _random_float(rng: random.Random) -> float:
    choice = rng.randrange(4)
    if choice == 0:
        return rng.uniform(-1e3, 1e3)
    if choice == 1:
        return rng.choice([math.inf, -math.inf, 0.0, -0.0, 1e16, 5e-324, 0.1])
    while True:  # any finite double, from random bits
        value: float = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if not math.isnan(value):
            return value


def _random_scalar(rng: random.Random) -> Any:
    choice = rng.randrange(6)
    if choice == 0:
        return rng.choice([None, True, False])
    if choice == 1:
        return rng.randint(-(10**20), 10**20)
    if choice == 2:
        return _random_float(rng)
    if choice == 3:
        return rng.choice(_WORDS)
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(9)))


def _random_tree(rng: random.Random, depth: int, scalar_ok: bool = True) -> Any:
    choice = rng.randrange(0 if scalar_ok else 1, 3) if depth > 0 else 0
    if choice == 0:
        return _random_scalar(rng)
    if choice == 1:
        return [_random_tree(rng, depth - 1) for _ in range(rng.randrange(5))]
    return {_random_key(rng): _random_tree(rng, depth - 1) for _ in range(rng.randrange(5))}


def _random_key(rng: random.Random) -> Any:
    if rng.random() < 0.2:
        return _random_scalar(rng)
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(1, 6)))


def test_randomized_round_trip() -> None:
    rng = random.Random(0)
    for i in range(200):
        tree = _random_tree(rng, depth=4, scalar_ok=i % 20 == 0)
        text = dumps(tree)
        assert loads(text) == tree, text
