"""The training loop's callback API.

A :class:`Callback` is told what the loop does — each step, each training round, each
evaluation, log row and checkpoint — through the :class:`Training` it is handed, which holds the
agent, the environment, the schedule and what happened so far, and whose :meth:`Training.stop`
ends training after the current step (a checkpoint and the summary are still written). Pass
callbacks to :func:`nacre.train`, :func:`nacre.resume` or :func:`nacre.fit`::

    class StopAtReturn(nacre.Callback):
        def on_eval(self, training, returns):
            if sum(returns) / len(returns) >= 475:
                training.stop("solved")

    nacre.train("cartpole-dqn", callbacks=[StopAtReturn()])

(:class:`StopOnReward` is that callback, built in.) Stable-Baselines3 users: ``on_step`` is
``_on_step`` and ``on_rollout_end`` is ``_on_rollout_end``; training stops through
``training.stop()`` rather than a return value.

Evaluation, checkpoints and logging are themselves callbacks of this kind
(:mod:`nacre.train.events`), scheduled by the loop at their intervals.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydantic
import torch
from typing_extensions import TypedDict

from nacre.agent import Agent
from nacre.config.run import TrainConfig
from nacre.envs.base import ActionResult, Env
from nacre.types import Metrics

# Checkpoints hold the loop state as JSON; these types are also its schema (unknown keys and
# values of the wrong type are refused when a checkpoint is loaded).
_STRICT = pydantic.ConfigDict(extra="forbid", strict=True)


@pydantic.with_config(_STRICT)
class LastEval(TypedDict, total=False):
    """The latest greedy evaluation: when, and its episode returns."""

    env_steps: int
    returns: list[float]


@pydantic.with_config(_STRICT)
class BestEval(TypedDict, total=False):
    """The best greedy evaluation so far: when, and its mean return."""

    env_steps: int
    return_mean: float


@pydantic.with_config(_STRICT)
@dataclass
class LoopState:
    """Loop bookkeeping that is not part of the agent (saved in checkpoints)."""

    wall_time_s: float = 0.0
    episodes: int = 0
    pending_returns: list[float] = field(default_factory=list)
    pending_lengths: list[int] = field(default_factory=list)
    last_eval: LastEval = field(default_factory=LastEval)
    best_eval: BestEval = field(default_factory=BestEval)
    # contextual bandits (one-step environments): totals over the whole run
    decisions: int = 0
    reward_sum: float = 0.0
    regret_sum: float | None = None
    # environment faults survived (nacre.envs.faults)
    env_faults: int = 0
    # the learner's metrics of the last training round, which the next log row reports: a
    # resumed run reports them too, before its own first round
    last_metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class Training:
    """What callbacks see of a run in progress.

    Attributes:
        agent: the agent being trained.
        env: the training environment.
        config: the schedule (:class:`~nacre.TrainConfig`).
        seed: the run's seed.
        run_dir: the run folder (None: nothing is written).
        state: counters and evaluations so far (checkpointed with the run).
        metrics: the learner's metrics of the last training round.
    """

    agent: Agent
    env: Env
    config: TrainConfig
    seed: int
    run_dir: Path | None
    state: LoopState
    metrics: Metrics = field(default_factory=dict)
    stop_reason: str | None = None

    def __post_init__(self) -> None:
        if not self.metrics and self.state.last_metrics:  # resumed: the checkpoint's round
            self.metrics = {k: torch.tensor(v, dtype=torch.float64)
                            for k, v in self.state.last_metrics.items()}
        self.started_at = time.perf_counter()
        self.steps_at_start = self.agent.env_steps
        self._wall_at_start = self.state.wall_time_s  # a resumed run's time so far

    @property
    def wall_time_s(self) -> float:
        """Wall time of the run so far (earlier sessions of a resumed run included)."""
        return self._wall_at_start + time.perf_counter() - self.started_at

    @property
    def env_steps(self) -> int:
        """Environment steps so far (over all environments)."""
        return self.agent.env_steps

    @property
    def progress(self) -> float:
        """How far the run is, in [0, 1] of its budget."""
        return min(1.0, self.agent.env_steps / self.config.steps)

    @property
    def stopping(self) -> bool:
        return self.stop_reason is not None

    def stop(self, reason: str = "stopped by a callback") -> None:
        """End training after the current step."""
        self.stop_reason = reason

    def record(self, result: ActionResult) -> None:
        """Fold one step's finished episodes (and a bandit's regret) into the state."""
        state = self.state
        if result.regret is not None and self.env.one_step:
            regret = float(result.regret.sum(dtype=np.float64))
            state.regret_sum = (state.regret_sum or 0.0) + regret
        if result.faults:
            state.env_faults += len(result.faults)
        if result.episode_returns:
            state.pending_returns.extend(result.episode_returns)
            state.pending_lengths.extend(result.episode_lengths)
            state.episodes += len(result.episode_returns)


class Callback:
    """Hooks the training loop calls; override the ones you need (all do nothing here)."""

    def on_training_start(self, training: Training) -> None:
        """Before the first step (of this call: a resumed run starts again here)."""

    def on_step(self, training: Training, result: ActionResult) -> None:
        """After every environment step (``B`` transitions), before any training round."""

    def on_rollout_end(self, training: Training) -> None:
        """Before each training round, once its data is collected."""

    def on_train(self, training: Training, metrics: Metrics) -> None:
        """After each training round, with the learner's metrics."""

    def on_log(self, training: Training, row: dict[str, Any]) -> None:
        """After each metrics row is written (every ``train.log_every`` steps)."""

    def on_eval(self, training: Training, returns: list[float]) -> None:
        """After each greedy evaluation, with the episode returns."""

    def on_checkpoint(self, training: Training, path: Path) -> None:
        """After each checkpoint is written."""

    def on_training_end(self, training: Training) -> None:
        """After the last step (also when stopped by a callback; not on Ctrl-C)."""


class StopOnReward(Callback):
    """Stop training once a greedy evaluation's mean return reaches ``threshold`` (what
    Stable-Baselines3's ``StopTrainingOnRewardThreshold`` does). Needs evaluations
    (``train.eval_every``)."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def on_eval(self, training: Training, returns: list[float]) -> None:
        mean = float(np.mean(returns))
        if mean >= self.threshold:
            training.stop(f"evaluation return {mean:.1f} >= {self.threshold}")


__all__ = ["Callback", "LoopState", "StopOnReward", "Training"]
