"""Checkpoint tensor files: safetensors written atomically, loaded safely, pickles refused."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any, NoReturn

import pytest
import safetensors.torch
import torch

from nacre.data import tensor_files
from nacre.errors import CheckpointError
from nacre.train.checkpoint import (
    MODEL_FILE,
    load_checkpoint,
    load_tensors,
    save_checkpoint,
    save_tensors,
)

DTYPES = [torch.float32, torch.float64, torch.int64, torch.uint8, torch.bool, torch.bfloat16,
          torch.float16, torch.int32, torch.int16, torch.int8]  # fmt: skip


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
        assert (a[k].dtype, a[k].shape) == (b[k].dtype, b[k].shape), k
        assert torch.equal(a[k].detach(), b[k]), k


def _forbid_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to hand the file to safetensors fail the test."""

    def boom(*args: Any, **kwargs: Any) -> NoReturn:
        raise AssertionError("the file reached the safetensors parser")

    monkeypatch.setattr(tensor_files, "safe_open", boom)  # where checkpoints read tensors


class _Evil:
    """Unpickling this would create a marker directory (standing in for arbitrary code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (self.marker,))


# --------------------------------------------------------------------------- round trips
def test_round_trip_every_dtype(tmp_path: Path) -> None:
    tensors = _all_tensors()
    path = tmp_path / MODEL_FILE
    save_tensors(tensors, path)
    _assert_same(tensors, load_tensors(path))
    _assert_same(tensors, safetensors.torch.load_file(str(path)))  # a standard file


def test_loaded_tensors_are_on_cpu_and_own_writable_memory(tmp_path: Path) -> None:
    path = tmp_path / MODEL_FILE
    save_tensors({"a": torch.arange(6.0), "b": torch.ones(3, dtype=torch.int64)}, path)
    loaded = load_tensors(path)
    path.unlink()  # nothing may still point into the file (e.g. a memory map)
    for t in loaded.values():
        assert t.device == torch.device("cpu") and t.is_contiguous()
        assert t.untyped_storage().nbytes() == t.nbytes  # a storage of its own
        t.add_(1)  # writable, without a "non-writable buffer" warning (warnings are errors)
    assert torch.equal(loaded["a"], torch.arange(1.0, 7.0))
    assert torch.equal(loaded["b"], torch.full((3,), 2))


def test_round_trip_non_contiguous_tensors(tmp_path: Path) -> None:
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    tensors = {
        "transposed": base.t(),
        "strided": base[:, ::2],
        "expanded": torch.tensor([1.0, 2.0]).expand(3, 2),  # stride 0
        "size1": base[:1].t(),  # a size-1 dim with an odd stride
        "grad": torch.ones(3, requires_grad=True),
    }
    assert not tensors["transposed"].is_contiguous()
    save_tensors(tensors, tmp_path / MODEL_FILE)
    _assert_same(tensors, load_tensors(tmp_path / MODEL_FILE))


def test_round_trip_tensors_that_share_memory(tmp_path: Path) -> None:
    weight = torch.randn(4, 3)
    tensors = {"encoder/w": weight, "decoder/w": weight, "view": weight[1:3],
               "flat": weight.view(-1)}
    save_tensors(tensors, tmp_path / MODEL_FILE)  # safetensors alone refuses shared tensors
    loaded = load_tensors(tmp_path / MODEL_FILE)
    _assert_same(tensors, loaded)
    loaded["encoder/w"].zero_()  # loaded tensors do not share memory with each other
    assert torch.equal(loaded["decoder/w"], weight) and torch.equal(loaded["view"], weight[1:3])


def test_empty_mapping(tmp_path: Path) -> None:
    save_tensors({}, tmp_path / MODEL_FILE)
    assert load_tensors(tmp_path / MODEL_FILE) == {}


def test_checkpoint_round_trip_of_a_state_tree(tmp_path: Path) -> None:
    shared = torch.randn(5)
    state = {"net": {"w": shared, "w_tied": shared, "t": torch.randn(3, 2).t()},
             "rng": torch.randint(0, 255, (16,), dtype=torch.uint8), "flags": torch.ones(2) > 0,
             "half": torch.randn(4).to(torch.bfloat16), "steps": 7, "names": ["a", None]}
    path = save_checkpoint(tmp_path / "step_1", state, "seed: 0\n", {"loop": {"step": 7}})
    agent, extra, config = load_checkpoint(path)
    assert (extra, config, agent["steps"], agent["names"]) == ({"loop": {"step": 7}}, "seed: 0\n",
                                                              7, ["a", None])
    for key in ("rng", "flags", "half"):
        assert torch.equal(agent[key], state[key]) and agent[key].dtype == state[key].dtype
    for key in ("w", "w_tied", "t"):
        assert torch.equal(agent["net"][key], state["net"][key])


def test_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / MODEL_FILE
    save_tensors({"x": torch.zeros(3)}, path)
    save_tensors({"x": torch.ones(3)}, path)  # overwrite in place
    assert os.listdir(tmp_path) == [MODEL_FILE]

    def crash(tensors: Any, filename: str, metadata: Any = None) -> NoReturn:
        Path(filename).write_bytes(b"half a fi")  # dies half-way through writing
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        save_tensors({"x": torch.full((3,), 2.0)}, path)
    assert os.listdir(tmp_path) == [MODEL_FILE]  # no temp file left, old file intact
    assert torch.equal(load_tensors(path)["x"], torch.ones(3))


# --------------------------------------------------------------------- refusing bad files
@pytest.mark.parametrize("kind", ["pickle2", "pickle4", "pickle5", "torch_zip", "torch_legacy"])
def test_malicious_pickle_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    marker = tmp_path / "PWNED"
    payload = {"weights": torch.zeros(2), "evil": _Evil(marker)}
    path = tmp_path / MODEL_FILE
    if kind.startswith("pickle"):
        path.write_bytes(pickle.dumps(payload, protocol=int(kind[-1])))
    else:
        torch.save(payload, path, _use_new_zipfile_serialization=(kind == "torch_zip"))
    assert not marker.exists()
    _forbid_parsing(monkeypatch)
    with pytest.raises(CheckpointError, match="pickle/torch.save.*nacre only loads safetensors"):
        load_tensors(path)
    assert not marker.exists()


def test_plain_torch_save_refused_in_a_checkpoint_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = save_checkpoint(tmp_path / "step_1", {"w": torch.ones(2)}, "seed: 0\n", {})
    torch.save({"w": torch.zeros(2)}, folder / MODEL_FILE)
    _forbid_parsing(monkeypatch)
    with pytest.raises(CheckpointError, match="looks like a pickle/torch.save file") as info:
        load_checkpoint(folder)
    assert str(folder / MODEL_FILE) in str(info.value)


def test_a_real_header_length_starting_with_0x80_is_not_taken_for_a_pickle(
    tmp_path: Path,
) -> None:
    raw = json.dumps({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    raw = raw.ljust(0x280)  # length 640 = 80 02 00 ..., like the start of a protocol-2 pickle
    data = torch.tensor([1.5, -2.0]).numpy().tobytes()
    path = tmp_path / MODEL_FILE
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data)
    assert path.read_bytes()[:2] == b"\x80\x02"
    assert torch.equal(load_tensors(path)["x"], torch.tensor([1.5, -2.0]))


def _refused(path: Path) -> CheckpointError:
    with pytest.raises(CheckpointError) as info:
        load_tensors(path)
    assert str(path) in str(info.value)  # the error names the file
    return info.value


def test_truncated_files_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.safetensors"
    save_tensors({"a": torch.arange(10), "b": torch.ones(2, 2)}, good)
    raw = good.read_bytes()
    bad = tmp_path / MODEL_FILE
    for cut in (0, 3, 8, 20, len(raw) - 1):
        bad.write_bytes(raw[:cut])
        _refused(bad)
    bad.write_bytes(raw + b"\0")  # trailing garbage is not described by the header
    _refused(bad)
    bad.write_bytes((10**12).to_bytes(8, "little") + raw[8:])  # absurd header size
    _refused(bad)


def test_garbage_files_refused(tmp_path: Path) -> None:
    path = tmp_path / MODEL_FILE
    for data in (b"\x00" * 64, os.urandom(4096), b"PK\x03\x04" + os.urandom(100),
                 b"\x80\x05" + os.urandom(100), b"hello world, not a tensor file\n"):
        path.write_bytes(data)
        _refused(path)
    _refused(tmp_path / "missing.safetensors")
    _refused(tmp_path)  # a folder, not a file


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
        ({"x": _entry(dtype="PICKLE")}, bytes(8)),  # unknown dtype
        ({"x": _entry(shape=[-2])}, bytes(8)),  # bad shape
        ({"x": {"dtype": "F32", "shape": [2]}}, bytes(8)),  # missing offsets
        ({"x": [1, 2]}, bytes(8)),  # entry not an object
        ({"__metadata__": {"k": 1}, "x": _entry()}, bytes(8)),  # non-string metadata
    ],
)
def test_malformed_headers_refused(tmp_path: Path, header: dict[str, object], data: bytes) -> None:
    raw = json.dumps(header).encode()
    path = tmp_path / MODEL_FILE
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data)
    _refused(path)


def test_bad_json_refused(tmp_path: Path) -> None:
    path = tmp_path / MODEL_FILE
    for raw in (b"{not json", b"\xff\xfe{}", b"[1, 2]"):
        path.write_bytes(len(raw).to_bytes(8, "little") + raw)
        _refused(path)
