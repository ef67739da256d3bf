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
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nacre.errors import CheckpointError
from nacre.train.tensorfile import UnsafeFileError, load_tensors, save_tensors

MODEL_FILE = "model.safetensors"
STATE_FILE = "state.json"
CONFIG_FILE = "config.yaml"


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

    from nacre import __version__

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
    try:
        tensors = load_tensors(path / MODEL_FILE)
    except UnsafeFileError as exc:
        raise CheckpointError(str(exc)) from exc
    try:
        state = json.loads((path / STATE_FILE).read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path / STATE_FILE} is not valid JSON: {exc}") from exc
    return unflatten_tree(state["agent"], tensors), state["extra"], (path / CONFIG_FILE).read_text()


def latest_checkpoint(run_dir: str | Path) -> Path:
    """The newest complete checkpoint of a run folder."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    found = sorted(p for p in ckpt_dir.glob("step_*") if p.is_dir()) if ckpt_dir.is_dir() else []
    if not found:
        raise CheckpointError(f"{run_dir} has no checkpoints (looked in {ckpt_dir})")
    return found[-1]
