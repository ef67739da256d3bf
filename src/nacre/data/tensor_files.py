"""Safetensors files written atomically and read without pickle, their header checked before
any data is read (checkpoints and datasets both keep their tensors this way)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
from safetensors import SafetensorError, safe_open
from torch import Tensor

from nacre.data.validate import available_memory
from nacre.errors import CheckpointError

_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default format is a zip of pickles
_PICKLE_MAGIC = b"\x80"  # the PROTO opcode that starts every pickle of protocol 2 and above
_MAX_HEADER = 100 * 1024 * 1024  # the largest JSON header safetensors accepts

# bytes per element of each safetensors dtype name (what the header says, before reading data)
_DTYPES: dict[str, tuple[torch.dtype, int]] = {
    "BOOL": (torch.bool, 1), "U8": (torch.uint8, 1), "I8": (torch.int8, 1),
    "I16": (torch.int16, 2), "U16": (torch.uint16, 2), "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2), "I32": (torch.int32, 4), "U32": (torch.uint32, 4),
    "F32": (torch.float32, 4), "I64": (torch.int64, 8), "U64": (torch.uint64, 8),
    "F64": (torch.float64, 8),
}

TensorSpec = tuple[tuple[int, ...], torch.dtype]


def save_tensors(tensors: Mapping[str, Tensor], path: str | Path) -> None:
    """Write ``tensors`` as a safetensors file atomically (temp file, fsync, rename)."""
    # safetensors wants contiguous CPU tensors that share no memory; a fresh copy of each is all
    # three, whatever views, slices or tied weights the state holds. (``.contiguous()`` is not
    # enough: it can keep a size-1 dimension's odd stride, and keeps shared storage shared.)
    owned = {name: torch.empty(t.shape, dtype=t.dtype).copy_(t.detach())
             for name, t in tensors.items()}
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        safetensors.torch.save_file(owned, tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_tensors(path: str | Path, referenced: set[str] | None = None,
                 expected: Mapping[str, TensorSpec] | None = None,
                 skip: tuple[str, ...] = ()) -> dict[str, Tensor]:
    """Every tensor of a safetensors file, on the CPU, each owning writable memory.

    Never unpickles: a pickle or torch.save file is refused before safetensors parses anything,
    and every problem with the file is a :class:`CheckpointError` naming it. The header is
    checked before any data is read: with ``referenced``, its tensors must be exactly those;
    with ``expected``, a tensor of that name must have that shape and dtype; and all of them
    together must fit in the memory available. Tensors whose names start with one of ``skip``
    are checked but not read.
    """
    path = Path(path)
    _refuse_pickle(path)
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            names = list(f.keys())
            _check_header(path, {n: (tuple(f.get_slice(n).get_shape()), f.get_slice(n).get_dtype())
                                 for n in names}, referenced, expected or {})
            names = [n for n in names if not n.startswith(skip)] if skip else names
            # safetensors may serve tensors straight from its memory map of the file; a clone
            # owns its memory, so the state stays valid and writable after the file is closed.
            return {name: f.get_tensor(name).clone() for name in names}
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{path} is not a valid safetensors file: {exc}") from exc


def _check_header(path: Path, header: Mapping[str, tuple[tuple[int, ...], str]],
                  referenced: set[str] | None, expected: Mapping[str, TensorSpec]) -> None:
    if referenced is not None:
        missing, unknown = sorted(referenced - set(header)), sorted(set(header) - referenced)
        if missing:
            raise CheckpointError(f"{path} is missing tensor {missing[0]!r} (of {len(missing)})")
        if unknown:
            raise CheckpointError(f"{path} holds tensor {unknown[0]!r} that its state.json does "
                                  f"not refer to (of {len(unknown)})")
    total = 0
    for name, (shape, dtype_name) in header.items():
        if dtype_name not in _DTYPES:
            raise CheckpointError(f"{path}: tensor {name!r} has unsupported dtype {dtype_name}")
        dtype, itemsize = _DTYPES[dtype_name]
        if name in expected and expected[name] != (shape, dtype):
            want_shape, want_dtype = expected[name]
            raise CheckpointError(
                f"{path}: tensor {name!r} is {list(shape)} {dtype}, but this run's agent has "
                f"{list(want_shape)} {want_dtype}: the checkpoint belongs to another "
                "configuration (another preset, network or environment)")
        total += int(np.prod(shape, dtype=np.float64)) * itemsize
    available = available_memory()
    if total > available:
        raise CheckpointError(f"{path} holds {total / 2**30:.2f} GiB of tensors, more than the "
                              f"{available / 2**30:.2f} GiB of memory available")


def _refuse_pickle(path: Path) -> None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            size = os.fstat(fh.fileno()).st_size
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from exc
    # A safetensors file starts with its header length, which may itself begin with byte 0x80
    # (640, say); so only a prefix that is not a plausible length for this file counts.
    header_len = int.from_bytes(head, "little")
    plausible = len(head) == 8 and header_len <= min(size - 8, _MAX_HEADER)
    if not plausible and (head.startswith(_ZIP_MAGIC) or head.startswith(_PICKLE_MAGIC)):
        raise CheckpointError(
            f"refusing to load {path}: it looks like a pickle/torch.save file; "
            "nacre only loads safetensors"
        )


__all__ = ["TensorSpec", "load_tensors", "save_tensors"]
