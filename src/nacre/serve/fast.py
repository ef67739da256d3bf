"""The fast path of ``POST /v1/decide``: the same decision and the same durable log write as
the FastAPI endpoint, without FastAPI's per-request machinery.

On the service's hot path FastAPI's middleware layers, routing, request and response
objects cost about as much CPU as deciding itself (py-spy, benchmarks/serve_load.py). This
ASGI layer sits in front of the FastAPI app (behind the token check) and answers the plain
case itself — declared body size within the limit, a body the request schema accepts, a model
that takes it. Every other request, and every refusal, goes on to the FastAPI app with its
body replayed, so errors, documentation and every other endpoint are FastAPI's alone, and
the answers are the same either way (tests/unit/test_serve.py runs the API tests on both;
``nacre serve --no-fast-path`` serves without it).
"""

from __future__ import annotations

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
    """ASGI middleware answering valid ``POST /v1/decide`` requests (module docstring); the
    token, if any, was checked before (:class:`nacre.serve.app.BearerToken`)."""

    def __init__(self, app: ASGIApp, service: DecisionService, metrics: Metrics, *,
                 max_body_bytes: int) -> None:
        self.app = app
        self.service = service
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (scope["type"] == "http" and scope["path"] == "/v1/decide"
                and scope["method"] == "POST" and self._sized(scope["headers"])):
            await self.app(scope, receive, send)
            return
        body = await _read(receive)
        if body is None:  # the client went away
            return
        try:
            answer = await decide_durably(self.service, self.metrics,
                                          DecideRequest.model_validate_json(body))
        except LogWriteError as exc:  # decided, but not logged: not served either
            await _answer(send, 503, json.dumps({"detail": str(exc)}).encode())
            return
        except (ValidationError, NacreError):  # nothing decided or logged: FastAPI refuses it
            await self.app(scope, _replay(body, receive), send)
            return
        await _answer(send, 200, answer.model_dump_json().encode())

    def _sized(self, headers: list[tuple[bytes, bytes]]) -> bool:
        """A declared body length within the limit (chunked or too large: FastAPI's limit
        applies)."""
        length = next((v for k, v in headers if k == b"content-length"), b"")
        return length.isdigit() and int(length) <= self.max_body_bytes


async def decide_durably(service: DecisionService, metrics: Metrics,
                         request: DecideRequest) -> DecideResponse:
    """Decide for ``request``'s contexts and return once the decisions are in the log (both
    ways of answering /v1/decide do this)."""
    with metrics.latency.time():
        rows, decisions = service.decide(request.batch, request.candidates, request.exploit)
        await service.log.commit(rows)
        metrics.decisions.inc(len(rows))
    return DecideResponse.model_validate({"decisions": decisions})


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


__all__ = ["DecideFastPath", "decide_durably"]
