"""Load on the decision service: latency at a fixed request rate with durable logging, reward
joins at the same rate, memory over the run; and durability under SIGKILL.

    python benchmarks/serve_load.py                       # 1,000 decisions/s for 60 s
    python benchmarks/serve_load.py --rate 1000 --duration 10 --quick
    python benchmarks/serve_load.py --kill-after 10 --duration 20 --name serve_sigkill

The service (``nacre serve`` in its own process, loopback, with a token) serves a linear
bandit with SquareCB exploration (``--policy thompson``: Thompson sampling) trained for a few
hundred steps on the synthetic linear bandit (16-d contexts, 10 arms) and logs to SQLite (WAL,
synchronous=FULL: a decision is acknowledged only after its commit returned).

The client is open-loop: request ``i`` is *scheduled* at ``t0 + i / rate``
and its latency is measured from that moment, so a stalled server is charged for every request
that queued behind the stall (no coordinated omission); the latency from the moment the client
actually sent it is reported beside (the difference is the client's own timer lag). Each
acknowledged decision gets its reward after a random delay of 0–500 ms (late, and out of
order), at the same rate; a reward joiner sends the rewards that have arrived every 10 ms as
one ``/v1/rewards`` batch.

``--kill-after S`` SIGKILLs the service S seconds in, restarts it on the same log, and checks
that every decision and reward the client saw acknowledged is in the log (count and ids).

The client (benchmarks/http_load.py: keep-alive connections, prebuilt requests, httptools) shares
the 2 cores with the service; its own time is in the latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import log, machine, versions, write_json  # noqa: E402
from http_load import Client, ConnectionClosed  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(run: Path, registry: Path, port: int,
                  token_file: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "nacre", "serve", str(run), "--registry",
                             str(registry), "--port", str(port), "--token-file",
                             str(token_file)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    import urllib.request

    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return proc
        except OSError as exc:
            if proc.poll() is not None:
                raise RuntimeError(proc.stdout.read().decode() if proc.stdout else "died") from exc
            time.sleep(0.1)
    proc.kill()  # never leave a half-started service behind
    proc.wait()
    raise RuntimeError("the service did not start")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` and its children (the service's log
    writer) have used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own + sum(cpu_s(int(child)) for child in children)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def drive(port: int, token: str, rate: float, duration: float, dim: int,
                proc: subprocess.Popen[bytes], kill_after: float | None,
                seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    decide_lat: list[float] = []  # from the scheduled time (open loop)
    decide_sent: list[float] = []  # from the moment the client sent it
    reward_lat: list[float] = []
    acked: list[str] = []
    rewarded: list[str] = []
    errors: dict[str, int] = {}
    memory: list[tuple[float, float]] = []
    tasks: set[asyncio.Task[None]] = set()
    client = Client("127.0.0.1", port, {"Authorization": f"Bearer {token}"})
    await client.open(32)
    due: list[tuple[float, str]] = []  # heap of (when the reward arrives, event id)

    def failed(what: str) -> None:
        errors[what] = errors.get(what, 0) + 1

    async def join_rewards(stop: asyncio.Event) -> None:
        """Every 10 ms, send the rewards that arrived as one batch (a reward joiner)."""
        while not (stop.is_set() and not due):
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            ready: list[str] = []
            while due and due[0][0] <= now and len(ready) < 1024:  # the API's batch limit
                ready.append(heapq.heappop(due)[1])
            if not ready:
                continue
            t = time.perf_counter()
            try:
                status, body = await client.post("/v1/rewards", {"rewards": [
                    {"event_id": e, "reward": float(rng.normal())} for e in ready]})
            except (ConnectionClosed, OSError):  # OSError: refused, after a kill
                failed("rewards: connection closed")
                if killed:
                    return
                continue
            if status != 200:
                failed(f"rewards {status}")
                continue
            reward_lat.append(time.perf_counter() - t)
            rewarded.extend(x["event_id"] for x in body["results"] if x["status"] == "joined")

    async def decide(scheduled: float, request: bytes) -> None:
        sent = time.perf_counter()
        try:
            status, body = await client.send(request)
        except (ConnectionClosed, OSError):  # OSError: refused, after a kill
            failed("decide: connection closed")
            return
        if status != 200:
            failed(f"decide {status}")
            return
        done = time.perf_counter()
        decide_lat.append(done - scheduled)
        decide_sent.append(done - sent)
        event_id = json.loads(body)["decisions"][0]["event_id"]
        acked.append(event_id)
        heapq.heappush(due, (time.perf_counter() + float(rng.uniform(0, 0.5)), event_id))

    def spawn(coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    contexts = [client.request("/v1/decide", {"context": c}) for c in
                (rng.standard_normal((4096, dim)) / np.sqrt(dim)).round(5).tolist()]
    n = int(rate * duration)
    t0 = time.perf_counter() + 0.2
    cpu0 = cpu_s(proc.pid), time.process_time()  # the server's and the client's
    next_mem = t0
    killed = False  # read by join_rewards
    stop = asyncio.Event()
    joiner = asyncio.ensure_future(join_rewards(stop))
    for i in range(n):
        scheduled = t0 + i / rate
        now = time.perf_counter()
        if scheduled > now:
            await asyncio.sleep(scheduled - now)
        if now >= next_mem and not killed:
            memory.append((now - t0, rss_mib(proc.pid)))
            next_mem += 1.0
        if kill_after is not None and not killed and now - t0 >= kill_after:
            proc.send_signal(signal.SIGKILL)
            killed = True
            log(f"SIGKILL at {now - t0:.1f} s after {len(acked)} acknowledged decisions")
        spawn(decide(scheduled, contexts[i % len(contexts)]))
    sent_for = time.perf_counter() - t0
    cpu = ({"server_cpu_s": cpu_s(proc.pid) - cpu0[0],
            "client_cpu_s": time.process_time() - cpu0[1]} if not killed else {})
    while tasks:
        await asyncio.gather(*list(tasks), return_exceptions=True)
    stop.set()
    await joiner
    client.close()
    return {"decide_latency": decide_lat, "decide_from_send": decide_sent,
            "reward_latency": reward_lat, "acked": acked, "rewarded": rewarded,
            "errors": errors, "memory": memory, "sent_for_s": sent_for, "requests": n,
            "cpu": cpu}


def mlp_forward_us() -> float:
    """The machine's speed on the day: one 4-256-256-2 forward pass, one observation, one
    thread (docs/benchmarks.md's acting-overhead table recorded 16.1 µs for it)."""
    import torch

    torch.set_num_threads(1)
    net = torch.nn.Sequential(torch.nn.Linear(4, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                              torch.nn.ReLU(), torch.nn.Linear(256, 2))
    x = torch.zeros(1, 4)
    best = float("inf")
    with torch.inference_mode():
        for _ in range(6):
            start = time.perf_counter()
            for _ in range(2000):
                net(x)
            best = min(best, (time.perf_counter() - start) / 2000 * 1e6)
    return best


def percentiles(values: list[float]) -> dict[str, float]:
    a = np.asarray(values) * 1e3
    if a.size == 0:
        return {}
    return {"p50_ms": float(np.percentile(a, 50)), "p90_ms": float(np.percentile(a, 90)),
            "p99_ms": float(np.percentile(a, 99)), "p999_ms": float(np.percentile(a, 99.9)),
            "max_ms": float(a.max()), "n": int(a.size)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=1000.0, help="decisions per second")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    p.add_argument("--kill-after", type=float, help="SIGKILL the service after this many s")
    p.add_argument("--quick", action="store_true", help="do not write results")
    p.add_argument("--name", default="serve_load")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--policy", default="squarecb", choices=["squarecb", "thompson"],
                   help="the served exploration: SquareCB (Vowpal Wabbit's default for "
                   "contextual bandits) or Thompson sampling (exact propensities by quadrature, "
                   "~0.2 ms per decision)")
    args = p.parse_args()

    import nacre
    from nacre.serve import DecisionLog, sqlite_url

    tmp = Path(tempfile.mkdtemp(prefix="nacre-serve-"))
    run = tmp / "run"
    cfg = nacre.load_preset("synthetic-lints").to_dict()
    cfg["exploration"] = {"name": args.policy}
    nacre.train(nacre.RunConfig.from_dict(cfg), steps=500, out=run, progress=False)
    token = secrets.token_hex(32)
    token_file = tmp / "token"
    token_file.write_text(token)
    registry, port = tmp / "registry", free_port()
    proc = start_service(run, registry, port, token_file)
    try:
        log(f"service pid {proc.pid} on port {port}; {args.rate:.0f}/s for "
            f"{args.duration:.0f} s")
        import uvloop  # the client's event loop: finer timers and less CPU than asyncio's

        out = uvloop.run(drive(port, token, args.rate, args.duration, 16, proc,
                               args.kill_after, args.seed))
        if args.kill_after is not None:
            proc.wait()
            proc = start_service(run, registry, port, token_file)  # restart on the same log
        import urllib.request

        request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                         headers={"Authorization": f"Bearer {token}"})
        server_metrics = [line for line in urllib.request.urlopen(request).read().decode()
                          .splitlines() if line.startswith(("nacre_", "process_"))]
        proc.send_signal(signal.SIGINT)  # a clean stop writes what is queued
        proc.wait(timeout=60)
    finally:  # never leave a service behind to load the next measurement
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    logged = DecisionLog(sqlite_url(registry / "decisions.db"))
    decisions, rewards = logged.event_ids("decisions"), logged.event_ids("rewards")
    counts = logged.counts()
    logged.close()
    memory = out["memory"]
    mem = [m for _, m in memory]
    report = {
        "name": args.name, "policy": args.policy, "rate": args.rate, "duration_s": args.duration,
        "kill_after_s": args.kill_after, "requests": out["requests"],
        "achieved_decisions_per_s": len(out["acked"]) / out["sent_for_s"],
        "achieved_rewards_per_s": len(out["rewarded"]) / out["sent_for_s"],
        "decide": percentiles(out["decide_latency"]),
        "decide_from_send": percentiles(out["decide_from_send"]),
        "reward": percentiles(out["reward_latency"]),
        "errors": out["errors"],
        "cpu_during_load": out["cpu"],  # seconds used while the requests were being sent
        "acknowledged_decisions": len(out["acked"]),
        "acknowledged_rewards": len(out["rewarded"]),
        "lost_decisions": len(set(out["acked"]) - decisions),
        "lost_rewards": len(set(out["rewarded"]) - rewards),
        "log_counts": counts,
        "server_metrics": server_metrics,
        "rss_mib": {"series": memory, "first_10s_median": float(np.median(mem[1:10]))
                    if len(mem) > 10 else None,
                    "last_10s_median": float(np.median(mem[-10:])) if len(mem) > 10 else None},
        "machine": machine(), "mlp_forward_us": mlp_forward_us(),
        "versions": versions(("nacre", "torch", "fastapi", "uvicorn", "SQLAlchemy",
                              "httptools")),
    }
    log(f"decide {report['decide']}; from send {report['decide_from_send']}; "
        f"reward {report['reward']}; "
        f"{report['achieved_decisions_per_s']:.0f} decisions/s, errors {out['errors']}; lost "
        f"{report['lost_decisions']} decisions, {report['lost_rewards']} rewards; rss "
        f"{report['rss_mib']['first_10s_median']} → {report['rss_mib']['last_10s_median']} MiB; "
        f"cpu {out['cpu']}")
    if not args.quick:
        write_json(Path(__file__).parent / "results" / f"{args.name}.json", report)


if __name__ == "__main__":
    main()
