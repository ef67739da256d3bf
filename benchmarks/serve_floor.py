"""What this machine allows a decision service: the latency of servers that do (almost)
nothing, under the load benchmarks/serve_load.py puts on nacre's service, side by side.

    python benchmarks/serve_floor.py                     # 3 rounds of 60 s at 1,000/s
    python benchmarks/serve_floor.py --rounds 1 --duration 10 --quick

Four servers take turns, round after round, under the same open-loop client
(benchmarks/http_load.py, the same one serve_load.py uses) at the same rate:

- ``http``: uvicorn (uvloop + httptools, as ``nacre serve`` runs it) with a bare ASGI app that
  reads the request and answers a fixed decision — the HTTP stack alone;
- ``durable``: the same app, and before it answers, the request's row is committed to SQLite
  (WAL, ``synchronous=FULL``, the WAL checkpointed beside the commits once a second: as the
  decision log) by a writer thread that commits whatever arrived meanwhile in one transaction
  (group commit), with no Python between its insert and its commit — a durable acknowledgement
  without validation, policy or metrics;
- ``log``: the same app, committing its row through nacre's decision log (``DecisionLog``: the
  writer process the service uses, rows over a pipe) — the durable write as the service does it;
- ``service``: ``nacre serve`` itself (SquareCB on the synthetic linear bandit, as
  serve_load.py; decisions only, no reward joins).

A round runs each server for ``--duration`` seconds; the report gives each one's latency
percentiles per round and their medians over the rounds. The machine is shared: the
interleaving spreads its slow minutes over all four.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import log, machine, versions, write_json  # noqa: E402
from http_load import Client, ConnectionClosed  # noqa: E402
from serve_load import free_port, mlp_forward_us, percentiles, start_service  # noqa: E402

_HEADERS = [(b"content-type", b"application/json")]


class _DurableRows:
    """Rows committed by one writer thread in groups; ``await add(row)`` returns once the
    row's transaction is committed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        # as the decision log's writer: no checkpoint inside a commit (one every ~1,000 pages
        # would stall it for tens of ms), a PASSIVE one from another connection every second
        self.db.execute("PRAGMA wal_autocheckpoint=0")
        self.db.execute("CREATE TABLE decisions (seq INTEGER PRIMARY KEY, event_id TEXT UNIQUE, "
                        "time REAL, context BLOB, action INTEGER, propensity REAL)")
        threading.Thread(target=self._checkpoints, daemon=True).start()
        self.pending: list[tuple[tuple[Any, ...], asyncio.Future[None]]] = []
        self.ready = threading.Condition()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def add(self, row: tuple[Any, ...]) -> None:
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
            threading.Thread(target=self._write, daemon=True).start()
        done = self.loop.create_future()
        with self.ready:
            self.pending.append((row, done))
            self.ready.notify()
        await done

    def _write(self) -> None:
        assert self.loop is not None
        while True:
            with self.ready:
                while not self.pending:
                    self.ready.wait()
                group, self.pending = self.pending, []
            outcome: Exception | None = None
            try:
                self.db.execute("BEGIN")
                self.db.executemany("INSERT INTO decisions (event_id, time, context, action, "
                                    "propensity) VALUES (?, ?, ?, ?, ?)", [r for r, _ in group])
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:  # the requests fail (500) rather than wait forever
                outcome = exc
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
            self.loop.call_soon_threadsafe(_settle, [f for _, f in group], outcome)

    def _checkpoints(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None)
        while True:
            time.sleep(1.0)
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")


def _settle(futures: list[asyncio.Future[None]], error: Exception | None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


def floor_app(durable: _DurableRows | None, decision_log: Any = None) -> Any:
    """The bare ASGI app: read the body, (commit a row,) answer one decision."""
    context = np.zeros(16, np.float32).tobytes()
    row = {"model_version": 1, "context": context, "propensity": 0.1, "action": 3,
           "action_values": None, "candidates": None, "num_candidates": None,
           "shadow_version": None, "shadow_action": None, "shadow_action_values": None,
           "shadow_propensity": None}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        event_id = uuid.uuid4().hex
        if durable is not None:
            await durable.add((event_id, time.time(), context, 3, 0.1))
        if decision_log is not None:
            await decision_log.commit([{**row, "event_id": event_id, "time": time.time()}])
        body = json.dumps({"decisions": [{"event_id": event_id, "action": 3,
                                          "propensity": 0.1, "model_version": 1}]}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_HEADERS, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return app


def serve_floor(mode: str, port: int, folder: Path) -> None:
    import uvicorn

    from nacre.serve import DecisionLog, sqlite_url

    durable = _DurableRows(folder / "floor.db") if mode == "durable" else None
    decision_log = None
    if mode == "log":
        decision_log = DecisionLog(sqlite_url(folder / "log.db"),
                                   {"observation_shape": [16], "action": "discrete"})
        decision_log.start()
    uvicorn.run(floor_app(durable, decision_log), host="127.0.0.1", port=port, loop="uvloop",
                http="httptools", log_level="warning", access_log=False, lifespan="off")


async def drive(port: int, token: str, rate: float, duration: float) -> list[float]:
    """Open-loop decisions at ``rate`` for ``duration`` s; latencies from their schedule.
    Raises RuntimeError if any request failed."""
    client = Client("127.0.0.1", port, {"Authorization": f"Bearer {token}"})
    await client.open(8)
    rng = np.random.default_rng(0)
    requests = [client.request("/v1/decide", {"context": c}) for c in
                (rng.standard_normal((1024, 16)) / 4).round(5).tolist()]
    latencies: list[float] = []
    failed: list[str] = []
    tasks: set[asyncio.Task[None]] = set()

    async def decide(scheduled: float, request: bytes) -> None:
        try:
            status, _ = await client.send(request)
        except (ConnectionClosed, OSError) as exc:
            failed.append(repr(exc))
            return
        if status != 200:
            failed.append(f"status {status}")
            return
        latencies.append(time.perf_counter() - scheduled)

    t0 = time.perf_counter() + 0.2
    for i in range(int(rate * duration)):
        scheduled = t0 + i / rate
        if scheduled > time.perf_counter():
            await asyncio.sleep(scheduled - time.perf_counter())
        task = asyncio.ensure_future(decide(scheduled, requests[i % len(requests)]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    # a server that stops answering fails the run instead of hanging it
    await asyncio.wait_for(asyncio.gather(*list(tasks)), timeout=60)
    client.close()
    if failed:
        raise RuntimeError(f"{len(failed)} requests failed, the first: {failed[0]}")
    return latencies


def start_floor(mode: str, port: int, folder: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve", mode, "--port", str(port),
                             "--folder", str(folder)])
    for _ in range(300):
        try:
            urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{port}/", data=b"{}"), timeout=1).read()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"the {mode} floor server died") from None
            time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"the {mode} floor server did not start")


def one_run(mode: str, run: Path, tmp: Path, token: str, rate: float,
            duration: float) -> dict[str, float]:
    import uvloop

    folder = Path(tempfile.mkdtemp(dir=tmp))
    port = free_port()
    if mode == "service":
        token_file = folder / "token"
        token_file.write_text(token)
        proc = start_service(run, folder / "registry", port, token_file)
    else:
        proc = start_floor(mode, port, folder)
    try:
        return percentiles(uvloop.run(drive(port, token, rate, duration)))
    finally:  # never leave a server behind to load the next measurement
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=1000.0, help="decisions per second")
    p.add_argument("--duration", type=float, default=60.0, help="seconds per server and round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="do not write results")
    p.add_argument("--name", default="serve_floor")
    p.add_argument("--serve", choices=["http", "durable", "log"], help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve is not None:  # this process is one of the floor servers
        serve_floor(args.serve, args.port, args.folder)
        return

    import nacre

    tmp = Path(tempfile.mkdtemp(prefix="nacre-floor-"))
    cfg = nacre.load_preset("synthetic-lints").to_dict()
    cfg["exploration"] = {"name": "squarecb"}
    nacre.train(nacre.RunConfig.from_dict(cfg), steps=500, out=tmp / "run", progress=False)
    token = secrets.token_hex(32)
    modes = ("http", "durable", "log", "service")
    rounds: list[dict[str, dict[str, float]]] = []
    for r in range(args.rounds):
        rounds.append({})
        for mode in modes:
            rounds[-1][mode] = one_run(mode, tmp / "run", tmp, token, args.rate, args.duration)
            log(f"round {r + 1} {mode}: p50 {rounds[-1][mode]['p50_ms']:.2f} ms, "
                f"p99 {rounds[-1][mode]['p99_ms']:.2f} ms")
    median = {mode: {q: float(np.median([rd[mode][q] for rd in rounds]))
                     for q in ("p50_ms", "p99_ms", "p999_ms")} for mode in modes}
    report = {"name": args.name, "rate": args.rate, "duration_s": args.duration,
              "rounds": rounds, "median_over_rounds": median, "machine": machine(),
              "mlp_forward_us": mlp_forward_us(),
              "versions": versions(("nacre", "uvicorn", "httptools", "uvloop"))}
    log(f"medians over {args.rounds} rounds: {median}")
    if not args.quick:
        write_json(Path(__file__).parent / "results" / f"{args.name}.json", report)


if __name__ == "__main__":
    main()
