"""A small, self-contained reader and writer of the safetensors file format.

Format (https://huggingface.co/docs/safetensors, "Format" section): an 8-byte little-endian
unsigned integer ``N``, then ``N`` bytes of UTF-8 JSON (possibly padded with spaces) mapping each
tensor name to ``{"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}``, with offsets
relative to the byte buffer that follows the header, plus an optional ``"__metadata__"`` mapping
of str to str. Tensor data is contiguous, little-endian, row-major, and covers the buffer without
holes or overlaps.

Why not ``torch.save`` / ``torch.load``: those use pickle, and unpickling a file can run arbitrary
code. A safetensors file is only a JSON header plus raw bytes, so loading one cannot execute
anything. nacre therefore never unpickles, and this module refuses pickle/zip files outright.
It deliberately does not depend on the ``safetensors`` package (nacre depends only on torch,
numpy and gymnasium); tests cross-check it against that package.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from collections.abc import Mapping
from typing import IO, Any

import torch

__all__ = ["UnsafeFileError", "load_metadata", "load_tensors", "save_tensors"]

_MAX_HEADER = 100 * 1024 * 1024
_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}  # fmt: skip
_NAMES: dict[torch.dtype, str] = {v: k for k, v in _DTYPES.items()}
_Entry = tuple[str, torch.dtype, list[int], int, int]
PathLike = str | os.PathLike[str]


class UnsafeFileError(ValueError):
    """The file is not a well-formed safetensors file (e.g. a pickle) and was not loaded."""


def _check_byteorder() -> None:
    if sys.byteorder != "little":  # pragma: no cover - nacre only targets little-endian hosts
        raise RuntimeError("nacre.train.tensorfile only supports little-endian hosts")


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _read_header(f: IO[bytes], path: PathLike) -> tuple[list[_Entry], dict[str, str], int]:
    """Parse and validate the header; return (entries sorted by offset, metadata, data start)."""
    size = os.fstat(f.fileno()).st_size
    head = f.read(8)
    n = int.from_bytes(head, "little")
    bad_size = len(head) < 8 or n > _MAX_HEADER or n > size - 8
    # zip (torch.save) or pickle protocol >= 2 magic; only when the prefix is not a sane size,
    # since a genuine header size such as 640 also starts with byte 0x80.
    if bad_size and (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        raise UnsafeFileError(
            f"refusing to load {path}: it looks like a pickle/torch.save file; "
            "nacre only loads safetensors"
        )
    if len(head) < 8:
        raise UnsafeFileError(f"{path}: truncated file ({size} bytes), not safetensors")
    if bad_size:
        raise UnsafeFileError(f"{path}: header size {n} is invalid for a {size}-byte file")
    try:
        header = json.loads(f.read(n).decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as e:
        raise UnsafeFileError(f"{path}: invalid safetensors JSON header: {e}") from None
    if not isinstance(header, dict):
        raise UnsafeFileError(f"{path}: safetensors header is not a JSON object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise UnsafeFileError(f"{path}: __metadata__ must map str to str")
    entries: list[_Entry] = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise UnsafeFileError(f"{path}: malformed entry for tensor {name!r}")
        dtype, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(dtype, str) or dtype not in _DTYPES:
            raise UnsafeFileError(f"{path}: tensor {name!r} has unsupported dtype {dtype!r}")
        if not isinstance(shape, list) or not all(_is_int(d) for d in shape):
            raise UnsafeFileError(f"{path}: tensor {name!r} has invalid shape {shape!r}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(_is_int(o) for o in offs)):
            raise UnsafeFileError(f"{path}: tensor {name!r} has invalid data_offsets {offs!r}")
        td = _DTYPES[dtype]
        nbytes = math.prod(shape) * td.itemsize
        if offs[1] - offs[0] != nbytes:
            raise UnsafeFileError(
                f"{path}: tensor {name!r} data_offsets {offs} do not match shape {shape} × "
                f"{td.itemsize} bytes"
            )
        entries.append((name, td, shape, offs[0], offs[1]))
    entries.sort(key=lambda e: (e[3], e[4]))
    buffer_len, pos = size - 8 - n, 0
    for name, _, _, begin, end in entries:
        if begin != pos:
            raise UnsafeFileError(f"{path}: tensor {name!r} data overlaps or leaves a gap")
        pos = end
    if pos != buffer_len:
        raise UnsafeFileError(f"{path}: data buffer is {buffer_len} bytes, header describes {pos}")
    return entries, meta, 8 + n


def load_metadata(path: PathLike) -> dict[str, str]:
    """Return the ``__metadata__`` mapping of a safetensors file (empty if absent)."""
    with open(path, "rb") as f:
        return _read_header(f, path)[1]


def load_tensors(path: PathLike, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load every tensor of a safetensors file; each owns writable memory. Never unpickles."""
    _check_byteorder()
    with open(path, "rb") as f:
        entries, _, start = _read_header(f, path)
        f.seek(start)
        data = f.read()
    out: dict[str, torch.Tensor] = {}
    for name, dtype, shape, begin, end in entries:
        if begin == end:
            t = torch.empty(shape, dtype=dtype)
        else:  # a fresh bytearray per tensor: aligned, writable, owned only by the tensor
            t = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype).reshape(shape)
        out[name] = t.to(device)
    return out


def save_tensors(
    tensors: Mapping[str, torch.Tensor],
    path: PathLike,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Atomically write ``tensors`` (moved to CPU, contiguous) as a safetensors file."""
    _check_byteorder()
    header: dict[str, Any] = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("safetensors metadata must map str to str")
        header["__metadata__"] = dict(metadata)
    blobs: list[bytes] = []
    pos = 0
    for name in sorted(tensors):
        t = tensors[name]
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"invalid tensor name {name!r}")
        if not isinstance(t, torch.Tensor) or t.dtype not in _NAMES:
            raise TypeError(f"tensor {name!r}: unsupported type/dtype {getattr(t, 'dtype', t)}")
        # A fresh tensor has canonical strides (size-1 dims may carry stride 0 otherwise,
        # which .contiguous() keeps and .view(uint8) rejects).
        t = torch.empty(t.shape, dtype=t.dtype).copy_(t.detach())
        blob = t.reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {
            "dtype": _NAMES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [pos, pos + len(blob)],
        }
        blobs.append(blob)
        pos += len(blob)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(len(raw).to_bytes(8, "little"))
            f.write(raw)
            for blob in blobs:
                f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
