"""The decision log: every decision the service made, with its propensity, and the rewards
joined to it later — durable before it is acknowledged.

Any SQLAlchemy URL works (PostgreSQL in production); the default is a SQLite file in WAL mode
with ``synchronous=FULL``, so a committed transaction is on disk when the commit returns, and a
crash or SIGKILL loses nothing that was acknowledged (SQLite's WAL documentation).

The service's writes go through a writer process of its own (:mod:`nacre.serve.writer`) that
commits in groups and acknowledges each request once its transaction is committed.

Contexts, candidate features and continuous actions are stored as raw float32 bytes: compact,
fast to write, and read back with NumPy, never unpickled.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select, text

from nacre.errors import ConfigError
from nacre.serve.sql import DECISIONS, INFO, METADATA, REWARDS, Statements, engine_for
from nacre.serve.writer import LogWriteError, WriterProcess


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path)}"


class DecisionLog:
    """Decisions and rewards in a database; the service writes through a group-committing
    writer process (:meth:`start`, :meth:`commit`), tools and tests with :meth:`write`.

    Args:
        url: an SQLAlchemy URL (``sqlite:///decisions.db``, ``postgresql://…``).
        layout: ``{"observation_shape": [...], "action": "discrete" | "box", ...}``: what the
            logged arrays are; written on first use, compared when the log is reopened.
    """

    def __init__(self, url: str, layout: dict[str, Any] | None = None) -> None:
        self.url = url
        self.engine = engine_for(url)
        # what messages, the registry and the console show: never a password
        self.name = self.engine.url.render_as_string(hide_password=True)
        METADATA.create_all(self.engine)
        self.statements = Statements(self.engine.dialect)
        self.layout = self._check_layout(layout)
        self._writer: WriterProcess | None = None
        self.on_commit: Callable[[float, int], None] | None = None  # (seconds, requests)

    # ------------------------------------------------------------------ writing
    def start(self) -> None:
        """Start the writer process (the service calls this once, before it serves)."""
        if self._writer is None:
            self._writer = WriterProcess(self.url, on_commit=self._committed)

    def _committed(self, seconds: float, requests: int) -> None:
        if self.on_commit is not None:  # set by the service's metrics after start()
            self.on_commit(seconds, requests)

    async def commit(self, decisions: Sequence[dict[str, Any]] = (),
                     rewards: Sequence[dict[str, Any]] = ()) -> list[str]:
        """Send rows to the writer and wait, in the event loop, until their transaction is
        committed; the status of each reward. Raises :class:`LogWriteError` if it was not."""
        if self._writer is None:
            raise ConfigError("the decision log's writer is not running: call log.start()")
        return await self._writer.commit(decisions, rewards)

    def write(self, decisions: Sequence[dict[str, Any]] = (),
              rewards: Sequence[dict[str, Any]] = ()) -> list[str]:
        """Write rows now, in this thread (tests, tools); the status of each reward."""
        conn = self.engine.raw_connection()
        try:
            statuses = self.statements.insert(conn.cursor(), decisions, rewards)
            conn.commit()
            return statuses
        finally:
            conn.close()  # back to the pool, rolled back if the commit did not happen

    @property
    def queued(self) -> int:
        """Requests sent to the writer and not yet committed."""
        return 0 if self._writer is None else self._writer.queued

    @property
    def writer_pid(self) -> int | None:
        """The writer process's id (None: not started, or exited — the id may be another
        process's by now)."""
        if self._writer is None or not self._writer.process.is_alive():
            return None
        return self._writer.pid

    @property
    def commits(self) -> int:
        """Transactions the writer committed."""
        return 0 if self._writer is None else self._writer.commits

    def close(self) -> None:
        """Let the writer commit what it was sent, stop it, and release the database."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as conn:  # fold the WAL into the database file
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.commit()
        self.engine.dispose()

    # ------------------------------------------------------------------ reading
    def counts(self) -> dict[str, int]:
        """Decisions, rewards, and decisions with a reward."""
        with self.engine.connect() as conn:
            n_dec = conn.execute(text("SELECT COUNT(*) FROM decisions")).scalar_one()
            n_rew = conn.execute(text("SELECT COUNT(*) FROM rewards")).scalar_one()
            joined = conn.execute(text("SELECT COUNT(*) FROM decisions d JOIN rewards r "
                                       "ON d.event_id = r.event_id")).scalar_one()
        return {"decisions": int(n_dec), "rewards": int(n_rew), "joined": int(joined)}

    def event_ids(self, table: str = "decisions") -> set[str]:
        """Every event id in ``decisions`` or ``rewards`` (durability checks)."""
        source = {"decisions": DECISIONS, "rewards": REWARDS}[table]
        with self.engine.connect() as conn:
            return {row[0] for row in conn.execute(select(source.c.event_id))}

    def joined(self, after_seq: int = 0, through_seq: int | None = None) -> dict[str, np.ndarray]:
        """Decisions with a reward, in decision order: ``seq, context [N, *obs_shape], action,
        propensity, reward, cost, model_version`` (+ ``shadow_*`` where logged)."""
        query = (select(DECISIONS, REWARDS.c.reward, REWARDS.c.cost)
                 .join(REWARDS, DECISIONS.c.event_id == REWARDS.c.event_id)
                 .where(DECISIONS.c.seq > after_seq).order_by(DECISIONS.c.seq))
        if through_seq is not None:
            query = query.where(DECISIONS.c.seq <= through_seq)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        shape = tuple(self.layout["observation_shape"])
        out: dict[str, np.ndarray] = {
            "seq": np.array([r["seq"] for r in rows], np.int64),
            "context": _floats([r["context"] for r in rows], shape),
            "propensity": np.array([r["propensity"] for r in rows], np.float64),
            "reward": np.array([r["reward"] for r in rows], np.float64),
            "cost": np.array([np.nan if r["cost"] is None else r["cost"] for r in rows]),
            "model_version": np.array([r["model_version"] for r in rows], np.int64),
        }
        if self.layout["action"] == "discrete":
            out["action"] = np.array([r["action"] for r in rows], np.int64)
        else:
            out["action"] = _floats([r["action_values"] for r in rows],
                                    tuple(self.layout["action_shape"]))
        if any(r["candidates"] is not None for r in rows):
            raise ConfigError("the log holds requests with candidate actions: turning them "
                              "into a dataset (candidate sets per row) is not supported yet")
        return out

    def last_seq(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text("SELECT COALESCE(MAX(seq), 0) FROM decisions"))
                       .scalar_one())

    # ------------------------------------------------------------------ layout
    def _check_layout(self, layout: dict[str, Any] | None) -> dict[str, Any]:
        with self.engine.begin() as conn:
            stored = conn.execute(select(INFO.c.value).where(INFO.c.key == "layout")).first()
            if stored is None:
                if layout is None:
                    raise ConfigError(f"{self.name} holds no decision log (no layout): serve "
                                      "a model into it first")
                conn.execute(INFO.insert().values(key="layout", value=json.dumps(layout)))
                return layout
        found: dict[str, Any] = json.loads(stored[0])
        if layout is not None and layout != found:
            raise ConfigError(f"{self.name} logs decisions of another kind of model ({found}); "
                              f"this one is {layout}: give the service another log")
        return found


def _floats(blobs: list[bytes], shape: tuple[int, ...]) -> np.ndarray:
    flat = np.frombuffer(b"".join(blobs), np.float32)
    return flat.reshape((len(blobs), *shape)).copy()


__all__ = ["DECISIONS", "INFO", "REWARDS", "DecisionLog", "LogWriteError", "sqlite_url"]
