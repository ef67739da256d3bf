"""Evaluate a trained policy on logged data, without running it: ``nacre ope DATA --policy RUN``.

The data is a dataset folder (``nacre collect``, :meth:`nacre.Dataset.save`) or a run folder,
whose replay holds every transition it logged with its propensity. The policy is a run folder
or saved agent; by default its greedy policy is evaluated (``exploring=True``: its exploration's
action distribution, for exploration modules that can give it).

A log of one-step episodes (contextual bandit) gets IPS, SNIPS, DM, DR and switch-DR; the reward
model of DM and the DR family is a ridge regression per action on standardized observations,
cross-fitted on two halves of the log so that no row is scored by a model fitted on it, and
refitted on every bootstrap resample so that the intervals include its own error. A log of
longer episodes gets per-decision IS and weighted IS (discounted with the policy's ``γ``) and
FQE. Every estimate comes with a 95% bootstrap interval (:mod:`nacre.eval.ope`,
:mod:`nacre.eval.fqe`). A policy over continuous actions gets FQE alone (on one-step logs
it is a direct method), its Q-network on observations and actions, with the policy's greedy
action at each state (``exploring=True``: 10 of its samples): importance sampling would need
the evaluated policy's density, which nacre's continuous exploration modules do not give yet.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nacre.actions import on_device
from nacre.agent import Agent
from nacre.data.dataset import Dataset
from nacre.errors import ConfigError
from nacre.eval.fqe import FQEConfig, fqe
from nacre.eval.ope import (
    BanditEstimator,
    Estimate,
    SequentialEstimator,
    bootstrap_bandit,
    bootstrap_sequential,
)
from nacre.eval.ope_bootstrap import bootstrap_bandit_refit, ridge_q
from nacre.exploration.discrete import Greedy
from nacre.history import IdentityHistory
from nacre.spaces import BoxActionSpace, DiscreteActionSpace
from nacre.train.collect import from_run
from nacre.train.run import load
from nacre.types import ActionDistribution

MODEL_BASED: tuple[BanditEstimator, ...] = ("dm", "dr", "switch_dr")
SEQUENTIAL: tuple[SequentialEstimator, ...] = ("pdis", "wpdis")


def evaluate_offline(data: str | Path | Dataset, policy: str | Path | Agent, *,
                     exploring: bool = False, gamma: float | None = None,
                     resamples: int = 2000, seed: int = 0, switch_tau: float = 10.0,
                     fqe_config: FQEConfig | None = None) -> dict[str, Any]:
    """Off-policy estimates of ``policy``'s value on ``data``: ``{"estimates": [...], ...}``,
    each estimate a dict with ``name, value, low, high, n``."""
    dataset = data if isinstance(data, Dataset) else _dataset(Path(data))
    agent = policy if isinstance(policy, Agent) else load(policy)
    cols = dataset.arrays()
    starts = dataset.episode_starts(cols)
    g = agent.learner.gamma if gamma is None else gamma
    if isinstance(agent.action_space, BoxActionSpace):
        return _continuous(agent, agent.action_space, cols, starts, exploring, g, seed,
                           fqe_config)
    if not isinstance(agent.action_space, DiscreteActionSpace):
        raise ConfigError("nacre ope evaluates policies over discrete or continuous (Box) "
                          f"actions, not {type(agent.action_space).__name__}")
    target = action_distribution(agent, cols["obs"], exploring)
    if cols["action"].max() >= target.shape[1]:
        raise ConfigError(f"the log holds action {cols['action'].max()}, but the policy has "
                          f"{target.shape[1]} actions: a log of another environment?")
    if np.all(cols["propensity"] == 1.0):
        warnings.warn("every logged propensity is 1 (a deterministic logger, or a dataset "
                      "without propensities): importance sampling then treats the logged "
                      "actions as certain; trust DM / FQE rather than IPS / PDIS", UserWarning,
                      stacklevel=2)
    rows = np.arange(len(cols["reward"]))
    ratio = target[rows, cols["action"]] / cols["propensity"]
    one_step = len(starts) == len(rows)
    estimates: list[Estimate] = []
    if one_step:
        # the reward model (DM, DR, switch-DR): ridge per action on standardized observations,
        # refitted on every bootstrap resample so the intervals carry its estimation error
        flat = cols["obs"].reshape(len(rows), -1).astype(np.float64)
        x = (flat - flat.mean(0)) / (flat.std(0) + 1e-8)
        estimates += [bootstrap_bandit(name, cols["reward"], cols["action"],
                                       cols["propensity"], target, resamples=resamples,
                                       seed=seed) for name in ("ips", "snips")]
        refit = bootstrap_bandit_refit(
            MODEL_BASED, cols["reward"], cols["action"], cols["propensity"], target, x,
            ridge_q(target.shape[1]), tau=switch_tau, resamples=resamples, seed=seed)
        estimates += [refit[name] for name in MODEL_BASED]
    else:
        g = _discount(g, one_step)
        for seq in SEQUENTIAL:
            estimates.append(bootstrap_sequential(seq, cols["reward"], ratio, starts, g,
                                                  resamples=resamples, seed=seed))
        config = replace(fqe_config or FQEConfig(), gamma=g, seed=seed)  # the table's γ
        estimates.append(fqe(cols["obs"], cols["action"], cols["reward"], cols["next_obs"],
                             cols["terminated"], action_distribution(agent, cols["next_obs"],
                                                               exploring),
                             cols["obs"][starts], target[starts], config).estimate)
    return _report(exploring, cols, starts, g, float(ratio.max()), estimates)


def _continuous(agent: Agent, space: BoxActionSpace, cols: dict[str, np.ndarray],
                starts: np.ndarray, exploring: bool, gamma: float | None, seed: int,
                fqe_config: FQEConfig | None) -> dict[str, Any]:
    """FQE of a policy over continuous actions, given by its actions (env units, as datasets
    store them) at the logged next states and start states."""
    if cols["action"].shape[1:] != space.shape:
        raise ConfigError(f"the log's actions have shape {list(cols['action'].shape[1:])}, "
                          "not the policy's: a log of another environment?")
    one_step = len(starts) == len(cols["reward"])
    g = _discount(gamma, one_step)
    config = replace(fqe_config or FQEConfig(), gamma=g, seed=seed)
    estimate = fqe(cols["obs"], cols["action"].astype(np.float32), cols["reward"],
                   cols["next_obs"], cols["terminated"],
                   _actions(agent, cols["next_obs"], exploring),
                   cols["obs"][starts], _actions(agent, cols["obs"][starts], exploring),
                   config).estimate
    return _report(exploring, cols, starts, gamma, None, [estimate])


def _report(exploring: bool, cols: dict[str, np.ndarray], starts: np.ndarray,
            gamma: float | None, max_weight: float | None, estimates: list[Estimate]
            ) -> dict[str, Any]:
    """What :func:`evaluate_offline` returns (``max_weight`` None: no importance weights)."""
    return {"policy": "exploring" if exploring else "greedy", "transitions": len(cols["reward"]),
            "episodes": len(starts), "one_step": len(starts) == len(cols["reward"]),
            "gamma": gamma,
            "behaviour_value": _discounted_mean(cols["reward"], starts,
                                                1.0 if gamma is None else gamma),
            "max_weight": max_weight, "estimates": [e.to_dict() for e in estimates]}


def _discount(gamma: float | None, one_step: bool) -> float:
    """The discount of the estimates: any will do for one-step episodes, not for longer."""
    if gamma is None and not one_step:
        raise ConfigError("the log has episodes of several steps but the policy's learner "
                          "has no discount: give gamma (--gamma)")
    return 1.0 if gamma is None else gamma


def _discounted_mean(reward: np.ndarray, starts: np.ndarray, gamma: float) -> float:
    """The logged episodes' mean discounted return: the behaviour policy's value, on the
    estimates' scale."""
    step = np.arange(len(reward)) - np.repeat(starts, np.diff(np.append(starts, len(reward))))
    return float(np.add.reduceat(reward * gamma ** step, starts).mean())


def _dataset(path: Path) -> Dataset:
    """A dataset folder, or a run folder's logged transitions."""
    return from_run(path) if (path / "config.yaml").is_file() else Dataset.load(path)


def _actions(agent: Agent, obs: np.ndarray, exploring: bool, samples: int = 10) -> np.ndarray:
    """The policy's actions at ``obs``: its greedy action ``[N, d]``, or ``samples`` of its
    exploring actions ``[N, samples, d]``, in the env's units."""
    _check_history(agent)
    if not exploring:
        return np.asarray(agent.predict(obs, deterministic=True), np.float32)
    return np.stack([agent.predict(obs, deterministic=False) for _ in range(samples)],
                    axis=1).astype(np.float32)


def _check_history(agent: Agent) -> None:
    if not isinstance(agent.history, IdentityHistory):
        raise ConfigError("nacre ope scores logged rows one by one: a policy with a history "
                          "summarizer needs whole episodes replayed through it (not done yet)")


@torch.inference_mode()
def action_distribution(agent: Agent, obs: np.ndarray, exploring: bool) -> np.ndarray:
    """``π(·|s)`` ``[N, K]`` of the agent's greedy policy or of its exploration, as it acts
    (its observation processing, action representation and safety filter)."""
    chooser = agent.exploration if exploring else Greedy()
    if not isinstance(chooser, ActionDistribution):
        raise ConfigError(f"exploration {type(chooser).__name__} cannot give its action "
                          "distribution: evaluate the greedy policy instead")
    _check_history(agent)
    assert agent.action_space is not None
    features = on_device(agent.action_repr.represent(agent.action_space, None), agent.device)
    out = []
    for part in np.array_split(obs, max(1, len(obs) // 4096)):
        batch, _ = agent.observations(part)
        state = torch.as_tensor(batch, device=agent.device)
        scores = agent.engine.scores(state, features)
        mask = agent.safety.filter(state, scores, None)
        out.append(chooser.distribution(scores, mask, agent.env_steps).double().cpu().numpy())
    return np.concatenate(out)


def table(result: dict[str, Any]) -> str:
    """The estimates as a fixed-width table (what ``nacre ope`` prints)."""
    lines = [f"{'estimator':10s} {'value':>10s}  {'95% CI':>23s}  {'n':>7s}"]
    for e in result["estimates"]:
        lines.append(f"{e['name']:10s} {e['value']:10.3f}  [{e['low']:9.3f}, {e['high']:9.3f}]"
                     f"  {e['n']:7d}")
    if any(e["name"] == "fqe" for e in result["estimates"]):
        lines.append("fqe's interval is the spread over the logged start states; it leaves "
                     "out the fit's own error (nacre.eval.fqe_bootstrap refits for that)")
    lines.append(f"behaviour (logged) value: {result['behaviour_value']:.3f} (γ = "
                 f"{result['gamma']}) over "
                 f"{result['episodes']} episodes" + (
                     "" if result["max_weight"] is None else
                     f"; largest importance weight {result['max_weight']:.3g}"))
    return "\n".join(lines)


def write(result: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


__all__ = ["action_distribution", "evaluate_offline", "table", "write"]
