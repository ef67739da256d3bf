"""The decision log's tables, and the statements that write them.

The statements are SQLAlchemy constructs compiled once for the log's database (SQLite,
PostgreSQL, …) and run on the driver's own connection (DBAPI). The log writer commits
hundreds of small transactions a second, and on this path SQLAlchemy's execution layer —
the result objects and per-row parameter processing of ``Connection.execute``, its
transaction bookkeeping — costs several times the driver's own call (benchmarks/serve_load.py
measures the service). The SQL itself still comes from the table definitions, in the
database's own dialect and parameter style; nothing is assembled from request data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

IN_SLICE = 10_000  # ids per "IN (...)" query: under every database's bound-parameter limit
METADATA = MetaData()
DECISIONS = Table(
    "decisions", METADATA,
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
    "rewards", METADATA,
    Column("event_id", String(32), primary_key=True),
    Column("time", Float, nullable=False),
    Column("reward", Float, nullable=False),
    Column("cost", Float),
)
INFO = Table(  # what the contexts and actions are: checked when a log is reopened
    "info", METADATA,
    Column("key", String(64), primary_key=True),
    Column("value", String(4096), nullable=False),
)
# what a row written to each table holds (``seq`` is the database's to number)
DECISION_FIELDS = tuple(c.name for c in DECISIONS.columns if c.name != "seq")
REWARD_FIELDS = tuple(c.name for c in REWARDS.columns)


def engine_for(url: str) -> Engine:
    """An engine for ``url``; SQLite files in WAL mode with ``synchronous=FULL``: a committed
    transaction is on disk when the commit returns (SQLite's WAL documentation)."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _durable(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cur.execute("PRAGMA synchronous=FULL")  # the WAL is fsynced at every commit
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    return engine


@dataclass(frozen=True)
class Compiled:
    """A statement in the database's SQL and the order its driver wants the values in."""

    sql: str
    order: tuple[str, ...] | None  # positional drivers ("?", "%s"); None: named ("%(x)s")

    def params(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        return values if self.order is None else tuple(values[k] for k in self.order)

    def rows(self, rows: Sequence[Mapping[str, Any]]
             ) -> Sequence[Sequence[Any]] | Sequence[Mapping[str, Any]]:
        """``executemany``'s parameters for ``rows``."""
        if self.order is None:
            return rows
        return [tuple(row[k] for k in self.order) for row in rows]


def compile_for(statement: ClauseElement, dialect: Dialect,
                keys: Sequence[str] = ()) -> Compiled:
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    assert isinstance(compiled, SQLCompiler)  # a SELECT or INSERT compiles to SQL
    return Compiled(str(compiled),
                    tuple(compiled.positiontup or ()) if compiled.positional else None)


class Statements:
    """The log's writes for one database dialect, compiled once."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.insert_decisions = compile_for(DECISIONS.insert(), dialect, DECISION_FIELDS)
        self.insert_rewards = compile_for(REWARDS.insert(), dialect, REWARD_FIELDS)

    def insert(self, cursor: DBAPICursor, decisions: Sequence[Mapping[str, Any]],
               rewards: Sequence[Mapping[str, Any]]) -> list[str]:
        """Insert the decisions, then the rewards whose event is logged and not yet rewarded,
        in the cursor's transaction (the caller commits); the status of each reward:
        ``ok``, ``unknown`` or ``duplicate``."""
        if decisions:
            st = self.insert_decisions
            cursor.executemany(st.sql, st.rows(decisions))
        if not rewards:
            return []
        ids = [r["event_id"] for r in rewards]
        known = self.present(cursor, "decisions", ids)
        taken = self.present(cursor, "rewards", ids)
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
            st = self.insert_rewards
            cursor.executemany(st.sql, st.rows(fresh))
        return statuses

    def present(self, cursor: DBAPICursor, table: str, ids: list[str]) -> set[str]:
        """The ids among ``ids`` that ``table`` holds, asked in slices: a group commit can
        carry more ids than one statement may bind (SQLite's limit is 32,766 parameters)."""
        found: set[str] = set()
        for start in range(0, len(ids), IN_SLICE):
            chunk = ids[start:start + IN_SLICE]
            st = _lookup(self.dialect, table, len(chunk))
            cursor.execute(st.sql, st.params({f"id{i}": v for i, v in enumerate(chunk)}))
            found.update(row[0] for row in cursor.fetchall())
        return found


@lru_cache(maxsize=256)
def _lookup(dialect: Dialect, table: str, n: int) -> Compiled:
    """``SELECT event_id FROM table WHERE event_id IN (n parameters)``, compiled."""
    column = {"decisions": DECISIONS, "rewards": REWARDS}[table].c.event_id
    return compile_for(select(column).where(column.in_([bindparam(f"id{i}")
                                                         for i in range(n)])), dialect)


__all__ = ["DECISIONS", "DECISION_FIELDS", "INFO", "METADATA", "REWARDS", "REWARD_FIELDS",
           "Compiled", "Statements", "compile_for", "engine_for"]
