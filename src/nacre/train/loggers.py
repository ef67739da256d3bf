"""Metric loggers: JSON lines (always) and TensorBoard (optional extra)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Protocol

from nacre.errors import require


class Logger(Protocol):
    def log(self, row: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class JSONLLogger:
    """Appends one JSON object per row to ``metrics.jsonl`` (flushed per row)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a")  # noqa: SIM115 - kept open for the run

    def log(self, row: dict[str, Any]) -> None:
        self._fh.write(json.dumps({k: _clean(v) for k, v in row.items()}) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


class TensorBoardLogger:
    """Writes scalars with ``torch.utils.tensorboard`` (``pip install "nacre[tensorboard]"``;
    without it, :class:`~nacre.errors.MissingExtraError`)."""

    def __init__(self, log_dir: str | Path) -> None:
        tensorboard = require("torch.utils.tensorboard", "tensorboard")
        self._writer = tensorboard.SummaryWriter(str(log_dir))

    def log(self, row: dict[str, Any]) -> None:
        step = int(row.get("env_steps", 0))
        for key, value in row.items():
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if key != "env_steps" and numeric:
                self._writer.add_scalar(key, value, step)

    def close(self) -> None:
        self._writer.close()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a ``metrics.jsonl`` file."""
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def truncate_metrics(path: str | Path, step: int, key: str = "env_steps") -> None:
    """Drop the rows of ``metrics.jsonl`` written after the checkpoint a run resumes from
    (``row[key] > step``: they will be produced again), and lines cut short by a hard kill."""
    path = Path(path)
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row.get(key, 0) <= step:
            keep.append(line)
    path.write_text("".join(line + "\n" for line in keep))
