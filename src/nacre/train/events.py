"""What the training loop does besides stepping: scheduled events, each a :class:`Callback`.

The loop calls an event's :meth:`Scheduled.on_due` every ``every`` environment steps (counted
over all environments), in the order of :func:`standard_events` — target update, then training
round, as in Stable-Baselines3, so that RL-Zoo hyper-parameters mean the same thing here — and
each event tells the user's callbacks what it did.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
import warnings
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pydantic

from nacre.config import yaml_io
from nacre.config.run import RunConfig, TrainConfig
from nacre.envs.bandits import SyntheticLinearBandit
from nacre.envs.base import Env
from nacre.envs.normalize import Normalize, NormalizeStats
from nacre.errors import NacreError
from nacre.kinds import BufferKind
from nacre.train.callbacks import Callback, LoopState, Training
from nacre.train.checkpoint import STRICT, remove_stale_temporaries, save_checkpoint
from nacre.train.evaluate import evaluate
from nacre.train.loggers import JSONLLogger, Logger, TensorBoardLogger
from nacre.train.plots import Plotter
from nacre.train.progress import show_progress
from nacre.train.report import log_row
from nacre.types import RolloutStore


class Scheduled(Callback):
    """A callback the loop calls every ``every`` steps (never when ``every`` is 0)."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.due: float = math.inf

    def schedule(self, step: int) -> None:
        """Set :attr:`due` to the first multiple of ``every`` after ``step``."""
        self.due = (step // self.every + 1) * self.every if self.every > 0 else math.inf

    def on_due(self, training: Training) -> None:
        raise NotImplementedError

    def on_interrupt(self, training: Training, consistent: bool) -> None:
        """Ctrl-C. ``consistent``: the loop stopped between two steps (the first Ctrl-C waits
        for that), so what is saved now resumes exactly; False after a second Ctrl-C."""

    def on_env_fault(self, training: Training) -> None:
        """The environment failed ``env.max_faults`` times in a row: the run stops."""

    def on_close(self, training: Training) -> None:
        """Last of all (after the summary, also after Ctrl-C): release files."""


class TargetUpdate(Scheduled):
    """The learner's target networks move every ``train.target_update_interval`` steps."""

    def on_due(self, training: Training) -> None:
        training.agent.learner.update_target()


class TrainingRounds(Scheduled):
    """``agent.learn`` every ``train.train_freq`` steps once ``train.learning_starts`` passed."""

    def __init__(self, every: int, user: list[Callback]) -> None:
        super().__init__(every)
        self.user = user

    def schedule(self, step: int) -> None:
        super().schedule(step)
        self.due = max(self.due, 1)

    def on_training_start(self, training: Training) -> None:
        buffer = training.agent.buffer
        if buffer is not None and buffer.kind is BufferKind.ROLLOUT and cast(
                RolloutStore, buffer).full:
            self.learn(training)  # interrupted between collecting a rollout and learning it

    def on_due(self, training: Training) -> None:
        cfg = training.config
        if training.env_steps > cfg.learning_starts and cfg.gradient_steps > 0:
            self.learn(training)

    def learn(self, training: Training) -> None:
        for callback in self.user:
            callback.on_rollout_end(training)
        cfg = training.config
        training.metrics = training.agent.learn(cfg.batch_size, cfg.gradient_steps,
                                                progress=training.progress)
        for callback in self.user:
            callback.on_train(training, training.metrics)


class Logging(Scheduled):
    """A metrics row every ``train.log_every`` steps: ``metrics.jsonl`` (and TensorBoard) in the
    run folder, the callbacks' ``on_log``."""

    def __init__(self, training: Training, user: list[Callback]) -> None:
        super().__init__(training.config.log_every)
        self.user = user
        self.loggers: list[Logger] = []
        if training.run_dir is not None:
            # first: a missing extra fails before any file is opened
            tensorboard = (TensorBoardLogger(training.run_dir / "tb")
                           if training.config.tensorboard else None)
            self.loggers.append(JSONLLogger(training.run_dir / "metrics.jsonl"))
            self.loggers.extend([tensorboard] if tensorboard else [])

    def on_due(self, training: Training) -> None:
        row = log_row(training)
        self.write(row)
        for callback in self.user:
            callback.on_log(training, row)

    def write(self, row: dict[str, Any]) -> None:
        for logger in self.loggers:
            logger.log(row)

    def on_close(self, training: Training) -> None:
        for logger in self.loggers:
            logger.close()


class ProgressDisplay(Scheduled):
    """The run's progress (:func:`~nacre.train.progress.show_progress`), moved every
    ``train.log_every`` steps and at each tenth of the run, so that a log file gets its line at
    each 10 % however rarely metrics are logged."""

    def __init__(self, training: Training, enabled: bool | None) -> None:
        super().__init__(training.config.log_every)
        self.total = training.config.steps
        self.display = show_progress(self.total, training.env_steps, enabled=enabled)

    def schedule(self, step: int) -> None:
        super().schedule(step)
        next_tenth = 10 * step // self.total + 1
        self.due = min(self.due, -(-next_tenth * self.total // 10))  # ceil: the step count

    def on_due(self, training: Training) -> None:
        last = training.state.last_eval.get("returns")
        self.display.note = f"eval {np.mean(last):.1f}" if last else ""
        self.display.update(training.env_steps)

    def on_close(self, training: Training) -> None:
        self.on_due(training)  # the final evaluation's note
        self.display.close(training.env_steps)


class Evaluation(Scheduled):
    """Greedy evaluation every ``train.eval_every`` steps and at the end of the run."""

    def __init__(self, every: int, eval_env: Env | Sequence[Env], logging: Logging,
                 user: list[Callback]) -> None:
        super().__init__(every)
        self.eval_env = eval_env
        self.logging = logging
        self.user = user

    def on_training_start(self, training: Training) -> None:
        state = training.state
        if not state.best_eval and state.last_eval.get("returns"):
            # a checkpoint written before best_eval existed: start from its last evaluation
            state.best_eval = {"env_steps": state.last_eval["env_steps"],
                               "return_mean": float(np.mean(state.last_eval["returns"]))}

    def on_due(self, training: Training) -> None:
        step, state = training.env_steps, training.state
        targets = self.eval_env if isinstance(self.eval_env, Sequence) else [self.eval_env]
        for target in targets:  # a drifting bandit: evaluate on the problem as it is now
            if isinstance(target, SyntheticLinearBandit) and isinstance(
                    training.env, SyntheticLinearBandit):
                target.sync_problem(training.env)
        eval_seed = 10_000_019 * (training.seed + 1) + step
        returns = evaluate(training.agent, self.eval_env, training.config.eval_episodes,
                           seed=eval_seed)
        state.last_eval = {"env_steps": step, "returns": returns}
        if not state.best_eval or np.mean(returns) > state.best_eval["return_mean"]:
            state.best_eval = {"env_steps": step, "return_mean": float(np.mean(returns))}
        self.logging.write({"env_steps": step, "eval/return_mean": float(np.mean(returns)),
                            "eval/return_std": float(np.std(returns))})
        for callback in self.user:
            callback.on_eval(training, returns)

    def on_training_end(self, training: Training) -> None:
        if training.state.last_eval.get("env_steps") != training.env_steps:
            self.on_due(training)


class RunExtra(pydantic.BaseModel):
    """The schema of what the loop adds to each checkpoint (``state.json``'s ``extra``): every
    field typed, unknown fields refused. The environment's state is checked by the
    environment itself when it is restored (:mod:`nacre.envs.state`)."""

    model_config = STRICT

    loop: LoopState
    seed: int
    env_state: pydantic.JsonValue = None
    env_stats: NormalizeStats | None = None


class Checkpointing(Scheduled):
    """Checkpoints: every ``train.checkpoint_every`` steps, or (when that is 0) once
    ``train.checkpoint_interval_s`` seconds or ``train.checkpoint_fraction`` of the run's steps
    passed since the last, looked at every ``train.log_every`` steps; at the end of the run; and
    on Ctrl-C, which the loop turns into a stop at the end of the current step so that the
    checkpoint is consistent. Only the newest ``train.keep_checkpoints`` are kept."""

    def __init__(self, config: TrainConfig, config_yaml: str, user: list[Callback]) -> None:
        self.by_time = config.checkpoint_every == 0 and (
            config.checkpoint_interval_s > 0 or config.checkpoint_fraction > 0)
        super().__init__(config.log_every if self.by_time else config.checkpoint_every)
        self.interval_s = config.checkpoint_interval_s or math.inf
        self.interval_steps = (math.ceil(config.checkpoint_fraction * config.steps)
                               if config.checkpoint_fraction > 0 else math.inf)
        self.keep = config.keep_checkpoints
        self.config_yaml = config_yaml
        self.user = user
        self.saved_at = self.last_step = -1
        self.last_save = time.perf_counter()
        self.save_cost_s = 0.0

    def on_training_start(self, training: Training) -> None:
        if training.run_dir is not None:
            remove_stale_temporaries(training.run_dir / "checkpoints")
        self.last_save, self.last_step = time.perf_counter(), training.env_steps

    def on_due(self, training: Training) -> None:
        if not self.by_time:
            self.save(training)
            return
        elapsed = time.perf_counter() - self.last_save
        # Either interval stretches with the cost of a save, so that saving stays a small share.
        if elapsed >= 50 * self.save_cost_s and (
                elapsed >= self.interval_s
                or training.env_steps - self.last_step >= self.interval_steps):
            self.save(training)

    def on_training_end(self, training: Training) -> None:
        if self.saved_at != training.env_steps:
            self.save(training)

    def on_interrupt(self, training: Training, consistent: bool) -> None:
        # A second Ctrl-C may have stopped a training round half-way: such a state is not
        # saved (the last checkpoint stands).
        if consistent and self.saved_at != training.env_steps:
            self.save(training)

    def on_env_fault(self, training: Training) -> None:
        # The agent is consistent (the failed step never reached it); the environment is
        # broken, so its state is not saved: the resumed run starts fresh episodes.
        self.save(training, with_env=False)

    def save(self, training: Training, with_env: bool = True) -> None:
        if training.run_dir is None:
            return
        started = time.perf_counter()
        env, step = training.env, training.env_steps
        training.state.wall_time_s = training.wall_time_s
        training.state.last_metrics = {k: float(v) for k, v in training.metrics.items()}
        extra: dict[str, Any] = {"loop": dataclasses.asdict(training.state),
                                 "seed": training.seed,
                                 "env_state": env.get_state() if with_env else None}
        if isinstance(env, Normalize):  # normalization statistics: needed to use the agent
            extra["env_stats"] = env.stats_state()
        folder = training.run_dir / "checkpoints"
        path = save_checkpoint(folder / f"step_{step:012d}", training.agent.state_dict(),
                               self.config_yaml, extra)
        if self.keep:
            for old in sorted(p for p in folder.glob("step_*") if p.is_dir())[:-self.keep]:
                shutil.rmtree(old, ignore_errors=True)
        self.saved_at, self.last_step, self.last_save = step, step, time.perf_counter()
        self.save_cost_s = self.last_save - started
        for callback in self.user:
            callback.on_checkpoint(training, path)


class LearningCurve(Scheduled):
    """``plots/learning_curve.png`` in the run folder, drawn when the run ends (its plotting
    library imported meanwhile, see :class:`~nacre.train.plots.Plotter`), titled
    ``CartPole-v1 · dqn · seed 0`` from the run's config (without one: the folder's name)."""

    def __init__(self, config_yaml: str) -> None:
        super().__init__(0)
        self.config_yaml = config_yaml
        self.plotter: Plotter | None = None

    def title(self, training: Training) -> str:
        try:
            cfg = RunConfig.from_dict(yaml_io.loads(self.config_yaml))
        except NacreError:  # fit given no config, or one it cannot read: the folder names it
            return f"{training.run_dir.name if training.run_dir else ''} · seed {training.seed}"
        return f"{cfg.env.id} · {cfg.learner.name} · seed {training.seed}"

    def on_training_start(self, training: Training) -> None:
        self.plotter = Plotter()

    def on_close(self, training: Training) -> None:
        out, plotter, self.plotter = training.run_dir, self.plotter, None
        if out is None or plotter is None:
            return
        metrics = out / "metrics.jsonl"
        if not metrics.exists():
            plotter.close()
            return
        try:
            plotter.draw(metrics, out / "plots" / "learning_curve.png",
                         title=self.title(training))
        except Exception as exc:  # a failed plot must not fail a finished run
            warnings.warn(f"could not draw the learning curve: {exc!r}", stacklevel=2)


def standard_events(training: Training, user: list[Callback],
                    eval_env: Env | Sequence[Env] | None,
                    config_yaml: str, progress: bool | None) -> list[Scheduled]:
    """The loop's own events, in the order they run within a step."""
    cfg = training.config
    logging = Logging(training, user)
    events: list[Scheduled] = [TargetUpdate(cfg.target_update_interval),
                               TrainingRounds(cfg.train_freq, user), logging]
    if eval_env is not None:
        events.append(Evaluation(cfg.eval_every, eval_env, logging, user))
    # after the evaluation, so that a line shows the evaluation of its step
    events += [ProgressDisplay(training, progress), Checkpointing(cfg, config_yaml, user)]
    if training.run_dir is not None:
        events.append(LearningCurve(config_yaml))
    return events


__all__ = ["Checkpointing", "Evaluation", "LearningCurve", "Logging", "ProgressDisplay",
           "RunExtra", "Scheduled", "TargetUpdate", "TrainingRounds", "standard_events"]
