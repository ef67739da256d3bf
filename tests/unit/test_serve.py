"""The decision service in-process: the log (durable rows, reward join), the registry (versions,
promotion, rollback), the HTTP API (auth, validation, limits, metrics) and a fuzz of it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from sqlalchemy import event  # noqa: E402

import nacre  # noqa: E402
from nacre.errors import ConfigError  # noqa: E402
from nacre.serve import DecisionLog, ModelRegistry, open_service, sqlite_url  # noqa: E402
from nacre.serve.app import create_app  # noqa: E402
from nacre.serve.runner import serve  # noqa: E402

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LAYOUT = {"observation_shape": [2], "action": "discrete", "n_actions": 3}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("serve") / "run"
    nacre.train("synthetic-lints", steps=200, out=out, progress=False)
    return out


@pytest.fixture(params=[True, False], ids=["fast-path", "fastapi"])
def client(run_dir: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """The API tests run on both ways of answering /v1/decide: they must not differ."""
    service = open_service(run_dir, registry=tmp_path / "registry")
    with TestClient(create_app(service, token=TOKEN, fast_path=request.param)) as c:
        c.service = service
        yield c


def _row(event_id: str, action: int = 1) -> dict[str, Any]:
    return {"event_id": event_id, "time": 0.0, "model_version": 1,
            "context": np.array([0.5, -1.0], np.float32).tobytes(), "action": action,
            "action_values": None, "propensity": 0.25, "candidates": None,
            "num_candidates": None, "shadow_version": None, "shadow_action": None,
            "shadow_action_values": None, "shadow_propensity": None}


# ---------------------------------------------------------------------------- the log
def test_log_joins_rewards_in_any_order_once(tmp_path: Path) -> None:
    log = DecisionLog(sqlite_url(tmp_path / "log.db"), LAYOUT)
    ids = [f"{i:032x}" for i in range(3)]
    log.write([_row(i, action=n) for n, i in enumerate(ids)])
    statuses = log.write(rewards=[
        {"event_id": ids[2], "time": 1.0, "reward": 2.0, "cost": None},
        {"event_id": ids[0], "time": 1.0, "reward": 0.5, "cost": 0.1},
        {"event_id": ids[0], "time": 1.0, "reward": 9.0, "cost": None},  # a second one
        {"event_id": "f" * 32, "time": 1.0, "reward": 1.0, "cost": None}])  # never decided
    assert statuses == ["ok", "ok", "duplicate", "unknown"]
    rows = log.joined()
    assert rows["seq"].tolist() == [1, 3]  # decision order, not reward order
    assert rows["reward"].tolist() == [0.5, 2.0]
    assert rows["action"].tolist() == [0, 2]
    np.testing.assert_array_equal(rows["context"], [[0.5, -1.0], [0.5, -1.0]])
    assert log.counts() == {"decisions": 3, "rewards": 2, "joined": 2}
    log.close()


def test_log_refuses_another_models_layout(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "log.db")
    DecisionLog(url, LAYOUT).close()
    with pytest.raises(ConfigError, match="another kind of model"):
        DecisionLog(url, {**LAYOUT, "n_actions": 4})
    assert DecisionLog(url).layout == LAYOUT  # reopened without one: the stored layout


def test_log_is_sqlite_wal_with_full_sync(tmp_path: Path) -> None:
    from sqlalchemy import text

    log = DecisionLog(sqlite_url(tmp_path / "log.db"), LAYOUT)
    with log.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar_one() == 2  # FULL
    log.close()


# ---------------------------------------------------------------------------- the registry
def test_registry_promotes_rejects_rolls_back_and_records(run_dir: Path, tmp_path: Path) -> None:
    agent = nacre.load(run_dir)
    reg = ModelRegistry.create(tmp_path / "reg", agent, source="test")
    v2 = reg.add(agent, source="test", parent=1, trained_through_seq=5)
    reg.set_candidate(v2)
    assert (reg.production, reg.candidate) == (1, 2)
    reg.promote(v2, {"why": "better"})
    assert (reg.production, reg.candidate) == (2, None)
    v3 = reg.add(agent, source="test", parent=2, trained_through_seq=9)
    reg.set_candidate(v3)
    reg.reject(v3, {"why": "worse"})
    assert (reg.production, reg.candidate) == (2, None)
    assert reg.rollback("bad night") == 1
    assert reg.production == 1
    events = [(e["event"], e["production"]) for e in reg.history()]
    assert events == [("created", 1), ("candidate", 1), ("promoted", 2), ("candidate", 2),
                      ("rejected", 2), ("rolled_back", 1)]
    assert reg.history()[2]["evidence"] == {"why": "better"}
    with pytest.raises(ConfigError, match="nothing to roll back"):
        reg.rollback()
    with pytest.raises(ConfigError, match="no version 7"):
        reg.load(7)
    assert reg.info(v3)["trained_through_seq"] == 9


# ---------------------------------------------------------------------------- the API
def test_decide_then_reward(client: Any) -> None:
    one = client.post("/v1/decide", json={"context": [0.1] * 16}, headers=AUTH)
    assert one.status_code == 200
    (d,) = one.json()["decisions"]
    assert 0 <= d["action"] < 10 and 0 < d["propensity"] <= 1 and d["model_version"] == 1
    batch = client.post("/v1/decide", json={"contexts": [[0.1] * 16, [-0.2] * 16]},
                        headers=AUTH).json()["decisions"]
    assert len(batch) == 2 and len({b["event_id"] for b in batch + [d]}) == 3
    late = client.post("/v1/reward", json={"event_id": batch[1]["event_id"], "reward": 1.5},
                       headers=AUTH)
    assert late.status_code == 200 and late.json()["status"] == "joined"
    again = client.post("/v1/reward", json={"event_id": batch[1]["event_id"], "reward": 1.0},
                        headers=AUTH)
    assert again.status_code == 409
    unknown = client.post("/v1/reward", json={"event_id": "a" * 32, "reward": 1.0},
                          headers=AUTH)
    assert unknown.status_code == 404
    assert client.service.log.counts() == {"decisions": 3, "rewards": 1, "joined": 1}
    exploit = client.post("/v1/decide", json={"context": [0.1] * 16, "exploit": True},
                          headers=AUTH).json()["decisions"][0]
    assert exploit["propensity"] == 1.0


def test_a_reward_batch_joins_each_reward_on_its_own(client: Any) -> None:
    events = [d["event_id"] for d in client.post(
        "/v1/decide", json={"contexts": [[0.1] * 16] * 3}, headers=AUTH).json()["decisions"]]
    client.post("/v1/reward", json={"event_id": events[0], "reward": 1.0}, headers=AUTH)
    batch = [{"event_id": events[1], "reward": 0.5}, {"event_id": "b" * 32, "reward": 1.0},
             {"event_id": events[1], "reward": 2.0},  # the same event twice in one batch
             {"event_id": events[0], "reward": 1.0}, {"event_id": events[2], "reward": -1.0,
                                                      "cost": 0.3}]
    r = client.post("/v1/rewards", json={"rewards": batch}, headers=AUTH)
    assert r.status_code == 200
    assert [x["status"] for x in r.json()["results"]] == [
        "joined", "unknown", "duplicate", "duplicate", "joined"]
    assert client.service.log.counts() == {"decisions": 3, "rewards": 3, "joined": 3}
    too_many = [{"event_id": "c" * 32, "reward": 0.0}] * 1025
    assert client.post("/v1/rewards", json={"rewards": too_many},
                       headers=AUTH).status_code == 422
    assert client.post("/v1/rewards", json={"rewards": []}, headers=AUTH).status_code == 422


def test_the_log_joins_more_rewards_per_commit_than_one_statement_binds(tmp_path: Path) -> None:
    log = DecisionLog(sqlite_url(tmp_path / "log.db"), LAYOUT)
    # SQLite's default bound (this build's may be higher), on every new connection
    event.listen(log.engine, "connect", lambda dbapi, _: dbapi.setlimit(
        sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32_766))
    log.engine.dispose()
    ids = [f"{i:032x}" for i in range(40_000)]
    log.write([_row(i) for i in ids])
    statuses = log.write(rewards=[{"event_id": i, "reward": 1.0, "cost": None, "time": 1.0}
                                  for i in ids + ids[:1]])
    assert statuses.count("ok") == 40_000 and statuses[-1] == "duplicate"
    log.close()


def test_requests_without_the_token_are_refused(client: Any) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        r = client.post("/v1/decide", json={"context": [0.1] * 16}, headers=headers)
        assert r.status_code == 401, headers
        assert client.post("/v1/reward", json={"event_id": "a" * 32, "reward": 1.0},
                           headers=headers).status_code == 401
        assert client.post("/v1/rewards", json={"rewards": [{"event_id": "a" * 32,
                                                             "reward": 1.0}]},
                           headers=headers).status_code == 401
        assert client.get("/metrics", headers=headers).status_code == 401
    assert client.get("/healthz").json() == {"status": "ok", "production": 1,
                                             "candidate": None}
    assert client.service.log.counts()["decisions"] == 0


def test_a_dead_log_writer_means_503_and_nothing_acknowledged(client: Any) -> None:
    log = client.service.log
    assert client.post("/v1/decide", json={"context": [0.1] * 16}, headers=AUTH).is_success
    os.kill(log.writer_pid, signal.SIGKILL)
    for _ in range(2):  # before and after the service noticed the writer's end
        r = client.post("/v1/decide", json={"context": [0.1] * 16}, headers=AUTH)
        assert r.status_code == 503, r.text
        assert "writer" in r.json()["detail"]
        time.sleep(0.2)
    assert log.counts()["decisions"] == 1
    metrics = client.get("/metrics", headers=AUTH).text  # the writer's gone: no numbers of it
    assert "process_resident_memory_bytes" in metrics
    assert "nacre_log_writer_process_" not in metrics


def test_the_openapi_document_describes_the_bodies_and_needs_the_token(client: Any) -> None:
    assert client.get("/openapi.json").status_code == 401
    paths = client.get("/openapi.json", headers=AUTH).json()["paths"]
    decide = paths["/v1/decide"]["post"]
    request = decide["requestBody"]["content"]["application/json"]["schema"]
    assert {"context", "contexts", "candidates", "exploit"} <= set(request["properties"])
    assert "200" in decide["responses"]
    batch = paths["/v1/rewards"]["post"]["requestBody"]["content"]["application/json"]
    assert "rewards" in batch["schema"]["properties"]


@pytest.mark.parametrize("body", [
    b'{"context": [NaN' + b', 0' * 15 + b']}',
    b'{"context": [Infinity' + b', 0' * 15 + b']}',
    b'{"context": [1e999' + b', 0' * 15 + b']}',
    b'{"context": [3.5e38' + b', 0' * 15 + b']}',  # finite, but not as a float32
    b'{"context": [0.1, 0.2]}',  # the wrong size
    b'{"context": [0.1], "contexts": [[0.1]]}',  # both forms
    b'{"contexts": []}',
    b'{"context": ["a"' + b', 0' * 15 + b']}',
    b'{"context": [0' + b', 0' * 15 + b'], "admin": true}',  # unknown field
    b'{"context": [0' + b', 0' * 15 + b'], "candidates": [[[1.0]]]}',  # a fixed-action model
    b'{"conte',
    b'[]',
    b'',
])
def test_bad_decide_bodies_get_a_4xx_with_a_message_and_log_nothing(client: Any,
                                                                    body: bytes) -> None:
    r = client.post("/v1/decide", content=body,
                    headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"]
    assert client.service.log.counts()["decisions"] == 0


def test_bad_rewards_are_refused(client: Any) -> None:
    for body in ({"event_id": "a" * 32, "reward": float("nan")}, {"event_id": "xyz", "reward": 1},
                 {"event_id": "a" * 32}, {"event_id": "a" * 32, "reward": 1, "extra": 2}):
        r = client.post("/v1/reward", content=json.dumps(body).encode(),
                        headers={**AUTH, "Content-Type": "application/json"})
        assert r.status_code == 422, body
    assert client.service.log.counts()["rewards"] == 0


def test_oversized_bodies_are_refused_before_they_are_read(run_dir: Path, tmp_path: Path) -> None:
    service = open_service(run_dir, registry=tmp_path / "registry")
    with TestClient(create_app(service, token=TOKEN, max_body_bytes=1000)) as c:
        r = c.post("/v1/decide", json={"contexts": [[0.1] * 16] * 20}, headers=AUTH)
        assert r.status_code == 413
        assert c.post("/v1/decide", json={"context": [0.1] * 16},
                      headers=AUTH).status_code == 200
        assert service.log.counts()["decisions"] == 1


def test_metrics_are_prometheus_text(client: Any) -> None:
    client.post("/v1/decide", json={"contexts": [[0.1] * 16] * 3}, headers=AUTH)
    text = client.get("/metrics", headers=AUTH).text
    assert "nacre_decisions_total 3.0" in text
    assert "nacre_decide_seconds_count 1.0" in text
    assert "nacre_production_version 1.0" in text
    assert "process_resident_memory_bytes" in text
    if sys.platform == "linux":  # the log writer's process, read from /proc
        values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                  if line.startswith(("process_", "nacre_log_writer_process_"))}
        assert "nacre_log_writer_process_resident_memory_bytes" in values
        # the writer's own process: forked when the service opened, after this one started
        assert (values["nacre_log_writer_process_start_time_seconds"]
                > values["process_start_time_seconds"])


def test_the_service_swaps_to_a_promoted_version_and_shadows_the_candidate(
        client: Any) -> None:
    service = client.service
    reg = service.registry
    v2 = reg.add(service.production.agent, source="test", parent=1, trained_through_seq=0)
    reg.set_candidate(v2)
    assert service.refresh()
    client.post("/v1/decide", json={"context": [0.1] * 16}, headers=AUTH)
    rows = service.log.engine.connect().exec_driver_sql(
        "SELECT model_version, shadow_version, shadow_action, shadow_propensity "
        "FROM decisions").fetchall()
    assert rows[0][:2] == (1, 2) and rows[0][2] is not None and 0 < rows[0][3] <= 1
    reg.promote(v2, {})
    service.refresh()
    assert client.get("/healthz").json()["production"] == 2


def test_serving_needs_a_token_or_loopback(run_dir: Path) -> None:
    with pytest.raises(ConfigError, match="needs an API token"):
        serve(run_dir)
    with pytest.raises(ConfigError, match="loopback only"):
        serve(run_dir, insecure_local=True, host="0.0.0.0")
    with pytest.raises(ConfigError, match="shorter than 16"):
        serve(run_dir, token="short")


def test_an_insecure_local_service_takes_requests_without_a_token(run_dir: Path,
                                                                  tmp_path: Path) -> None:
    service = open_service(run_dir, registry=tmp_path / "registry")
    with TestClient(create_app(service, token=None)) as c:
        assert c.post("/v1/decide", json={"context": [0.0] * 16}).status_code == 200


# ---------------------------------------------------------------------------- fuzz
_json = st.recursive(
    st.none() | st.booleans()
    | st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False)
    | st.integers(-10**30, 10**30) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=20) | st.dictionaries(
        st.sampled_from(["context", "contexts", "candidates", "exploit", "event_id", "reward",
                         "cost", "x"]) | st.text(max_size=8), inner, max_size=5),
    max_leaves=60)


_number = (st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False)
           | st.integers(-10**400, 10**400) | st.text(max_size=3))
_near_valid = st.fixed_dictionaries(  # bodies close to valid ones, where bugs hide
    {"context": st.lists(_number, min_size=15, max_size=17)},
    optional={"exploit": _json, "candidates": _json, "event_id": _json, "reward": _number})
_near_reward = st.fixed_dictionaries(
    {"event_id": st.text(alphabet="0123456789abcdefg", min_size=31, max_size=33),
     "reward": _number}, optional={"cost": _number})


@settings(max_examples=200, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(path=st.sampled_from(["/v1/decide", "/v1/reward", "/v1/rewards"]),
       body=_json | _near_valid | _near_reward | st.fixed_dictionaries(
           {"rewards": st.lists(_near_reward | _json, max_size=3)}), raw=st.binary(max_size=64))
def test_fuzzed_requests_never_get_a_5xx(client: Any, path: str, body: Any, raw: bytes) -> None:
    before = client.service.log.counts()
    acknowledged = 0
    for content in (json.dumps(body, allow_nan=True).encode(), raw):
        r = client.post(path, content=content,
                        headers={**AUTH, "Content-Type": "application/json"})
        assert r.status_code < 500, (r.status_code, r.text)
        if r.status_code >= 400:
            assert r.json()["detail"]
        elif path == "/v1/decide":
            acknowledged += len(r.json()["decisions"])
    after = client.service.log.counts()
    assert after["decisions"] - before["decisions"] == acknowledged  # nothing else logged
