"""A simulated promotion: is the OPE gate right about a candidate whose true value is known?

On the synthetic linear bandit (known expected rewards), two SquareCB agents over per-arm ridge
regressions differ only in how much data they learned from: ``weak_rows`` or ``strong_rows``
uniformly random decisions. One is production, the other the candidate (the candidate is the
strong one when ``candidate_better``). Production serves ``shadow_rows`` decisions through the
real decision service path (:class:`~nacre.serve.DecisionService`, the SQLite log, the
registry), rewards are drawn from the bandit, and :func:`nacre.serve.decide_promotion` decides.
The truth is each exploring policy's expected reward on fresh contexts, computed exactly from
the bandit's means. Used by the tests and by ``benchmarks/promotion_simulation.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from nacre.agent import Agent
from nacre.config.build import build
from nacre.config.run import RunConfig, load_preset
from nacre.data.batch import TransitionBatch
from nacre.envs.bandits import SyntheticLinearBandit
from nacre.serve.log import DecisionLog, sqlite_url
from nacre.serve.promote import decide_promotion
from nacre.serve.registry import ModelRegistry
from nacre.serve.service import DecisionService, layout_of
from nacre.train.offpolicy import action_distribution

DEPLOYED_STEPS = 1_000  # SquareCB's γ grows with the decisions made: a model that has served


def _agent(rows: int, bandit: SyntheticLinearBandit, seed: int) -> Agent:
    """A SquareCB agent over ridge regressions fitted on ``rows`` uniformly random decisions."""
    cfg = RunConfig.from_dict({**load_preset("synthetic-lints").to_dict(), "seed": seed,
                               "exploration": {"name": "squarecb"}})
    agent = build(cfg).agent
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((rows, bandit.context_dim)) / np.sqrt(bandit.context_dim))
    a = rng.integers(bandit.n_actions, size=rows)
    mu = (x @ bandit.weights.T)[np.arange(rows), a]
    r = mu + bandit.noise_std * rng.standard_normal(rows)
    obs = torch.from_numpy(x.astype(np.float32))
    agent.learn_batch(TransitionBatch(obs=obs, action=torch.from_numpy(a),
                                      reward=torch.from_numpy(r.astype(np.float32)),
                                      next_obs=obs, terminated=torch.ones(rows)))
    agent.env_steps = DEPLOYED_STEPS
    return agent


def true_value(agent: Agent, bandit: SyntheticLinearBandit, contexts: np.ndarray) -> float:
    """The exploring policy's expected reward on ``contexts``, from the bandit's means."""
    pi = action_distribution(agent, contexts, exploring=True)
    return float((pi * (contexts.astype(np.float64) @ bandit.weights.T)).sum(1).mean())


def simulate(seed: int, candidate_better: bool, folder: str | Path, *, weak_rows: int = 40,
             strong_rows: int = 2000, shadow_rows: int = 2000, margin: float = 0.0,
             resamples: int = 500) -> dict[str, Any]:
    """One simulated promotion decision, with the truth it should match."""
    bandit = SyntheticLinearBandit(problem_seed=seed)
    weak, strong = _agent(weak_rows, bandit, seed), _agent(strong_rows, bandit, seed + 1)
    production, candidate = (weak, strong) if candidate_better else (strong, weak)
    folder = Path(folder)
    registry = ModelRegistry.create(folder / "registry", production, source="simulation")
    registry.set_candidate(registry.add(candidate, source="simulation", parent=1,
                                        trained_through_seq=0))
    log = DecisionLog(sqlite_url(folder / "decisions.db"), layout_of(production))
    service = DecisionService(registry, log, seed=seed)
    rng = np.random.default_rng(seed + 7)
    contexts = rng.standard_normal((shadow_rows, bandit.context_dim)) / np.sqrt(
        bandit.context_dim)
    rows, decisions = service.decide(contexts.tolist(), None, exploit=False)
    actions = np.array([d["action"] for d in decisions])
    mu = (contexts @ bandit.weights.T)[np.arange(shadow_rows), actions]
    rewards = mu + bandit.noise_std * rng.standard_normal(shadow_rows)
    log.write(rows, [{"event_id": d["event_id"], "time": 0.0, "reward": float(r), "cost": None}
                     for d, r in zip(decisions, rewards, strict=True)])
    evidence = decide_promotion(registry, log, min_rows=1, margin=margin, resamples=resamples,
                                seed=seed)
    log.close()
    fresh = rng.standard_normal((20_000, bandit.context_dim)).astype(np.float32) / np.sqrt(
        bandit.context_dim)
    v_prod, v_cand = true_value(production, bandit, fresh), true_value(candidate, bandit, fresh)
    promoted = evidence["decision"] == "promote"
    return {"seed": seed, "candidate_better": candidate_better, "promoted": promoted,
            "correct": promoted == (v_cand > v_prod + margin),
            "true_production": v_prod, "true_candidate": v_cand,
            "estimated_difference": evidence["difference"],
            "registry_production": registry.production}


__all__ = ["DEPLOYED_STEPS", "simulate", "true_value"]
