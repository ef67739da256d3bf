"""OPE-gated promotion: the candidate replaces production only when the log says it is better.

The evidence is the doubly robust estimate (Dudík et al. 2011) of ``V(candidate) −
V(production)`` on the decisions logged *after* the candidate's training data (its shadow
period), with a paired bootstrap interval that refits the reward model on every resample
(:func:`nacre.eval.ope_bootstrap.bootstrap_difference_refit`). The candidate is promoted when
the interval's lower end clears ``margin``; otherwise it is rejected. Both outcomes are
recorded in the registry with the estimates, the interval and the rows used, so every
promotion can be audited and rolled back (:meth:`ModelRegistry.rollback`).

A one-sided 97.5 % lower bound means a candidate no better than production is promoted in at
most ~2.5 % of comparisons (when the estimator is unbiased); how often a truly better one is
promoted depends on how much better it is and how many rows the shadow period logged
(``benchmarks/promotion_simulation.py`` measures both).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nacre.errors import ConfigError
from nacre.eval.ope_bootstrap import (
    bootstrap_bandit_refit,
    bootstrap_difference_refit,
    ridge_q,
)
from nacre.serve.learn import log_dataset
from nacre.serve.log import DecisionLog
from nacre.serve.registry import ModelRegistry
from nacre.spaces import DiscreteActionSpace
from nacre.train.offpolicy import action_distribution


def compare(registry: ModelRegistry, log: DecisionLog, candidate: int | None = None, *,
            margin: float = 0.0, exploring: bool = True, resamples: int = 1000,
            seed: int = 0) -> dict[str, Any]:
    """The evidence for promoting ``candidate`` (default: the registry's) over production:
    DR estimates of both and of their difference on the rows logged after the candidate's
    training data, and ``decision``: ``promote`` or ``reject``. ``exploring``: compare the
    policies as they serve (their exploration), else their greedy policies."""
    version = registry.candidate if candidate is None else candidate
    if version is None:
        raise ConfigError(f"{registry.path} has no candidate in shadow: give one")
    production = registry.load(registry.production)
    challenger = registry.load(version)
    if not isinstance(production.action_space, DiscreteActionSpace):
        raise ConfigError("promotion by DR needs action probabilities: discrete actions only "
                          "(continuous policies' densities are not estimated yet)")
    after = int(registry.info(version)["trained_through_seq"])
    found = log_dataset(log, production, after)
    if found is None:
        raise ConfigError(f"no rewarded decisions logged after row {after} (the candidate's "
                          "training data): let it run in shadow first")
    _, rows = found
    contexts = rows["context"]
    target = action_distribution(challenger, contexts, exploring)
    baseline = action_distribution(production, contexts, exploring)
    flat = contexts.reshape(len(contexts), -1).astype(np.float64)
    x = (flat - flat.mean(0)) / (flat.std(0) + 1e-8)  # the ridge's features, standardized
    fit = ridge_q(target.shape[1])
    args = (rows["reward"], rows["action"], rows["propensity"])
    diff = bootstrap_difference_refit("dr", *args, target, baseline, x, fit,
                                      resamples=resamples, seed=seed)
    each = {name: bootstrap_bandit_refit(["dr"], *args, pi, x, fit, resamples=resamples,
                                         seed=seed)["dr"].to_dict()
            for name, pi in (("candidate", target), ("production", baseline))}
    return {"candidate": version, "production": registry.production, "estimator": "dr",
            "policy": "exploring" if exploring else "greedy", "margin": margin,
            "rows": len(rows["seq"]), "after_seq": after, "through_seq": int(rows["seq"][-1]),
            "difference": diff.to_dict(), "estimates": each,
            "decision": "promote" if diff.low > margin else "reject"}


def decide_promotion(registry: ModelRegistry, log: DecisionLog, *, min_rows: int = 1000,
                     margin: float = 0.0, exploring: bool = True, resamples: int = 1000,
                     seed: int = 0) -> dict[str, Any]:
    """:func:`compare`, then promote or reject the candidate in the registry (recorded with
    the evidence); with fewer than ``min_rows`` shadow rows, nothing changes and ``decision``
    is ``wait``."""
    evidence = compare(registry, log, margin=margin, exploring=exploring, resamples=resamples,
                       seed=seed)
    if evidence["rows"] < min_rows:
        return {**evidence, "decision": "wait"}
    if evidence["decision"] == "promote":
        registry.promote(evidence["candidate"], evidence)
    else:
        registry.reject(evidence["candidate"], evidence)
    return evidence


__all__ = ["compare", "decide_promotion"]
