"""The model registry: a folder of numbered model versions, which one serves, which one is in
shadow, and the record of every change.

```
REGISTRY/
  versions/000001/agent/         the saved agent (safetensors + JSON + YAML, nacre.load)
  versions/000001/version.json   where it came from: parent, source, events learned, metrics
  state.json                     {"production": 1, "candidate": 2}
  history.jsonl                  one line per change: created, candidate, promoted, rejected,
                                 rolled back — with the evidence (OPE estimates) behind it
```

Every change is made under a file lock (several processes — the service, ``nacre
learn-from-log``, ``nacre promote`` — share one registry), ``state.json`` is replaced
atomically, and the history line is fsynced before the state changes, so the record never
misses a change that happened. The service watches ``state.json`` and swaps models when it
changes.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nacre.agent import Agent
from nacre.errors import ConfigError
from nacre.train.run import load

STATE = "state.json"
HISTORY = "history.jsonl"


class ModelRegistry:
    """Numbered model versions in a folder (see the module docstring).

    Example:
        >>> import nacre, tempfile
        >>> from nacre.serve import ModelRegistry
        >>> agent = nacre.build(nacre.load_preset("synthetic-lints")).agent
        >>> reg = ModelRegistry.create(tempfile.mkdtemp() + "/reg", agent, source="example")
        >>> reg.production, reg.candidate
        (1, None)
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not (self.path / STATE).is_file():
            raise ConfigError(f"{self.path} is not a model registry (no {STATE}): create one "
                              "with `nacre serve RUN_DIR --registry DIR`")

    @classmethod
    def create(cls, path: str | Path, agent: Agent, *, source: str) -> ModelRegistry:
        """A new registry whose version 1, in production, is ``agent``."""
        path = Path(path)
        if path.exists() and any(path.iterdir()):
            raise ConfigError(f"{path} exists and is not empty: choose a new registry folder")
        path.mkdir(parents=True, exist_ok=True)
        _write_json(path / STATE, {"production": None, "candidate": None})
        reg = cls(path)
        version = reg.add(agent, source=source, parent=None, trained_through_seq=0)
        with reg._locked():
            reg._change("created", production=version)
        return reg

    # ------------------------------------------------------------------ reading
    def state(self) -> dict[str, int | None]:
        state: dict[str, int | None] = json.loads((self.path / STATE).read_text())
        return state

    @property
    def production(self) -> int:
        version = self.state()["production"]
        if version is None:
            raise ConfigError(f"{self.path} has no production version")
        return version

    @property
    def candidate(self) -> int | None:
        return self.state()["candidate"]

    def versions(self) -> list[int]:
        folder = self.path / "versions"
        return sorted(int(p.name) for p in folder.iterdir()
                      if (p / "version.json").is_file()) if folder.is_dir() else []

    def info(self, version: int) -> dict[str, Any]:
        """``version.json`` of ``version``: parent, source, created, events learned, metrics."""
        path = self._folder(version) / "version.json"
        if not path.is_file():
            raise ConfigError(f"{self.path} has no version {version}; it has {self.versions()}")
        info: dict[str, Any] = json.loads(path.read_text())
        return info

    def load(self, version: int) -> Agent:
        self.info(version)  # a clear error for a missing version
        return load(self._folder(version) / "agent")

    def history(self) -> list[dict[str, Any]]:
        path = self.path / HISTORY
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def state_mtime(self) -> int:
        """When ``state.json`` last changed (ns): what the service polls."""
        return (self.path / STATE).stat().st_mtime_ns

    # ------------------------------------------------------------------ changing
    def add(self, agent: Agent, *, source: str, parent: int | None,
            trained_through_seq: int, metrics: dict[str, Any] | None = None) -> int:
        """Save ``agent`` as the next version (neither served nor in shadow yet)."""
        with self._locked():
            version = max(self.versions(), default=0) + 1
            folder = self._folder(version)
            agent.save(folder / "agent")
            _write_json(folder / "version.json", {
                "version": version, "parent": parent, "source": source, "created": time.time(),
                "trained_through_seq": trained_through_seq, "metrics": metrics or {}})
        return version

    def set_candidate(self, version: int | None) -> None:
        """Put ``version`` in shadow (None: no candidate)."""
        if version is not None:
            self.info(version)
        with self._locked():
            self._change("candidate", candidate=version)

    def promote(self, version: int, evidence: dict[str, Any]) -> None:
        """Serve ``version``; the old production version is what :meth:`rollback` returns to."""
        self.info(version)
        with self._locked():
            state = self.state()
            if state["production"] == version:
                raise ConfigError(f"version {version} is already in production")
            self._change("promoted", production=version,
                         candidate=None if state["candidate"] == version else state["candidate"],
                         previous=state["production"], evidence=evidence)

    def reject(self, version: int, evidence: dict[str, Any]) -> None:
        """Record that ``version`` was not promoted (and take it out of shadow)."""
        with self._locked():
            state = self.state()
            self._change("rejected", version=version,
                         candidate=None if state["candidate"] == version else state["candidate"],
                         evidence=evidence)

    def rollback(self, reason: str = "") -> int:
        """Serve the version that was in production before the last promotion; returns it."""
        with self._locked():
            current = self.state()["production"]
            previous = [e["previous"] for e in self.history()
                        if e["event"] == "promoted" and e["production"] == current]
            if not previous:
                raise ConfigError(f"version {current} was not promoted from another: nothing "
                                  "to roll back to")
            self._change("rolled_back", production=previous[-1], previous=current,
                         reason=reason)
            return int(previous[-1])

    # ------------------------------------------------------------------ internals
    def _folder(self, version: int) -> Path:
        return self.path / "versions" / f"{version:06d}"

    def _change(self, event: str, **fields: Any) -> None:
        """Record ``event`` (fsynced), then apply the state fields it changes."""
        state = self.state()
        entry = {"event": event, "time": time.time(), **state, **fields}
        with open(self.path / HISTORY, "a") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())
        state.update({k: v for k, v in fields.items() if k in ("production", "candidate")})
        _write_json(self.path / STATE, state)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.path / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _write_json(path: Path, value: dict[str, Any]) -> None:
    """Write ``value`` so that a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write(json.dumps(value, indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


__all__ = ["ModelRegistry"]
