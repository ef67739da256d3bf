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
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from nacre.errors import NacreError
from nacre.serve.log import Pending
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
# FastAPI parses the Authorization header (None when missing); module-level, because FastAPI
# resolves the annotations of the endpoints' dependencies in this module's namespace
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))]


class Metrics:
    """The service's Prometheus metrics, in a registry of their own."""

    def __init__(self, service: DecisionService) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.decisions = Counter("nacre_decisions", "decisions made and logged", registry=r)
        self.rewards = Counter("nacre_rewards", "rewards received", ["status"], registry=r)
        self.latency = Histogram("nacre_decide_seconds", "time to answer /v1/decide, durable "
                                 "logging included", registry=r,
                                 buckets=(.0005, .001, .002, .003, .005, .01, .025, .05, .1, 1))
        commit = Histogram("nacre_log_commit_seconds", "time of one durable commit of the log",
                           registry=r, buckets=(.0002, .0005, .001, .002, .005, .01, .05, .2, 1))
        group = Histogram("nacre_log_group_requests", "requests per commit", registry=r,
                          buckets=(1, 2, 4, 8, 16, 64, 256))

        def observe(seconds: float, requests: int) -> None:
            commit.observe(seconds)
            group.observe(requests)

        service.log.on_commit = observe
        Gauge("nacre_log_queue", "requests waiting for the log writer",
              registry=r).set_function(lambda: service.log.queued)
        Gauge("nacre_log_commits", "transactions the log writer committed",
              registry=r).set_function(lambda: service.log.commits)
        Gauge("nacre_production_version", "model version serving",
              registry=r).set_function(lambda: service.production.version)
        Gauge("nacre_candidate_version", "model version in shadow (0: none)",
              registry=r).set_function(lambda: service.shadow_version or 0)
        ProcessCollector(registry=r)  # resident memory, CPU time, open files


def create_app(service: DecisionService, *, token: str | None,
               max_body_bytes: int = MAX_BODY_BYTES, poll_s: float = 1.0) -> FastAPI:
    """The ASGI app serving ``service``; ``token`` None: no authentication (loopback use)."""
    metrics = Metrics(service)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        watcher = asyncio.create_task(_follow(service, poll_s))
        yield
        watcher.cancel()
        await asyncio.to_thread(service.log.close)  # what was queued is written

    # FastAPI refuses bodies over max_body_size with a 413 before they are read whole
    app = FastAPI(title="nacre decision service", lifespan=lifespan,
                  max_body_size=max_body_bytes)

    async def authorized(credentials: Credentials) -> None:
        if token is None:
            return
        given = b"" if credentials is None else credentials.credentials.encode()
        if not hmac.compare_digest(given, token.encode()):  # constant time: no timing leak
            raise HTTPException(401, "missing or wrong token (Authorization: Bearer <token>)",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(NacreError)
    async def invalid(_: Request, exc: NacreError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer echoes the input, which may hold NaN (not valid JSON)
        return JSONResponse({"detail": [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""),
                                         "type": e.get("type", "")} for e in exc.errors()]},
                            status_code=422)

    @app.post("/v1/decide", dependencies=[Depends(authorized)])
    async def decide(body: DecideRequest) -> DecideResponse:
        with metrics.latency.time():
            rows, decisions = service.decide(body.batch, body.candidates, body.exploit)
            await _durable(service, rows, [])
            metrics.decisions.inc(len(rows))
        return DecideResponse.model_validate({"decisions": decisions})

    async def join(rewards: list[RewardRequest]) -> list[str]:
        """Write ``rewards`` durably; each one's status: joined, unknown or duplicate."""
        now = time.time()
        statuses = await _durable(service, [], [{**r.model_dump(), "time": now}
                                                for r in rewards])
        for status in statuses:
            metrics.rewards.labels(status).inc()
        return ["joined" if s == "ok" else s for s in statuses]

    @app.post("/v1/reward", dependencies=[Depends(authorized)])
    async def reward(body: RewardRequest) -> RewardResponse:
        (status,) = await join([body])
        if status == "unknown":
            raise HTTPException(404, f"no decision {body.event_id} in the log")
        if status == "duplicate":
            raise HTTPException(409, f"decision {body.event_id} already has a reward")
        return RewardResponse(event_id=body.event_id, status=status)

    @app.post("/v1/rewards", dependencies=[Depends(authorized)])
    async def rewards(body: RewardBatch) -> RewardBatchResponse:
        statuses = await join(body.rewards)
        return RewardBatchResponse(results=[
            RewardResponse(event_id=r.event_id, status=s)
            for r, s in zip(body.rewards, statuses, strict=True)])

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "production": service.production.version,
                "candidate": service.shadow_version}

    @app.get("/metrics", dependencies=[Depends(authorized)])
    async def prometheus() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(metrics.registry).decode(),
                                 media_type="text/plain; version=0.0.4")

    return app


async def _durable(service: DecisionService, decisions: list[dict[str, Any]],
                   rewards: list[dict[str, Any]]) -> list[str]:
    """Queue rows for the log and wait until their transaction is committed."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[list[str]] = loop.create_future()

    def done(outcome: list[str] | BaseException) -> None:
        loop.call_soon_threadsafe(_settle, future, outcome)

    service.log.submit(Pending(decisions, rewards, done))
    try:
        return await future
    except Exception as exc:
        raise HTTPException(503, f"the decision log could not write: {exc}") from exc


def _settle(future: asyncio.Future[list[str]], outcome: list[str] | BaseException) -> None:
    if future.done():  # the client went away
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


async def _follow(service: DecisionService, poll_s: float) -> None:
    """Swap models when the registry's production or candidate version changes."""
    while True:
        await asyncio.sleep(poll_s)
        try:
            await asyncio.to_thread(service.refresh)
        except NacreError as exc:  # a broken version is not served; the last good one stays
            logging.getLogger("nacre.serve").warning("registry change not applied: %s", exc)


__all__ = ["MAX_BODY_BYTES", "Metrics", "create_app"]
