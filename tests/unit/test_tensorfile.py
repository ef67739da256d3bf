"""Tests for nacre's own safetensors reader/writer (nacre.train.tensorfile)."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch

from nacre.train.tensorfile import UnsafeFileError, load_metadata, load_tensors, save_tensors

DTYPES = [
    torch.float64, torch.float32, torch.float16, torch.bfloat16,
    torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool,
]  # fmt: skip


def _sample(dtype: torch.dtype, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_floating_point:
        return (torch.randn(shape, generator=g) * 100).to(dtype)
    return torch.randint(0, 100, shape, generator=g).to(dtype)


def _all_tensors() -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for i, dt in enumerate(DTYPES):
        name = str(dt).removeprefix("torch.")
        out[f"{name}/matrix"] = _sample(dt, (3, 5), seed=i)
        out[f"{name}/scalar"] = _sample(dt, (), seed=i)
        out[f"{name}/empty"] = _sample(dt, (0, 4), seed=i)
        out[f"{name}/odd"] = _sample(dt, (7,), seed=i)  # odd byte lengths -> unaligned offsets
    return out


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert a[k].shape == b[k].shape, k
        assert torch.equal(a[k], b[k]), k


def _raw_file(path: Path, header: dict[str, object], data: bytes) -> Path:
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data)
    return path


class _Evil:
    """Unpickling this would create a marker directory (standing in for arbitrary code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (self.marker,))


# --------------------------------------------------------------------------- round trips
def test_round_trip_every_dtype_with_metadata(tmp_path: Path) -> None:
    tensors = _all_tensors()
    meta = {"format": "nacre", "step": "123", "unicode": "héllo ✓"}
    path = tmp_path / "t.safetensors"
    save_tensors(tensors, path, metadata=meta)
    loaded = load_tensors(path)
    _assert_same(tensors, loaded)
    assert load_metadata(path) == meta
    for t in loaded.values():  # tensors own writable memory
        t.zero_() if t.dtype != torch.bool else t.fill_(False)
    _assert_same(load_tensors(path), tensors)


def test_round_trip_non_contiguous_and_grad(tmp_path: Path) -> None:
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    tensors = {"t": base.t(), "slice": base[:, ::2], "w": torch.ones(3, requires_grad=True)}
    path = tmp_path / "x.safetensors"
    save_tensors(tensors, path)
    loaded = load_tensors(path, device=torch.device("cpu"))
    _assert_same({k: v.detach() for k, v in tensors.items()}, loaded)
    assert load_metadata(path) == {}


def test_empty_mapping(tmp_path: Path) -> None:
    path = tmp_path / "e.safetensors"
    save_tensors({}, path)
    assert load_tensors(path) == {}
    assert path.stat().st_size % 8 == 0


def test_header_is_padded_and_sorted(tmp_path: Path) -> None:
    path = tmp_path / "p.safetensors"
    save_tensors({"b": torch.zeros(2), "a": torch.ones(3, dtype=torch.int8)}, path)
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    assert n % 8 == 0
    header = json.loads(raw[8 : 8 + n])
    assert header["a"]["data_offsets"] == [0, 3]
    assert header["b"]["data_offsets"] == [3, 11]


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "a.safetensors"
    save_tensors({"x": torch.zeros(3)}, path)
    save_tensors({"x": torch.ones(3)}, path)  # overwrite in place
    assert os.listdir(tmp_path) == ["a.safetensors"]
    assert torch.equal(load_tensors(path)["x"], torch.ones(3))
    with pytest.raises(TypeError):  # failure mid-way: old file intact, no temp left
        save_tensors({"x": torch.zeros(2, dtype=torch.complex64)}, path)
    assert os.listdir(tmp_path) == ["a.safetensors"]
    assert torch.equal(load_tensors(path)["x"], torch.ones(3))


def test_bad_arguments_rejected(tmp_path: Path) -> None:
    bad_meta: Any = {"k": 1}
    with pytest.raises(TypeError):
        save_tensors({"x": torch.zeros(1)}, tmp_path / "m", metadata=bad_meta)
    with pytest.raises(ValueError):
        save_tensors({"__metadata__": torch.zeros(1)}, tmp_path / "m")
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------- cross-check with safetensors
def test_nacre_file_loads_with_safetensors(tmp_path: Path) -> None:
    st = pytest.importorskip("safetensors.torch")
    tensors = _all_tensors()
    path = tmp_path / "n.safetensors"
    save_tensors(tensors, path, metadata={"who": "nacre"})
    _assert_same(tensors, st.load_file(str(path)))
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        assert f.metadata() == {"who": "nacre"}


def test_safetensors_file_loads_with_nacre(tmp_path: Path) -> None:
    st = pytest.importorskip("safetensors.torch")
    tensors = _all_tensors()
    path = tmp_path / "s.safetensors"
    st.save_file(tensors, str(path), metadata={"who": "safetensors"})
    _assert_same(tensors, load_tensors(path))
    assert load_metadata(path) == {"who": "safetensors"}


def test_round_trip_device(tmp_path: Path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    path = tmp_path / "c.safetensors"
    save_tensors({"x": torch.arange(4, device="cuda")}, path)
    x = load_tensors(path, device="cuda")["x"]
    assert x.is_cuda and torch.equal(x.cpu(), torch.arange(4))


# --------------------------------------------------------------------- refusing bad files
@pytest.mark.parametrize("kind", ["pickle2", "pickle5", "torch_zip", "torch_legacy"])
def test_malicious_pickle_refused(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "PWNED"
    payload = {"weights": torch.zeros(2), "evil": _Evil(marker)}
    path = tmp_path / "model.pt"
    if kind.startswith("pickle"):
        with open(path, "wb") as f:
            pickle.dump(payload, f, protocol=int(kind[-1]))
    else:
        torch.save(payload, path, _use_new_zipfile_serialization=(kind == "torch_zip"))
    assert not marker.exists()
    for fn in (load_tensors, load_metadata):
        with pytest.raises(UnsafeFileError, match="pickle/torch.save"):
            fn(path)
    assert not marker.exists()


def test_plain_torch_save_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.pt"
    torch.save({"x": torch.zeros(3)}, path)
    with pytest.raises(UnsafeFileError, match="nacre only loads safetensors"):
        load_tensors(path)


def test_truncated_files_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.safetensors"
    save_tensors({"a": torch.arange(10), "b": torch.ones(2, 2)}, good, metadata={"k": "v"})
    raw = good.read_bytes()
    bad = tmp_path / "bad.safetensors"
    for cut in (0, 3, 8, 20, len(raw) - 1):
        bad.write_bytes(raw[:cut])
        with pytest.raises(UnsafeFileError):
            load_tensors(bad)
    bad.write_bytes(raw + b"\0")  # trailing garbage is not described by the header
    with pytest.raises(UnsafeFileError):
        load_tensors(bad)
    bad.write_bytes((10**12).to_bytes(8, "little") + raw[8:])  # absurd header size
    with pytest.raises(UnsafeFileError, match="header size"):
        load_tensors(bad)


def test_bad_json_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.safetensors"
    for raw in (b"{not json", b"\xff\xfe{}", b"[1, 2]", b'{"a": 1, "a": 2}'):
        path.write_bytes(len(raw).to_bytes(8, "little") + raw)
        with pytest.raises(UnsafeFileError):
            load_tensors(path)


def _entry(dtype: str = "F32", shape: object = None, offs: object = None) -> dict[str, object]:
    return {"dtype": dtype, "shape": [2] if shape is None else shape,
            "data_offsets": [0, 8] if offs is None else offs}  # fmt: skip


@pytest.mark.parametrize(
    ("header", "data"),
    [
        ({"x": _entry(offs=[0, 16])}, bytes(8)),  # out of bounds
        ({"x": _entry(offs=[8, 16])}, bytes(16)),  # gap before the data
        ({"x": _entry(offs=[4, 0])}, bytes(8)),  # reversed
        ({"x": _entry(offs=[0, -8])}, bytes(8)),  # negative
        ({"x": _entry(offs=[0, 4])}, bytes(4)),  # does not match shape * itemsize
        ({"x": _entry(), "y": _entry()}, bytes(8)),  # overlapping
        ({"x": _entry(), "y": _entry(offs=[4, 12])}, bytes(12)),  # partially overlapping
        ({"x": _entry(dtype="F8_E4M3")}, bytes(8)),  # unknown dtype
        ({"x": _entry(dtype="PICKLE")}, bytes(8)),  # unknown dtype
        ({"x": _entry(shape=[-2])}, bytes(8)),  # bad shape
        ({"x": _entry(shape="2")}, bytes(8)),  # bad shape
        ({"x": {"dtype": "F32", "shape": [2]}}, bytes(8)),  # missing offsets
        ({"x": [1, 2]}, bytes(8)),  # entry not an object
        ({"__metadata__": {"k": 1}, "x": _entry()}, bytes(8)),  # non-string metadata
        ({"__metadata__": ["k"], "x": _entry()}, bytes(8)),  # metadata not a mapping
    ],
)
def test_malformed_headers_refused(tmp_path: Path, header: dict[str, object], data: bytes) -> None:
    path = _raw_file(tmp_path / "m.safetensors", header, data)
    with pytest.raises(UnsafeFileError):
        load_tensors(path)
    with pytest.raises(UnsafeFileError):
        load_metadata(path)


def test_error_is_value_error() -> None:
    assert issubclass(UnsafeFileError, ValueError)


def test_hand_written_file_with_padding(tmp_path: Path) -> None:
    raw = json.dumps({"x": _entry(), "__metadata__": {"a": "b"}}).encode()
    raw += b" " * (-len(raw) % 8)
    data = torch.tensor([1.5, -2.0]).numpy().tobytes()
    path = tmp_path / "h.safetensors"
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data)
    assert torch.equal(load_tensors(path)["x"], torch.tensor([1.5, -2.0]))
    assert load_metadata(path) == {"a": "b"}
