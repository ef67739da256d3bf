"""The decision log: every decision the service made, with its propensity, and the rewards
joined to it later — durable before it is acknowledged.

Any SQLAlchemy URL works (PostgreSQL in production); the default is a SQLite file in WAL mode
with ``synchronous=FULL``, so a committed transaction is on disk when the commit returns, and a
crash or SIGKILL loses nothing that was acknowledged (SQLite's WAL documentation).

One writer thread owns the connection and commits in groups: whatever requests arrived while
the previous commit was being written go into the next transaction together, and each is
acknowledged when that transaction's commit returns (group commit, as databases do for their
own logs). A lone request is written at once; under load the cost of the ``fsync`` is shared,
so the log keeps up with the service without ever acknowledging early.

Contexts, candidate features and continuous actions are stored as raw float32 bytes: compact,
fast to write, and read back with NumPy, never unpickled.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    select,
    text,
)

from nacre.errors import ConfigError

CHECKPOINT_EVERY_S = 1.0
_IN_SLICE = 10_000  # ids per "IN (...)" query
_META = MetaData()
DECISIONS = Table(
    "decisions", _META,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(32), nullable=False, unique=True),
    Column("time", Float, nullable=False),
    Column("model_version", Integer, nullable=False),
    Column("context", LargeBinary, nullable=False),  # float32 bytes, the request's context
    Column("action", Integer),  # discrete actions
    Column("action_values", LargeBinary),  # continuous actions, float32 bytes
    Column("propensity", Float, nullable=False),
    Column("candidates", LargeBinary),  # the request's candidate features [K, d_a], float32
    Column("num_candidates", Integer),
    Column("shadow_version", Integer),  # the candidate model scoring the request in shadow
    Column("shadow_action", Integer),
    Column("shadow_action_values", LargeBinary),
    Column("shadow_propensity", Float),
)
REWARDS = Table(
    "rewards", _META,
    Column("event_id", String(32), primary_key=True),
    Column("time", Float, nullable=False),
    Column("reward", Float, nullable=False),
    Column("cost", Float),
)
INFO = Table(  # what the contexts and actions are: checked when a log is reopened
    "info", _META,
    Column("key", String(64), primary_key=True),
    Column("value", String(4096), nullable=False),
)


@dataclass
class Pending:
    """Rows waiting for the writer; ``done(outcome)`` is called once they are durable
    (``outcome``: a status per reward, or an exception)."""

    decisions: list[dict[str, Any]]
    rewards: list[dict[str, Any]]
    done: Callable[[list[str] | BaseException], None]


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path)}"


class DecisionLog:
    """Decisions and rewards in a database, written by one group-committing thread.

    Args:
        url: an SQLAlchemy URL (``sqlite:///decisions.db``, ``postgresql://…``).
        layout: ``{"observation_shape": [...], "action": "discrete" | "box", ...}``: what the
            logged arrays are; written on first use, compared when the log is reopened.
        max_group: at most this many requests per transaction.
    """

    def __init__(self, url: str, layout: dict[str, Any] | None = None,
                 max_group: int = 512) -> None:
        self.url = url
        self.engine = _engine(url)
        _META.create_all(self.engine)
        self.layout = self._check_layout(layout)
        self.max_group = max_group
        self._queue: queue.Queue[Pending | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self.commits = 0  # transactions written (metrics)
        self.on_commit: Callable[[float, int], None] | None = None  # (seconds, requests)
        self._sqlite = self.engine.dialect.name == "sqlite"
        self._checkpointer: threading.Thread | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ writing
    def start(self) -> None:
        """Start the writer thread (the service calls this once)."""
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_loop, name="decision-log",
                                            daemon=True)
            self._writer.start()
        if self._sqlite and self._checkpointer is None:
            self._checkpointer = threading.Thread(target=self._checkpoint_loop,
                                                  name="decision-log-checkpoint", daemon=True)
            self._checkpointer.start()

    def submit(self, pending: Pending) -> None:
        """Queue rows; ``pending.done`` is called from the writer thread once committed."""
        if self._writer is None:
            raise ConfigError("the decision log's writer is not running: call log.start()")
        self._queue.put(pending)

    def write(self, decisions: Sequence[dict[str, Any]] = (),
              rewards: Sequence[dict[str, Any]] = ()) -> list[str]:
        """Write rows now, in this thread (tests, tools); the status of each reward."""
        with self.engine.begin() as conn:
            return _insert(conn, list(decisions), list(rewards))

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        """Write what is queued, stop the writer and release the database."""
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join()
            self._writer = None
        if self._checkpointer is not None:
            self._stop.set()
            self._checkpointer.join()
            self._checkpointer = None
            with self.engine.connect() as conn:  # fold the WAL into the database file
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.commit()
        self.engine.dispose()

    def _write_loop(self) -> None:
        with self.engine.connect() as conn:  # one connection for the thread's life
            if self._sqlite:  # the checkpointer thread folds the WAL back, not the commits
                conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
                conn.commit()  # end SQLAlchemy's autobegun transaction before conn.begin()
            while True:
                group = self._next_group()
                if not group:
                    return
                self._commit(conn, group)

    def _next_group(self) -> list[Pending]:
        """The next request, and whatever else arrived meanwhile; [] to stop."""
        first = self._queue.get()
        if first is None:
            return []
        group = [first]
        while len(group) < self.max_group:  # whatever arrived meanwhile joins this commit
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                self._queue.put(None)  # stop after this group
                break
            group.append(nxt)
        return group

    def _checkpoint_loop(self) -> None:
        """Copy the WAL into the database file every second, beside the writer.

        By default SQLite does this inside the commit that fills the WAL past 1,000 pages, and
        that commit — and every request waiting on it — then takes tens of milliseconds. A
        PASSIVE checkpoint on another connection never blocks the writer.
        """
        with self.engine.connect() as conn:
            while not self._stop.wait(CHECKPOINT_EVERY_S):
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                conn.commit()

    def _commit(self, conn: Connection, group: list[Pending]) -> None:
        decisions = [row for p in group for row in p.decisions]
        rewards = [row for p in group for row in p.rewards]
        started = time.perf_counter()
        try:
            with conn.begin():
                statuses = _insert(conn, decisions, rewards)
        except Exception as exc:  # nothing was committed: every request in the group fails
            for p in group:
                p.done(exc)
            return
        self.commits += 1
        if self.on_commit is not None:
            self.on_commit(time.perf_counter() - started, len(group))
        start = 0
        for p in group:
            p.done(statuses[start:start + len(p.rewards)])
            start += len(p.rewards)

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
                    raise ConfigError(f"{self.url} holds no decision log (no layout): serve "
                                      "a model into it first")
                conn.execute(INFO.insert().values(key="layout", value=json.dumps(layout)))
                return layout
        found: dict[str, Any] = json.loads(stored[0])
        if layout is not None and layout != found:
            raise ConfigError(f"{self.url} logs decisions of another kind of model ({found}); "
                              f"this one is {layout}: give the service another log")
        return found


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _durable(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            cur.execute("PRAGMA synchronous=FULL")  # the WAL is fsynced at every commit
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def _insert(conn: Connection, decisions: list[dict[str, Any]], rewards: list[dict[str, Any]]
            ) -> list[str]:
    """Insert the decisions, then the rewards whose event is logged and not yet rewarded;
    the status of each reward: ``ok``, ``unknown`` or ``duplicate``."""
    if decisions:
        conn.execute(DECISIONS.insert(), decisions)
    if not rewards:
        return []
    ids = [r["event_id"] for r in rewards]
    known, taken = _present(conn, DECISIONS, ids), _present(conn, REWARDS, ids)
    statuses, fresh = [], []
    for row in rewards:
        eid = row["event_id"]
        if eid not in known:
            statuses.append("unknown")
        elif eid in taken:
            statuses.append("duplicate")
        else:
            statuses.append("ok")
            taken.add(eid)
            fresh.append(row)
    if fresh:
        conn.execute(REWARDS.insert(), fresh)
    return statuses


def _present(conn: Connection, table: Table, ids: list[str]) -> set[str]:
    """The ids among ``ids`` that ``table`` holds, asked in slices: a group commit can carry
    more ids than one statement may bind (SQLite's limit is 32,766 parameters)."""
    found: set[str] = set()
    for start in range(0, len(ids), _IN_SLICE):
        found.update(row[0] for row in conn.execute(select(table.c.event_id).where(
            table.c.event_id.in_(ids[start:start + _IN_SLICE]))))
    return found


def _floats(blobs: list[bytes], shape: tuple[int, ...]) -> np.ndarray:
    flat = np.frombuffer(b"".join(blobs), np.float32)
    return flat.reshape((len(blobs), *shape)).copy()


__all__ = ["DECISIONS", "INFO", "REWARDS", "DecisionLog", "Pending", "sqlite_url"]
