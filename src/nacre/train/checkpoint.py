"""Checkpoints: a folder of safetensors + YAML + JSON, written atomically, loaded without pickle.

Layout::

    step_000050000/
      model.safetensors   every tensor: networks, optimizer moments, replay storage, RNG states
      config.yaml         the run config
      state.json          counters, non-tensor state (as a tree), versions, git revision

The agent's state is a tree of dicts/lists whose leaves are tensors or JSON scalars. Tensors go to
safetensors under their tree path; the JSON keeps the tree with ``{"__tensor__": path}`` markers.
The folder is written under a temporary name and renamed into place, so a crash never leaves a
half-written checkpoint that looks complete; :func:`latest_checkpoint` picks the newest complete
one and :func:`remove_stale_temporaries` clears what a killed process left behind.

Loading trusts nothing in the folder: ``state.json`` is read within a size limit and validated
against a schema (unknown fields refused), and the safetensors header is checked — every tensor
referenced, shapes and dtypes as the caller expects, the total within the memory available —
before any tensor data is read.

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
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import numpy as np
import pydantic
import torch
from torch import Tensor

from nacre.data.tensor_files import TensorSpec, load_tensors, save_tensors
from nacre.errors import CheckpointError

MODEL_FILE = "model.safetensors"
STATE_FILE = "state.json"
CONFIG_FILE = "config.yaml"

_MAX_STATE_JSON = 64 * 1024 * 1024  # state.json holds counters and small env states, not data
FORMAT: Literal["nacre-checkpoint"] = "nacre-checkpoint"
FORMAT_VERSION = 1

STRICT = pydantic.ConfigDict(extra="forbid", strict=True)
ExtraT = TypeVar("ExtraT")


class CheckpointState(pydantic.BaseModel, Generic[ExtraT]):
    """The schema of ``state.json``, with the schema of its ``extra`` (what the saver adds: the
    training loop's is :class:`nacre.train.events.RunExtra`) as parameter. Version 0 is what
    nacre 0.1 wrote: no ``format`` and ``version`` fields, otherwise the same."""

    model_config = STRICT

    format: Literal["nacre-checkpoint"] = FORMAT
    version: Literal[0, 1] = 0
    agent: dict[str, pydantic.JsonValue]
    extra: ExtraT
    versions: dict[str, pydantic.JsonValue]
    saved_at: float


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
    state = {"format": FORMAT, "version": FORMAT_VERSION, "agent": skeleton, "extra": extra,
             "versions": versions(), "saved_at": time.time()}
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


def load_checkpoint(
    path: str | Path, expected: Mapping[str, TensorSpec] | None = None,
    extra_schema: Any = dict[str, pydantic.JsonValue], skip: tuple[str, ...] = (),
) -> tuple[dict[str, Any], Any, str]:
    """Read a checkpoint folder: ``(agent_state, extra, config_yaml)``. Never unpickles.

    ``expected`` maps tensor paths to the (shape, dtype) the caller's model has; a tensor of the
    checkpoint under one of those paths must match it, which is checked, like everything else
    about the file, before any tensor data is read. ``extra`` is validated against
    ``extra_schema`` (any type pydantic validates; by default a JSON mapping) and returned as
    that type. ``skip``: top-level parts of the agent's state left unread (``("buffer",)`` to
    act with an agent without loading its replay memory); they are checked all the same.
    """
    path = Path(path)
    for name in (MODEL_FILE, STATE_FILE, CONFIG_FILE):
        if not (path / name).is_file():
            raise CheckpointError(f"{path} is not a nacre checkpoint: {name} is missing")
    state = read_state(path, extra_schema)
    tensors = load_tensors(path / MODEL_FILE, referenced=_tensor_paths(state.agent, path),
                           expected=expected or {}, skip=tuple(f"{s}/" for s in skip))
    agent = {k: v for k, v in state.agent.items() if k not in skip}
    return unflatten_tree(agent, tensors), state.extra, (path / CONFIG_FILE).read_text()


def read_state(path: str | Path,
               extra_schema: Any = dict[str, pydantic.JsonValue]) -> CheckpointState[Any]:
    """A checkpoint folder's ``state.json``, validated (size, JSON, schema)."""
    file = Path(path) / STATE_FILE
    try:
        size = file.stat().st_size
        if size > _MAX_STATE_JSON:
            raise CheckpointError(f"{file} is {size:,} bytes; a checkpoint's state.json is at "
                                  f"most {_MAX_STATE_JSON:,}")
        return CheckpointState[extra_schema].model_validate_json(file.read_bytes())
    except OSError as exc:
        raise CheckpointError(f"cannot read {file}: {exc}") from exc
    except pydantic.ValidationError as exc:
        raise CheckpointError(f"{file} is not a valid nacre checkpoint state: "
                              f"{describe_validation_error(exc)}") from None


def describe_validation_error(exc: pydantic.ValidationError, limit: int = 3) -> str:
    """The first errors of a schema check, each as ``field.path: what was wrong``."""
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
             for e in exc.errors()[:limit]]
    more = exc.error_count() - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _tensor_paths(tree: Any, folder: Path) -> set[str]:
    """The tensor paths a skeleton refers to (``{"__tensor__": path}`` markers)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "__tensor__" in node:
                ref = node["__tensor__"]
                if len(node) != 1 or not isinstance(ref, str):
                    raise CheckpointError(f"{folder / STATE_FILE}: malformed tensor reference "
                                          f"{node!r}")
                found.add(ref)
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tree)
    return found


def latest_checkpoint(run_dir: str | Path) -> Path:
    """The newest complete checkpoint of a run folder (one with all three files; a folder a
    crash left incomplete is passed over)."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    found = sorted(p for p in ckpt_dir.glob("step_*") if p.is_dir()) if ckpt_dir.is_dir() else []
    complete = [p for p in found if all((p / f).is_file()
                                        for f in (MODEL_FILE, STATE_FILE, CONFIG_FILE))]
    if not complete:
        raise CheckpointError(f"{run_dir} has no complete checkpoint (looked in {ckpt_dir})")
    return complete[-1]


def remove_stale_temporaries(ckpt_dir: str | Path) -> list[Path]:
    """Remove the temporary folders (``.step_*.tmp-PID``, ``.step_*.old-PID``) that a process
    killed while saving left behind; those of a process still alive are kept. Returns what was
    removed."""
    removed = []
    for tmp in Path(ckpt_dir).glob(".step_*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if tmp.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True
