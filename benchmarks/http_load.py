"""A lean HTTP/1.1 load client: keep-alive connections, requests prebuilt as bytes, responses
parsed by httptools (the C parser uvicorn uses).

A load generator on the machine it measures takes its CPU from the server: aiohttp spends
about 0.7 ms of CPU per request here, most of a core at 1,000 requests/s on a 2-core machine.
This client spends a fraction of that, so the server keeps the cores it would have in
production (where clients run elsewhere). It speaks only what the load needs: POST with a
JSON body, a status and a body back.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import httptools


class ConnectionClosed(Exception):
    """The server closed the connection (or died) before answering."""


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []
        self.closed = False
        self.idle_since = 0.0  # loop time it last finished a request

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionClosed(str(exc)))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        assert self.waiter is not None
        if not self.waiter.done():
            self.waiter.set_result((self.parser.get_status_code(), b"".join(self.body)))
        self.body = []

    def send(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter


class Client:
    """POSTs JSON to one server over a pool of keep-alive connections (one request in flight
    per connection; a new connection opens when all are busy, up to ``max_connections``,
    then requests wait for one to come free)."""

    def __init__(self, host: str, port: int, headers: dict[str, str],
                 max_connections: int = 256, max_idle_s: float = 4.0) -> None:
        self.host, self.port = host, port
        self._head = "".join(f"{k}: {v}\r\n" for k, v in
                             {"Host": f"{host}:{port}", "Content-Type": "application/json",
                              **headers}.items())
        self._idle: list[_Connection] = []
        self._all: list[_Connection] = []
        self._free = asyncio.Semaphore(max_connections)
        # uvicorn closes a connection idle for 5 s; a request sent on it as it closes is reset,
        # so (as HTTP clients do) a connection idle for longer than this is not reused
        self.max_idle_s = max_idle_s

    def request(self, path: str, payload: Any) -> bytes:
        """The bytes of a POST of ``payload`` (JSON) to ``path``: build once, send often."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        return (f"POST {path} HTTP/1.1\r\n{self._head}Content-Length: {len(body)}\r\n\r\n"
                .encode() + body)

    async def open(self, n: int) -> None:
        """Open ``n`` connections ahead of the load."""
        for _ in range(n):
            self._idle.append(await self._connect())

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Send a prebuilt request; ``(status, body)``. Raises ConnectionClosed."""
        async with self._free:
            conn = self._reusable() or await self._connect()
            try:
                result = await conn.send(request)
            except BaseException:
                conn.closed = True
                raise
            finally:
                if not conn.closed:
                    conn.idle_since = asyncio.get_running_loop().time()
                    self._idle.append(conn)
            return result

    def _reusable(self) -> _Connection | None:
        """The most recently used idle connection that is still open and fresh."""
        now = asyncio.get_running_loop().time()
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed and now - conn.idle_since < self.max_idle_s:
                return conn
            if conn.transport is not None:
                conn.transport.close()
        return None

    async def post(self, path: str, payload: Any) -> tuple[int, Any]:
        status, body = await self.send(self.request(path, payload))
        return status, (json.loads(body) if status == 200 else body)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_Connection, self.host, self.port)
        conn.idle_since = loop.time()
        self._all = [c for c in self._all if not c.closed] + [conn]
        return conn

    def close(self) -> None:
        for conn in self._all:
            if conn.transport is not None:
                conn.transport.close()
        self._idle.clear()
        self._all.clear()
