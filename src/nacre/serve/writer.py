"""The decision log's writer: a process of its own that commits in groups.

The service's event loop sends each request's rows down a pipe and awaits the reply that
comes back once their transaction is committed. The writer reads whatever has arrived while
it was committing the previous group and writes it as one transaction (group commit, as
databases do for their own logs): a lone request is written at once; under load the cost of
the ``fsync`` is shared, and nothing is ever acknowledged before it is durable.

A process rather than a thread: a writer thread holds Python's lock between its database
calls, and at a thousand requests a second the two threads then wait on each other — the
service's tail latency (benchmarks/serve_load.py). The child is forked when the service
starts, before it serves, so it starts at once and shares no work with the event loop.
Rows cross the pipe as JSON lines (raw bytes in base64): nothing is ever unpickled.

If the service dies (even by SIGKILL), the pipe reaches end-of-file and the writer exits
after its current transaction.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import json
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine.interfaces import DBAPIConnection

from nacre.errors import NacreError
from nacre.serve.sql import DECISION_FIELDS, REWARD_FIELDS, Statements, engine_for

CHECKPOINT_EVERY_S = 1.0
_BINARY = frozenset(i for i, name in enumerate(DECISION_FIELDS)
                    if name in ("context", "action_values", "candidates", "shadow_action_values"))
_STOP = b'{"stop":true}\n'


class LogWriteError(NacreError):
    """The log could not commit a request's rows: nothing of them was written (HTTP 503)."""


class WriterProcess:
    """The service side of the writer: send rows, await their commit.

    ``on_commit(seconds, requests)`` is called in the event loop for every transaction.
    """

    def __init__(self, url: str,
                 on_commit: Callable[[float, int], None] | None = None) -> None:
        request_read, self._requests = os.pipe()
        self._replies, reply_write = os.pipe()
        # fork, not spawn: the child needs nothing the service has not imported already
        context = multiprocessing.get_context("fork")
        self.process = context.Process(target=_serve, args=(url, request_read, reply_write,
                                                            self._requests, self._replies),
                                       name="nacre-decision-log", daemon=True)
        self.process.start()
        os.close(request_read)
        os.close(reply_write)
        self._waiting: dict[int, asyncio.Future[list[str]]] = {}
        self._next = 0
        self._buffer = b""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broken: str | None = None
        self.commits = 0
        self.on_commit = on_commit

    @property
    def queued(self) -> int:
        """Requests sent and not yet committed."""
        return len(self._waiting)

    async def commit(self, decisions: Sequence[dict[str, Any]],
                     rewards: Sequence[dict[str, Any]]) -> list[str]:
        """Send rows and wait until their transaction is committed; a status per reward."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # replies are read by the loop that awaits them
            loop.add_reader(self._replies, self._read_replies)
            self._loop = loop
        if self._broken is not None:
            raise LogWriteError(self._broken)
        n, self._next = self._next, self._next + 1
        future: asyncio.Future[list[str]] = loop.create_future()
        self._waiting[n] = future
        try:
            _write_all(self._requests, _encode(n, decisions, rewards))
        except OSError as exc:  # the writer is gone (its end-of-file may not be read yet)
            self._fail(f"the decision log's writer is gone: {exc}")
        return await future

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def _read_replies(self) -> bool:
        """Settle what the writer replied; False once it has exited."""
        chunk = os.read(self._replies, 1 << 20)
        if not chunk:  # the writer exited: whatever is still waiting was not acknowledged
            assert self._loop is not None
            self._loop.remove_reader(self._replies)
            self.process.join(1.0)
            self._fail(f"the decision log's writer exited (code {self.process.exitcode})")
            return False
        *lines, self._buffer = (self._buffer + chunk).split(b"\n")
        for line in lines:
            reply = json.loads(line)
            if "error" in reply:
                self._settle(reply["ids"], LogWriteError(
                    f"the decision log could not write: {reply['error']}"))
                continue
            self.commits += 1
            if self.on_commit is not None:
                self.on_commit(reply["seconds"], len(reply["ids"]))
            for n, statuses in zip(reply["ids"], reply["statuses"], strict=True):
                self._settle([n], statuses)
        return True

    def _settle(self, ids: list[int], outcome: list[str] | LogWriteError) -> None:
        for n in ids:
            future = self._waiting.pop(n, None)
            if future is None or future.done():  # the client went away
                continue
            if isinstance(outcome, LogWriteError):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def _fail(self, why: str) -> None:
        self._broken = why
        self._settle(list(self._waiting), LogWriteError(why))

    def close(self, timeout_s: float = 60.0) -> None:
        """Let the writer commit what it was sent, then wait for it to exit."""
        with contextlib.suppress(BrokenPipeError):  # it is gone already
            _write_all(self._requests, _STOP)
        self.process.join(timeout_s)
        os.close(self._requests)
        loop = self._loop
        if loop is not None and not loop.is_closed() and loop.is_running():
            loop.call_soon_threadsafe(self._detach, loop)  # the loop owns the reader
        else:
            os.close(self._replies)

    def _detach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Settle the last replies (the writer has exited), then let the pipe go."""
        os.set_blocking(self._replies, False)
        with contextlib.suppress(BlockingIOError):
            while self._read_replies():
                pass
        loop.remove_reader(self._replies)  # a no-op once end-of-file removed it
        os.close(self._replies)


# ---------------------------------------------------------------------------- the pipe
def _encode(n: int, decisions: Sequence[dict[str, Any]],
            rewards: Sequence[dict[str, Any]]) -> bytes:
    rows = [[_b64(row[k]) if i in _BINARY else row[k] for i, k in enumerate(DECISION_FIELDS)]
            for row in decisions]
    return json.dumps({"n": n, "d": rows, "r": [[row[k] for k in REWARD_FIELDS]
                                               for row in rewards]},
                      separators=(",", ":")).encode() + b"\n"


def _b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode()


def _decode(request: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    decisions = [{k: (None if v is None else base64.b64decode(v)) if i in _BINARY else v
                  for i, (k, v) in enumerate(zip(DECISION_FIELDS, row, strict=True))}
                 for row in request["d"]]
    rewards = [dict(zip(REWARD_FIELDS, row, strict=True)) for row in request["r"]]
    return decisions, rewards


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# ---------------------------------------------------------------------------- the child
def _serve(url: str, requests: int, replies: int, *parent_ends: int) -> None:
    """The writer process: commit what arrives, reply, until told to stop or orphaned."""
    gc.disable()  # the forked copy of the service's objects is never collected here
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the service; it stops us
    for fd in parent_ends:  # else our own copy keeps the pipe open after the service dies
        os.close(fd)
    engine = engine_for(url)
    conn = engine.raw_connection()
    statements = Statements(engine.dialect)
    stop = threading.Event()
    checkpointer = None
    if engine.dialect.name == "sqlite":  # the WAL is folded back beside the commits
        conn.cursor().execute("PRAGMA wal_autocheckpoint=0")
        checkpointer = threading.Thread(target=_checkpoints, args=(engine, stop), daemon=True)
        checkpointer.start()
    buffer = b""
    running = True
    while running:
        chunk = os.read(requests, 1 << 24)  # all that arrived meanwhile: one transaction
        running = bool(chunk)
        *lines, buffer = (buffer + chunk).split(b"\n")
        group = [json.loads(line) for line in lines]
        if group and group[-1].get("stop"):
            group.pop()
            running = False
        if group:
            _write_all(replies, _commit(conn, statements, group))
    stop.set()
    if checkpointer is not None:
        checkpointer.join()
    conn.close()
    engine.dispose()


def _commit(conn: DBAPIConnection, statements: Statements,
            group: list[dict[str, Any]]) -> bytes:
    started = time.perf_counter()
    ids = [request["n"] for request in group]
    decoded = [_decode(request) for request in group]
    try:
        statuses = statements.insert(conn.cursor(), [d for ds, _ in decoded for d in ds],
                                     [r for _, rs in decoded for r in rs])
        conn.commit()
    except Exception as exc:  # nothing was committed: every request in the group fails
        with contextlib.suppress(Exception):  # the first error is the one reported
            conn.rollback()
        return json.dumps({"ids": ids, "error": str(exc)}).encode() + b"\n"
    per_request, start = [], 0
    for _, rewards in decoded:
        per_request.append(statuses[start:start + len(rewards)])
        start += len(rewards)
    return json.dumps({"ids": ids, "statuses": per_request,
                       "seconds": time.perf_counter() - started}).encode() + b"\n"


def _checkpoints(engine: Any, stop: threading.Event) -> None:
    """Copy the WAL into the database file every second, beside the writer.

    By default SQLite does this inside the commit that fills the WAL past 1,000 pages, and
    that commit — and every request waiting on it — then takes tens of milliseconds. A
    PASSIVE checkpoint on another connection never blocks the writer.
    """
    with engine.connect() as conn:
        while not stop.wait(CHECKPOINT_EVERY_S):
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            conn.commit()


__all__ = ["LogWriteError", "WriterProcess"]
