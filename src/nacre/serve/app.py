"""The HTTP API of the decision service (FastAPI).

``POST /v1/decide``  contexts (+ optional candidate features) → action, propensity, model
                     version and event id per context; answered once the decisions are durable
``POST /v1/reward``  event id, reward, optional cost → joined to its decision (404: unknown
                     event, 409: already rewarded); rewards may come late and in any order
``POST /v1/rewards`` up to 1,024 rewards at once (a reward joiner's batch), a status each
``GET  /healthz``    liveness, and the versions served (no token needed: it reveals no data)
``GET  /metrics``    Prometheus text: decisions, rewards, latency, log queue, memory

Every request but ``/healthz`` needs ``Authorization: Bearer <token>`` unless the service was
started with ``--insecure-local`` (then it listens on loopback only). Bodies over the size limit
are refused before they are read (413); malformed or non-finite input is a 422 naming the field;
nothing reaches the log unless the whole request was valid.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import generate_latest
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from nacre.errors import NacreError
from nacre.serve.fast import DecideFastPath, decide_durably
from nacre.serve.log import LogWriteError
from nacre.serve.metrics import Metrics
from nacre.serve.schemas import (
    DecideRequest,
    DecideResponse,
    RewardBatch,
    RewardBatchResponse,
    RewardRequest,
    RewardResponse,
)
from nacre.serve.service import DecisionService

MAX_BODY_BYTES = 4 << 20  # a full batch of 1,024 wide contexts fits; larger is refused
OPEN_PATHS = frozenset({"/healthz"})  # answered without a token


class BearerToken:
    """ASGI middleware: every HTTP request outside ``OPEN_PATHS`` needs
    ``Authorization: Bearer <token>``, else a 401 before its body is read.

    A middleware, not a FastAPI security dependency: resolving a dependency costs FastAPI
    more per request than deciding does (a fifth of the service's CPU at load, by py-spy);
    this is one header lookup and a constant-time compare.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            header = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
            scheme, _, given = header.partition(b" ")
            # constant time over the token: its value leaks nothing through timing
            good = hmac.compare_digest(given.strip(), self._token)
            if not (good and scheme.lower() == b"bearer"):
                refusal = JSONResponse(
                    {"detail": "missing or wrong token (Authorization: Bearer <token>)"},
                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(service: DecisionService, *, token: str | None,
               max_body_bytes: int = MAX_BODY_BYTES, poll_s: float = 1.0,
               fast_path: bool = True) -> ASGIApp:
    """The ASGI app serving ``service``; ``token`` None: no authentication (loopback use).

    ``fast_path``: answer plain ``/v1/decide`` requests in front of FastAPI
    (:mod:`nacre.serve.fast`, same answers, less CPU); False: FastAPI answers everything.
    """
    metrics = Metrics(service)
    app: ASGIApp = _fastapi_app(service, metrics, max_body_bytes=max_body_bytes, poll_s=poll_s)
    if fast_path:
        app = DecideFastPath(app, service, metrics, max_body_bytes=max_body_bytes)
    # outermost: nothing is read, decided or routed for a request without the token
    return app if token is None else BearerToken(app, token)


def _fastapi_app(service: DecisionService, metrics: Metrics, *, max_body_bytes: int,
                 poll_s: float) -> FastAPI:

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        watcher = asyncio.create_task(_follow(service, poll_s))
        yield
        watcher.cancel()
        await asyncio.to_thread(service.log.close)  # what was queued is written

    # FastAPI refuses bodies over max_body_size with a 413 before they are read whole. Its
    # OpenTelemetry hooks are off: the service has its Prometheus metrics, and the check
    # whether a tracer is configured costs ~4 % of the CPU per request at load.
    app = FastAPI(title="nacre decision service", lifespan=lifespan,
                  max_body_size=max_body_bytes,
                  telemetry={"tracing": False, "metrics": False, "logs": False})

    @app.exception_handler(NacreError)
    async def invalid(_: Request, exc: NacreError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(LogWriteError)  # the service's trouble (retry), not the request's
    async def unavailable(_: Request, exc: LogWriteError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer echoes the input, which may hold NaN (not valid JSON)
        return JSONResponse({"detail": [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""),
                                         "type": e.get("type", "")} for e in exc.errors()]},
                            status_code=422)

    @app.post("/v1/decide", response_model=DecideResponse, openapi_extra=_body(DecideRequest))
    async def decide(request: Request) -> Response:
        body = await _parse(request, DecideRequest)
        return _json(await decide_durably(service, metrics, body))

    async def join(rewards: list[RewardRequest]) -> list[str]:
        """Write ``rewards`` durably; each one's status: joined, unknown or duplicate."""
        now = time.time()
        statuses = await service.log.commit(rewards=[{**r.model_dump(), "time": now}
                                                     for r in rewards])
        for status in statuses:
            metrics.rewards.labels(status).inc()
        return ["joined" if s == "ok" else s for s in statuses]

    @app.post("/v1/reward", response_model=RewardResponse, openapi_extra=_body(RewardRequest))
    async def reward(request: Request) -> Response:
        body = await _parse(request, RewardRequest)
        (status,) = await join([body])
        if status == "unknown":
            raise HTTPException(404, f"no decision {body.event_id} in the log")
        if status == "duplicate":
            raise HTTPException(409, f"decision {body.event_id} already has a reward")
        return _json(RewardResponse(event_id=body.event_id, status=status))

    @app.post("/v1/rewards", response_model=RewardBatchResponse,
              openapi_extra=_body(RewardBatch))
    async def rewards(request: Request) -> Response:
        body = await _parse(request, RewardBatch)
        statuses = await join(body.rewards)
        return _json(RewardBatchResponse(results=[
            RewardResponse(event_id=r.event_id, status=s)
            for r, s in zip(body.rewards, statuses, strict=True)]))

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "production": service.production.version,
                "candidate": service.shadow_version}

    @app.get("/metrics")
    async def prometheus() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(metrics.registry).decode(),
                                 media_type="text/plain; version=0.0.4")

    return app


# The endpoints read their bodies themselves: pydantic validates the JSON bytes in one pass
# (FastAPI's own path decodes to Python objects first, then validates them, and resolves
# the endpoint's signature on every request — together more CPU than deciding). The request
# schemas still appear in the OpenAPI document through ``openapi_extra``.
Body = TypeVar("Body", bound=BaseModel)


def _body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of an endpoint that parses ``model`` itself."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": model.model_json_schema()}}}}


async def _parse(request: Request, model: type[Body]) -> Body:
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:  # answered as a 422 naming the field, as FastAPI's own
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)
                                     ) from exc


def _json(body: BaseModel) -> Response:
    return Response(body.model_dump_json(), media_type="application/json")


async def _follow(service: DecisionService, poll_s: float) -> None:
    """Swap models when the registry's production or candidate version changes."""
    while True:
        await asyncio.sleep(poll_s)
        try:
            await asyncio.to_thread(service.refresh)
        except NacreError as exc:  # a broken version is not served; the last good one stays
            logging.getLogger("nacre.serve").warning("registry change not applied: %s", exc)


__all__ = ["MAX_BODY_BYTES", "Metrics", "create_app"]
