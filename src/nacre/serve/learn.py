"""Learning from the decision log: the production model, updated on the decisions whose rewards
arrived since it was trained, becomes a new registry version, put in shadow.

Each version records the last log row it learned from (``trained_through_seq``); a new
version starts from the production model and learns the joined rows after that one, so no
event is learned twice and none is skipped. The rows a candidate has *not* learned from — those
logged after it, while it runs in shadow — are the ones its promotion is judged on
(:mod:`nacre.serve.promote`), so the off-policy estimate is never made on training data.

Logged decisions are one-step episodes (a context, an action, its reward): what a contextual
bandit learns from, and what a value learner learns from as ``γ = 0`` data.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from nacre.agent import Agent
from nacre.data.batch import TransitionBatch
from nacre.data.dataset import Dataset
from nacre.errors import ConfigError
from nacre.kinds import LearnerKind
from nacre.serve.log import DecisionLog
from nacre.serve.registry import ModelRegistry
from nacre.spaces import BoxActionSpace


def log_dataset(log: DecisionLog, agent: Agent, after_seq: int = 0,
                through_seq: int | None = None) -> tuple[Dataset, dict[str, np.ndarray]] | None:
    """The joined rows after ``after_seq`` as a dataset of one-step episodes, with contexts
    processed as ``agent`` processes observations and continuous actions in its normalized
    units (what its learner learns from); None if there are none."""
    rows = log.joined(after_seq, through_seq)
    if len(rows["seq"]) == 0:
        return None
    obs, _ = agent.observations(rows["context"])
    action = rows["action"]
    if isinstance(agent.action_space, BoxActionSpace):  # the log holds env units, learners not
        action = agent.action_space.from_env(torch.from_numpy(action)).numpy()
    cost = None if np.isnan(rows["cost"]).any() else rows["cost"]
    data = Dataset.from_arrays(obs=obs, action=action, reward=rows["reward"],
                               next_obs=obs, terminated=np.ones(len(obs)),
                               truncated=np.zeros(len(obs)), propensity=rows["propensity"],
                               cost=cost, seed=0)
    return data, rows


def learn_from_log(registry: ModelRegistry, log: DecisionLog, *, updates: int = 1000,
                   batch_size: int = 64, min_events: int = 1, shadow: bool = True,
                   seed: int = 0) -> int | None:
    """Train a new version from production on the events it has not learned; returns the
    version (put in shadow when ``shadow``), or None when fewer than ``min_events`` are new.

    Learners of kind ``online`` (bandits) see every new event once, in order; ``replay``
    learners take ``updates`` sampled batches of ``batch_size``; on-policy learners cannot
    learn from a log (use an offline learner: docs/offline.md).
    """
    parent = registry.production
    after = int(registry.info(parent)["trained_through_seq"])
    agent = registry.load(parent)
    through = log.last_seq()
    found = log_dataset(log, agent, after, through)
    if found is None or len(found[0]) < min_events:
        return None
    data, rows = found
    started = time.perf_counter()
    torch.manual_seed(seed)
    metrics = _learn(agent, data, updates, batch_size)
    info = {"events": len(data), "first_seq": int(rows["seq"][0]),
            "mean_reward": float(rows["reward"].mean()), "seconds":
            time.perf_counter() - started, **metrics}
    version = registry.add(agent, source=f"learn-from-log {log.name}", parent=parent,
                           trained_through_seq=int(rows["seq"][-1]), metrics=info)
    if shadow:
        registry.set_candidate(version)
    return version


def _learn(agent: Agent, data: Dataset, updates: int, batch_size: int) -> dict[str, Any]:
    kind = agent.learner.kind
    if kind == LearnerKind.ROLLOUT:
        raise ConfigError("an on-policy learner cannot learn from logged decisions: serve an "
                          "off-policy or bandit learner, or fit an offline learner on the "
                          "log's dataset (docs/offline.md)")
    last: dict[str, Any] = {}
    if kind == LearnerKind.ONLINE:  # exact posteriors: every event once, in logging order
        cols = data.arrays()
        for start in range(0, len(data), batch_size):
            part = slice(start, start + batch_size)
            last = dict(agent.learn_batch(_batch(cols, part)))
        return {"passes": 1, **_floats(last)}
    for _ in range(updates):
        last = dict(agent.learn_batch(data.sample(batch_size)))
    return {"updates": updates, **_floats(last)}


def _batch(cols: dict[str, np.ndarray], part: slice) -> TransitionBatch:
    def t(name: str, dtype: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(cols[name][part]).to(dtype)

    return TransitionBatch(obs=t("obs", torch.float32), action=t("action", torch.int64)
                           if np.issubdtype(cols["action"].dtype, np.integer)
                           else t("action", torch.float32),
                           reward=t("reward", torch.float32),
                           next_obs=t("next_obs", torch.float32),
                           terminated=t("terminated", torch.float32),
                           propensity=t("propensity", torch.float32))


def _floats(metrics: dict[str, Any]) -> dict[str, float]:
    return {f"last_{k}": float(v) for k, v in metrics.items()}


__all__ = ["learn_from_log", "log_dataset"]
