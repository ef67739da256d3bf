"""What a run reports: its metric rows (``metrics.jsonl``) and its summary (``summary.json``)."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from nacre.train.callbacks import Training


def _bandit_totals(training: Training) -> dict[str, Any]:
    """Cumulative and average reward (and regret, where the env knows it) of a bandit run.

    In a one-step environment every decision is an episode, so the episode returns waiting to
    be logged are exactly the rewards: they are folded into the run's totals here, at log time,
    rather than summed again on every step."""
    state = training.state
    if not training.env.one_step:
        return {}
    state.decisions += len(state.pending_returns)
    state.reward_sum += float(np.sum(state.pending_returns, dtype=np.float64))
    state.pending_returns, state.pending_lengths = [], []
    if not state.decisions:
        return {}
    row: dict[str, Any] = {"bandit/cumulative_reward": state.reward_sum,
                           "bandit/average_reward": state.reward_sum / state.decisions}
    if state.regret_sum is not None:
        row["bandit/cumulative_regret"] = state.regret_sum
        row["bandit/average_regret"] = state.regret_sum / state.decisions
    return row


def log_row(training: Training) -> dict[str, Any]:
    """The metrics row of now; the episodes it reports are then forgotten."""
    state, agent = training.state, training.agent
    elapsed = time.perf_counter() - training.started_at
    row: dict[str, Any] = {
        "env_steps": agent.env_steps,
        "grad_steps": agent.grad_steps,
        "episodes": state.episodes,
        "train/return_mean": float(np.mean(state.pending_returns)) if state.pending_returns
        else None,
        "train/length_mean": float(np.mean(state.pending_lengths)) if state.pending_lengths
        else None,
        "time_s": training.wall_time_s,
        "env_steps_per_s": (agent.env_steps - training.steps_at_start) / max(elapsed, 1e-9),
    }
    row.update({k: float(v) for k, v in training.metrics.items()})
    row.update(_bandit_totals(training))
    if state.env_faults:
        row["env/faults"] = state.env_faults
    state.pending_returns, state.pending_lengths = [], []
    return row


def write_summary(training: Training, interrupted: bool) -> dict[str, Any]:
    """The run's summary (and ``summary.json`` and the learning-curve plot in its folder)."""
    state, agent = training.state, training.agent
    wall = training.wall_time_s
    returns: list[float] = state.last_eval.get("returns", [])
    summary = {
        "final_eval_return_mean": float(np.mean(returns)) if returns else None,
        "final_eval_return_std": float(np.std(returns)) if returns else None,
        "final_eval_returns": returns,
        # DQN-style learners oscillate: the best periodic evaluation says whether the run ever
        # got there (the checkpoints hold the final parameters).
        "best_eval_return_mean": state.best_eval.get("return_mean"),
        "best_eval_env_steps": state.best_eval.get("env_steps"),
        "env_steps": agent.env_steps,
        "grad_steps": agent.grad_steps,
        "episodes": state.episodes,
        "wall_time_s": wall,
        "env_steps_per_s": agent.env_steps / max(wall, 1e-9),
        "seed": training.seed,
        "interrupted": interrupted,
        "stop_reason": training.stop_reason,
        "env_faults": state.env_faults,
        **_bandit_totals(training),
    }
    if training.run_dir is not None:
        (training.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


__all__ = ["log_row", "write_summary"]
