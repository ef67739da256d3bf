"""``nacre serve`` as a process on loopback: nothing acknowledged is lost to a SIGKILL, and the
loop closes — learn from the log, shadow, promote by OPE, roll back — from the command line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

httpx = pytest.importorskip("httpx2")  # what starlette recommends over httpx

import nacre  # noqa: E402
from nacre.serve import DecisionLog, ModelRegistry, sqlite_url  # noqa: E402

TOKEN = "process-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("serve-process") / "run"
    nacre.train("synthetic-lints", steps=200, out=out, progress=False)
    return out


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(run_dir: Path, registry: Path, port: int, tmp_path: Path) -> subprocess.Popen[bytes]:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    output = tmp_path / "serve.log"
    with open(output, "ab") as out:  # the child keeps its own copy of the handle
        proc = subprocess.Popen([sys.executable, "-m", "nacre", "serve", str(run_dir),
                                 "--registry", str(registry), "--port", str(port),
                                 "--token-file", str(token_file), "--poll", "0.2"],
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise AssertionError(output.read_text())
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the service did not come up")


def _load(port: int, stop: threading.Event, acked: list[str], rewarded: list[str]) -> None:
    """Decide, then reward every other decision, until the service goes away."""
    rng = np.random.default_rng(threading.get_ident() % 2**32)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=5) as c:
        while not stop.is_set():
            try:
                r = c.post("/v1/decide", json={"context": rng.normal(size=16).tolist()})
                if r.status_code != 200:
                    continue
                event = r.json()["decisions"][0]["event_id"]
                acked.append(event)
                if len(acked) % 2 == 0 and c.post(
                        "/v1/reward", json={"event_id": event, "reward": 1.0}).status_code == 200:
                    rewarded.append(event)
            except httpx.HTTPError:
                return  # killed


def test_sigkill_under_load_loses_no_acknowledged_decision_or_reward(run_dir: Path,
                                                                     tmp_path: Path) -> None:
    port, registry = _port(), tmp_path / "registry"
    proc = _start(run_dir, registry, port, tmp_path)
    acked: list[str] = []
    rewarded: list[str] = []
    stop = threading.Event()
    clients = [threading.Thread(target=_load, args=(port, stop, acked, rewarded))
               for _ in range(4)]
    for t in clients:
        t.start()
    time.sleep(2.0)
    proc.send_signal(signal.SIGKILL)  # mid-load: requests are in flight
    proc.wait()
    stop.set()
    for t in clients:
        t.join()
    assert len(acked) > 50 and rewarded
    proc = _start(run_dir, registry, port, tmp_path)  # restarts on the same log
    try:
        log = DecisionLog(sqlite_url(registry / "decisions.db"))
        decisions, rewards = log.event_ids("decisions"), log.event_ids("rewards")
        log.close()
        assert set(acked) <= decisions, f"{len(set(acked) - decisions)} decisions lost"
        assert set(rewarded) <= rewards, f"{len(set(rewarded) - rewards)} rewards lost"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH) as c:
            assert c.post("/v1/decide", json={"context": [0.0] * 16}).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _nacre(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nacre", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ})


def _serve_rewards(c: Any, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` decisions with rewards that favour action 0."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        d = c.post("/v1/decide", json={"context": rng.normal(size=16).tolist()}
                   ).json()["decisions"][0]
        reward = 1.0 if d["action"] == 0 else 0.0
        assert c.post("/v1/reward", json={"event_id": d["event_id"], "reward": reward}
                      ).status_code == 200
        rows.append(d)
    return rows


def test_learn_from_log_shadow_promote_and_roll_back_from_the_command_line(
        run_dir: Path, tmp_path: Path) -> None:
    port, registry = _port(), tmp_path / "registry"
    proc = _start(run_dir, registry, port, tmp_path)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH) as c:
            _serve_rewards(c, 150, seed=0)
            learned = _nacre("learn-from-log", str(registry), "--min-events", "100")
            assert learned.returncode == 0, learned.stderr
            assert "version 2 in shadow" in learned.stdout
            reg = ModelRegistry(registry)
            assert reg.candidate == 2 and reg.info(2)["metrics"]["events"] == 150
            deadline = time.monotonic() + 20  # the service follows the registry
            while c.get("/healthz").json()["candidate"] != 2:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            shadowed = _serve_rewards(c, 60, seed=1)
            assert all(d["model_version"] == 1 for d in shadowed)  # production still serves
            log = DecisionLog(sqlite_url(registry / "decisions.db"))
            with log.engine.connect() as conn:
                versions = conn.exec_driver_sql(
                    "SELECT shadow_version FROM decisions ORDER BY seq DESC LIMIT 60").all()
            log.close()
            assert {v for (v,) in versions} == {2}
            waited = _nacre("promote", str(registry), "--min-rows", "1000")
            assert json.loads(waited.stdout)["decision"] == "wait"
            promoted = _nacre("promote", str(registry), "--min-rows", "50")
            evidence = json.loads(promoted.stdout)
            assert evidence["rows"] == 60 and evidence["after_seq"] == 150
            assert evidence["decision"] in ("promote", "reject")
            history = [e["event"] for e in ModelRegistry(registry).history()]
            assert history[-1] == ("promoted" if evidence["decision"] == "promote"
                                   else "rejected")
            if evidence["decision"] == "promote":
                assert _nacre("rollback", str(registry)).returncode == 0
                assert ModelRegistry(registry).production == 1
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_refuses_to_start_without_a_token(run_dir: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NACRE_SERVE_TOKEN"}
    out = subprocess.run([sys.executable, "-m", "nacre", "serve", str(run_dir), "--registry",
                          str(tmp_path / "reg")], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 2 and "needs an API token" in out.stderr
