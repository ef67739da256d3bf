"""The fast path of ``POST /v1/decide``: the same decision and the same durable log write as
the FastAPI endpoint, without FastAPI's per-request machinery.

On the service's hot path FastAPI's middleware layers, routing, request and response
objects cost about as much CPU as deciding itself (py-spy, benchmarks/serve_load.py). This
ASGI layer sits in front of the FastAPI app and answers the plain case itself — right
token, declared body size within the limit, a body the request schema accepts, a model
that takes it. Every other request, and every refusal, goes on to the FastAPI app with its
body replayed, so errors, documentation and every other endpoint are FastAPI's alone, and
the answers are the same either way (tests/unit/test_serve.py runs the API tests on both;
``nacre serve --no-fast-path`` serves without it).
"""

from __future__ import annotations

import hmac
import json

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nacre.errors import NacreError
from nacre.serve.log import LogWriteError
from nacre.serve.metrics import Metrics
from nacre.serve.schemas import DecideRequest, DecideResponse
from nacre.serve.service import DecisionService

_JSON = [(b"content-type", b"application/json")]


class DecideFastPath:
    """ASGI middleware answering valid ``POST /v1/decide`` requests (module docstring)."""

    def __init__(self, app: ASGIApp, service: DecisionService, metrics: Metrics, *,
                 token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.service = service
        self.metrics = metrics
        self._authorization = None if token is None else b"Bearer " + token.encode()
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (scope["type"] == "http" and scope["path"] == "/v1/decide"
                and scope["method"] == "POST" and self._plain(scope["headers"])):
            await self.app(scope, receive, send)
            return
        body = await _read(receive)
        if body is None:  # the client went away
            return
        try:
            request = DecideRequest.model_validate_json(body)
            with self.metrics.latency.time():
                rows, decisions = self.service.decide(request.batch, request.candidates,
                                                      request.exploit)
                await self.service.log.commit(rows)
                self.metrics.decisions.inc(len(rows))
        except LogWriteError as exc:  # decided, but not logged: not served either
            await _answer(send, 503, json.dumps({"detail": str(exc)}).encode())
            return
        except (ValidationError, NacreError):  # nothing decided or logged: FastAPI refuses it
            await self.app(scope, _replay(body, receive), send)
            return
        await _answer(send, 200, DecideResponse.model_validate({"decisions": decisions})
                      .model_dump_json().encode())

    def _plain(self, headers: list[tuple[bytes, bytes]]) -> bool:
        """The right token (if one is needed) and a declared length within the limit."""
        authorization, length = b"", b""
        for key, value in headers:
            if key == b"authorization":
                authorization = value
            elif key == b"content-length":
                length = value
        if not length.isdigit() or int(length) > self.max_body_bytes:
            return False  # chunked or too large: FastAPI's limit applies
        if self._authorization is None:
            return True
        # the scheme as the client wrote it; a differently-cased one goes the long way
        return hmac.compare_digest(authorization, self._authorization)


async def _read(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for an app after this one has read the body."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def again() -> Message:
        return pending.pop() if pending else await receive()

    return again


async def _answer(send: Send, status: int, payload: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*_JSON, (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


__all__ = ["DecideFastPath"]
