"""The online training loop: act → step → observe → (learn) on B environments at once.

All schedule intervals count environment transitions over all environments, and the order of
events within a step follows Stable-Baselines3 (target update, then training round) so that
RL-Zoo hyper-parameters mean the same thing here.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nacre.agent import Agent
from nacre.config.run import TrainConfig
from nacre.envs.base import Env
from nacre.errors import InputError
from nacre.spaces import AvailableActions
from nacre.train.checkpoint import save_checkpoint
from nacre.train.loggers import JSONLLogger, Logger, TensorBoardLogger, read_metrics
from nacre.train.plots import plot_learning_curve
from nacre.train.progress import ProgressBar

Callback = Callable[[str, dict[str, Any]], bool | None]
"""Called as ``callback(event, row)`` with event ``log`` | ``eval`` | ``checkpoint``; returning
True stops training after the current step."""


@dataclass
class LoopState:
    """Loop bookkeeping that is not part of the agent (saved in checkpoints)."""

    wall_time_s: float = 0.0
    episodes: int = 0
    pending_returns: list[float] = field(default_factory=list)
    pending_lengths: list[int] = field(default_factory=list)
    last_eval: dict[str, Any] = field(default_factory=dict)
    best_eval: dict[str, Any] = field(default_factory=dict)
    # contextual bandits (one-step environments): totals over the whole run
    decisions: int = 0
    reward_sum: float = 0.0
    regret_sum: float | None = None


@dataclass
class TrainResult:
    agent: Agent
    summary: dict[str, Any]
    run_dir: Path | None


def evaluate(agent: Agent, env: Env | Sequence[Env], episodes: int, seed: int) -> list[float]:
    """Returns of ``episodes`` greedy (``exploit=True``) episodes; episode ``i`` is seeded
    ``seed + i``.

    Given a list of single environments, that many episodes run side by side with one batched
    forward pass per step (the way nacre evaluates during training); given one environment, they
    run one after the other.
    """
    if isinstance(env, Sequence):
        return _evaluate_batched(agent, list(env), episodes, seed)
    if env.num_envs != 1:
        raise InputError("env", f"evaluate takes one environment (or a list of them), got a "
                         f"vector env with num_envs={env.num_envs}")
    returns: list[float] = []
    for i in range(episodes):
        obs = env.reset(seed=seed + i)
        available = getattr(env, "available", None)
        while True:
            action, _ = agent.decide(obs, available, exploit=True)
            result = env.step(action)
            if result.episode_returns:
                returns.append(result.episode_returns[0])
                break
            obs, available = result.obs, result.available
    return returns


def _evaluate_batched(agent: Agent, envs: list[Env], episodes: int, seed: int) -> list[float]:
    returns: dict[int, float] = {}
    for start in range(0, episodes, len(envs)):
        ids = list(range(start, min(start + len(envs), episodes)))
        obs = {i: env.reset(seed=seed + i) for i, env in zip(ids, envs, strict=False)}
        avail = {i: getattr(env, "available", None) for i, env in zip(ids, envs, strict=False)}
        live = dict(zip(ids, envs, strict=False))
        while live:
            keys = list(live)
            actions, _ = agent.decide(np.concatenate([obs[i] for i in keys]),
                                      _stack_available([avail[i] for i in keys]), exploit=True)
            for row, i in enumerate(keys):
                result = live[i].step(actions[row : row + 1])
                if result.episode_returns:
                    returns[i] = result.episode_returns[0]
                    del live[i]
                else:
                    obs[i], avail[i] = result.obs, result.available
    return [returns[i] for i in range(episodes)]


def _stack_available(parts: list[AvailableActions | None]) -> AvailableActions | None:
    """One candidate set for a batch of single environments (None when none restricts)."""
    if all(p is None for p in parts):
        return None
    if any(p is None or p.features is not None for p in parts):
        raise ValueError("batched evaluation supports per-step masks, not per-step features or "
                         "a mix of restricted and unrestricted environments")
    return AvailableActions(torch.cat([p.mask for p in parts if p is not None]))


def _next_multiple(value: int, every: int) -> int:
    return (value // every + 1) * every if every > 0 else math.inf  # type: ignore[return-value]


def fit(
    agent: Agent,
    env: Env,
    train: TrainConfig,
    *,
    seed: int = 0,
    eval_env: Env | Sequence[Env] | None = None,
    run_dir: str | Path | None = None,
    config_yaml: str = "",
    callbacks: Sequence[Callback] = (),
    progress: bool | None = None,
    loop_state: LoopState | None = None,
    env_state_restored: bool = False,
) -> TrainResult:
    """Train ``agent`` in ``env`` until ``train.steps`` environment steps in total.

    Starts from ``agent.env_steps`` (non-zero when resuming). With ``run_dir`` it writes
    ``metrics.jsonl``, checkpoints, ``summary.json`` and ``plots/learning_curve.png`` there.
    """
    state = loop_state or LoopState()
    out = Path(run_dir) if run_dir is not None else None
    loggers: list[Logger] = []
    if out is not None:
        loggers.append(JSONLLogger(out / "metrics.jsonl"))
        if train.tensorboard:
            loggers.append(TensorBoardLogger(out / "tb"))
    if not env_state_restored:
        if agent.env_steps and agent.buffer is not None:
            # Resuming with fresh episodes: the stored episodes were cut here, so n-step and
            # SARSA targets must not run on into the new ones.
            cut = getattr(agent.buffer, "mark_episodes_cut", None)
            if cut is not None:
                cut()
        obs = env.reset(seed=seed + agent.env_steps)
        agent.reset(obs, env.action_space, getattr(env, "available", None))
    learner = agent.learner
    update_target = getattr(learner, "update_target", None)
    bar = ProgressBar(train.steps, agent.env_steps, enabled=progress)
    metrics: dict[str, Any] = {}
    t_start = time.perf_counter()
    wall0 = state.wall_time_s
    steps0 = agent.env_steps

    def emit(event: str, row: dict[str, Any]) -> bool:
        for logger in loggers:
            logger.log(row)
        return any(bool(cb(event, row)) for cb in callbacks)

    if not state.best_eval and state.last_eval.get("returns"):
        # a checkpoint written before best_eval existed: start from its last evaluation
        state.best_eval = {"env_steps": state.last_eval["env_steps"],
                           "return_mean": float(np.mean(state.last_eval["returns"]))}

    def run_eval(step: int) -> bool:
        if eval_env is None:
            return False
        eval_seed = 10_000_019 * (seed + 1) + step
        for target in eval_env if isinstance(eval_env, Sequence) else [eval_env]:
            sync = getattr(target, "sync_problem", None)
            if sync is not None and type(target) is type(env):  # a drifting bandit: evaluate
                # on the problem as it is now
                sync(env)
        returns = evaluate(agent, eval_env, train.eval_episodes, seed=eval_seed)
        state.last_eval = {"env_steps": step, "returns": returns}
        if not state.best_eval or np.mean(returns) > state.best_eval["return_mean"]:
            state.best_eval = {"env_steps": step, "return_mean": float(np.mean(returns))}
        bar.note = f"eval {np.mean(returns):.1f}"
        return emit("eval", {"env_steps": step, "eval/return_mean": float(np.mean(returns)),
                             "eval/return_std": float(np.std(returns))})

    def checkpoint(step: int, consistent: bool = True) -> None:
        if out is None:
            return
        state.wall_time_s = wall0 + time.perf_counter() - t_start
        # After an interrupt the env may be a step ahead of the agent: resume fresh episodes.
        env_state = env.get_state() if consistent and hasattr(env, "get_state") else None
        extra = {"loop": vars(state), "env_state": env_state, "seed": seed}
        stats = getattr(env, "stats_state", None)
        if stats is not None:  # normalization statistics: needed to use the agent at all
            extra["env_stats"] = stats()
        path = save_checkpoint(out / "checkpoints" / f"step_{step:012d}", agent.state_dict(),
                               config_yaml, extra)
        for cb in callbacks:
            cb("checkpoint", {"env_steps": step, "path": str(path)})

    # Learners' schedules (PPO's linear lr / clip) run over the run's current total; fractional
    # exploration schedules are resolved against train.schedule_steps when the run is built.
    budget = train.steps
    step = agent.env_steps
    next_train = max(_next_multiple(step, train.train_freq), 1)
    next_target = _next_multiple(step, train.target_update_interval)
    next_log = _next_multiple(step, train.log_every)
    next_eval = _next_multiple(step, train.eval_every)
    next_ckpt = _next_multiple(step, train.checkpoint_every)
    next_event = min(next_train, next_target, next_log, next_eval, next_ckpt)
    stop = False
    one_step = bool(getattr(env, "one_step", False))
    if getattr(agent.buffer, "full", False):
        # A run interrupted between collecting a rollout and training on it: train first.
        metrics = agent.learn(train.batch_size, train.gradient_steps, progress=step / budget)
    try:
        while step < train.steps and not stop:
            result = env.step(agent.act())
            agent.observe(result)
            step = agent.env_steps
            if one_step and result.regret is not None:
                regret = float(result.regret.sum(dtype=np.float64))
                state.regret_sum = (state.regret_sum or 0.0) + regret
            if result.episode_returns:
                state.pending_returns.extend(result.episode_returns)
                state.pending_lengths.extend(result.episode_lengths)
                state.episodes += len(result.episode_returns)
            if step < next_event:
                continue
            if step >= next_target:
                if update_target is not None:
                    update_target()
                next_target = _next_multiple(step, train.target_update_interval)
            if step >= next_train:
                if step > train.learning_starts and train.gradient_steps > 0:
                    metrics = agent.learn(train.batch_size, train.gradient_steps,
                                          progress=step / budget)
                next_train = _next_multiple(step, train.train_freq)
            if step >= next_log:
                stop |= emit("log", _log_row(agent, state, metrics, wall0, t_start, steps0,
                                              one_step))
                next_log = _next_multiple(step, train.log_every)
                bar.update(step)
            if step >= next_eval:
                stop |= run_eval(step)
                next_eval = _next_multiple(step, train.eval_every)
            if step >= next_ckpt:
                checkpoint(step)
                next_ckpt = _next_multiple(step, train.checkpoint_every)
            next_event = min(next_train, next_target, next_log, next_eval, next_ckpt)
    except KeyboardInterrupt:
        checkpoint(step, consistent=False)  # nothing lost: the run can be resumed from here
        _finish(out, agent, state, seed, wall0, t_start, loggers, one_step, interrupted=True)
        bar.close(step)
        raise
    if state.last_eval.get("env_steps") != step:
        run_eval(step)
    bar.close(step)
    if train.checkpoint_every == 0 or step % train.checkpoint_every != 0:
        checkpoint(step)
    summary = _finish(out, agent, state, seed, wall0, t_start, loggers, one_step,
                      interrupted=False)
    return TrainResult(agent, summary, out)


def _bandit_metrics(state: LoopState, one_step: bool) -> dict[str, Any]:
    """Cumulative and average reward (and regret, where the env knows it) of a bandit run.

    In a one-step environment every decision is an episode, so the episode returns waiting to
    be logged are exactly the rewards: they are folded into the run's totals here, at log time,
    rather than summed again on every step."""
    if not one_step:
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


def _log_row(agent: Agent, state: LoopState, metrics: dict[str, Any], wall0: float,
             t_start: float, steps0: int, one_step: bool) -> dict[str, Any]:
    elapsed = time.perf_counter() - t_start
    row: dict[str, Any] = {
        "env_steps": agent.env_steps,
        "grad_steps": agent.grad_steps,
        "episodes": state.episodes,
        "train/return_mean": float(np.mean(state.pending_returns)) if state.pending_returns
        else None,
        "train/length_mean": float(np.mean(state.pending_lengths)) if state.pending_lengths
        else None,
        "time_s": wall0 + elapsed,
        "env_steps_per_s": (agent.env_steps - steps0) / max(elapsed, 1e-9),
    }
    row.update({k: float(v) for k, v in metrics.items()})
    row.update(_bandit_metrics(state, one_step))
    state.pending_returns, state.pending_lengths = [], []
    return row


def _finish(out: Path | None, agent: Agent, state: LoopState, seed: int, wall0: float,
            t_start: float, loggers: list[Logger], one_step: bool,
            interrupted: bool) -> dict[str, Any]:
    wall = wall0 + time.perf_counter() - t_start
    returns = state.last_eval.get("returns", [])
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
        "seed": seed,
        "interrupted": interrupted,
        **_bandit_metrics(state, one_step),
    }
    for logger in loggers:
        logger.close()
    if out is not None:
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        metrics_path = out / "metrics.jsonl"
        if metrics_path.exists():
            try:
                plot_learning_curve(read_metrics(metrics_path),
                                    out / "plots" / "learning_curve.png", title=out.name)
            except Exception as exc:  # a failed plot must not fail a finished run
                warnings.warn(f"could not draw the learning curve: {exc!r}", stacklevel=2)
    return summary
