"""Checkpoints: a folder of safetensors + YAML + JSON, written atomically, loaded without pickle.

Layout::

    step_000050000/
      model.safetensors   every tensor: networks, optimizer moments, replay storage, RNG states
      config.yaml         the run config
      state.json          counters, non-tensor state (as a tree), versions, git revision

The agent's state is a tree of dicts/lists whose leaves are tensors or JSON scalars. Tensors go to
safetensors under their tree path; the JSON keeps the tree with ``{"__tensor__": path}`` markers.
The folder is written under a temporary name and renamed into place, so a crash never leaves a
half-written checkpoint that looks complete.

Tensors are never stored with ``torch.save``: it pickles, and unpickling a file can run arbitrary
code. A safetensors file is a JSON header plus raw bytes, so loading one runs nothing; and a
pickle or zip file handed to nacre as ``model.safetensors`` is refused before any parser sees it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from safetensors import SafetensorError, safe_open
from torch import Tensor

from nacre.errors import CheckpointError

MODEL_FILE = "model.safetensors"
STATE_FILE = "state.json"
CONFIG_FILE = "config.yaml"

_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default format is a zip of pickles
_PICKLE_MAGIC = b"\x80"  # the PROTO opcode that starts every pickle of protocol 2 and above
_MAX_HEADER = 100 * 1024 * 1024  # the largest JSON header safetensors accepts


def flatten_tree(tree: Any, prefix: str = "") -> tuple[Any, dict[str, Tensor]]:
    """Split a tree into (JSON-able skeleton, {path: tensor})."""
    tensors: dict[str, Tensor] = {}

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, Tensor):
            tensors[path] = node
            return {"__tensor__": path}
        if isinstance(node, dict):
            return {str(k): walk(v, f"{path}/{k}" if path else str(k)) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [walk(v, f"{path}/{i}") for i, v in enumerate(node)]
        if isinstance(node, np.generic):
            return node.item()
        if isinstance(node, bool | int | float | str) or node is None:
            return node
        raise CheckpointError(f"cannot checkpoint {path!r}: unsupported type {type(node).__name__}")

    return walk(tree, prefix), tensors


def unflatten_tree(skeleton: Any, tensors: dict[str, Tensor]) -> Any:
    if isinstance(skeleton, dict):
        if set(skeleton) == {"__tensor__"}:
            path = skeleton["__tensor__"]
            if path not in tensors:
                raise CheckpointError(f"checkpoint is missing tensor {path!r}")
            return tensors[path]
        return {k: unflatten_tree(v, tensors) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [unflatten_tree(v, tensors) for v in skeleton]
    return skeleton


def _git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def versions() -> dict[str, Any]:
    import gymnasium

    from nacre.version import __version__

    return {
        "nacre": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "gymnasium": gymnasium.__version__,
        "python": platform.python_version(),
        "git": _git_revision(),
    }


def save_checkpoint(
    path: str | Path, agent_state: dict[str, Any], config_yaml: str, extra: dict[str, Any]
) -> Path:
    """Write a checkpoint folder atomically (temp folder + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    skeleton, tensors = flatten_tree(agent_state)
    save_tensors(tensors, tmp / MODEL_FILE)
    (tmp / CONFIG_FILE).write_text(config_yaml)
    state = {"agent": skeleton, "extra": extra, "versions": versions(), "saved_at": time.time()}
    with open(tmp / STATE_FILE, "w") as fh:
        json.dump(state, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    if path.exists():
        old = path.parent / f".{path.name}.old-{os.getpid()}"
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old)
    else:
        os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Read a checkpoint folder: ``(agent_state, extra, config_yaml)``. Never unpickles."""
    path = Path(path)
    for name in (MODEL_FILE, STATE_FILE, CONFIG_FILE):
        if not (path / name).is_file():
            raise CheckpointError(f"{path} is not a nacre checkpoint: {name} is missing")
    tensors = load_tensors(path / MODEL_FILE)
    try:
        state = json.loads((path / STATE_FILE).read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path / STATE_FILE} is not valid JSON: {exc}") from exc
    return unflatten_tree(state["agent"], tensors), state["extra"], (path / CONFIG_FILE).read_text()


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


def load_tensors(path: str | Path) -> dict[str, Tensor]:
    """Every tensor of a safetensors file, on the CPU, each owning writable memory.

    Never unpickles: a pickle or torch.save file is refused before safetensors parses anything,
    and every problem with the file is a :class:`CheckpointError` naming it.
    """
    path = Path(path)
    _refuse_pickle(path)
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            # safetensors may serve tensors straight from its memory map of the file; a clone
            # owns its memory, so the state stays valid and writable after the file is closed.
            names = f.keys()
            return {name: f.get_tensor(name).clone() for name in names}
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a valid safetensors file: {exc}") from exc


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


def latest_checkpoint(run_dir: str | Path) -> Path:
    """The newest complete checkpoint of a run folder."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    found = sorted(p for p in ckpt_dir.glob("step_*") if p.is_dir()) if ckpt_dir.is_dir() else []
    if not found:
        raise CheckpointError(f"{run_dir} has no checkpoints (looked in {ckpt_dir})")
    return found[-1]
