"""The decision log on PostgreSQL: the writer process's statements in PostgreSQL's dialect and
parameter style, group commits, reward statuses and the joined dataset.

Runs when ``NACRE_TEST_POSTGRES_URL`` names an empty database to use (its log tables are
dropped first), e.g. ``postgresql+psycopg://nacre:nacre@127.0.0.1/nacre_test`` with the
``psycopg`` driver installed; skipped otherwise (CI has no PostgreSQL server).
"""

from __future__ import annotations

import asyncio
import os

import numpy as np
import pytest

pytest.importorskip("sqlalchemy")
URL = os.environ.get("NACRE_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not URL, reason="NACRE_TEST_POSTGRES_URL is not set")

LAYOUT = {"observation_shape": [2], "action": "discrete", "n_actions": 3}


def _row(event_id: str, action: int) -> dict[str, object]:
    return {"event_id": event_id, "time": 0.0, "model_version": 1,
            "context": np.array([0.5, -1.0], np.float32).tobytes(), "action": action,
            "action_values": None, "propensity": 0.25, "candidates": None,
            "num_candidates": None, "shadow_version": None, "shadow_action": None,
            "shadow_action_values": None, "shadow_propensity": None}


def test_the_log_writes_and_joins_on_postgresql() -> None:
    from sqlalchemy.engine import make_url

    from nacre.serve import DecisionLog
    from nacre.serve.sql import METADATA, engine_for

    assert URL is not None
    engine = engine_for(URL)
    METADATA.drop_all(engine)
    engine.dispose()
    log = DecisionLog(URL, LAYOUT)
    if make_url(URL).password:  # shown nowhere: not in messages, the registry, the console
        assert log.name == make_url(URL).render_as_string(hide_password=True)
        assert ":***@" in log.name
    log.start()
    ids = [f"{i:032x}" for i in range(300)]

    async def serve() -> list[list[str]]:
        # many requests at once: the writer commits them in groups
        await asyncio.gather(*(log.commit([_row(i, n % 3)]) for n, i in enumerate(ids)))
        return await asyncio.gather(
            log.commit(rewards=[{"event_id": ids[5], "time": 1.0, "reward": 2.0,
                                 "cost": None}]),
            log.commit(rewards=[{"event_id": ids[7], "time": 1.0, "reward": 0.5, "cost": 0.1},
                                {"event_id": ids[7], "time": 1.0, "reward": 9.0, "cost": None},
                                {"event_id": "f" * 32, "time": 1.0, "reward": 1.0,
                                 "cost": None}]))

    statuses = asyncio.run(serve())
    assert statuses == [["ok"], ["ok", "duplicate", "unknown"]]
    assert log.commits < len(ids) + 2  # grouped
    log.close()

    reopened = DecisionLog(URL)  # the layout comes back from the database
    assert reopened.layout == LAYOUT
    assert reopened.counts() == {"decisions": 300, "rewards": 2, "joined": 2}
    assert reopened.write(rewards=[{"event_id": ids[5], "time": 2.0, "reward": 1.0,
                                    "cost": None}]) == ["duplicate"]
    rows = reopened.joined()
    assert rows["reward"].tolist() == [2.0, 0.5]
    assert rows["action"].tolist() == [5 % 3, 7 % 3]
    np.testing.assert_array_equal(rows["context"], [[0.5, -1.0]] * 2)
    reopened.close()
