"""The online training loop: act → step → observe, with scheduled events in between, on ``B``
environments at once.

All schedule intervals count environment transitions over all environments. What happens
besides stepping — training rounds, target updates, logging, evaluation, checkpoints — are the
events of :mod:`nacre.train.events`, each a :class:`~nacre.train.callbacks.Callback` the loop
calls when it is due; user callbacks are told of each.
"""

from __future__ import annotations

import signal
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from nacre.accel import apply_process_settings
from nacre.agent import Agent
from nacre.config.run import TrainConfig
from nacre.envs.base import ActionResult, Env
from nacre.errors import ConfigError, EnvFaultError, InputError
from nacre.loop_types import StepSource
from nacre.train.callbacks import Callback, LoopState, Training
from nacre.train.events import Scheduled, standard_events
from nacre.train.report import write_summary


@dataclass
class TrainResult:
    agent: Agent
    summary: dict[str, Any]
    run_dir: Path | None


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
    Evaluation needs ``eval_env``: without one, ``train.eval_every > 0`` or an
    ``eval_episodes`` other than its default warns that no evaluation will run.
    ``callbacks`` (:class:`~nacre.Callback`) are told of every step, training round,
    evaluation, log row and checkpoint, and may stop training. ``progress`` (on stderr): None —
    a tqdm bar on a terminal, otherwise a line such as ``nacre: step 5000/50000 (10%) ·
    2710 steps/s · ETA 0:00:17 · eval 187.3`` at each tenth of the run (and once a minute
    between tenths far apart); True — the bar even off a terminal; False — nothing.

    Collectors (``train.sync_every > 0``) build their agents and envs from a run config: they
    are run by :func:`nacre.train` (see docs/distributed.md), not here.
    """
    if train.collectors:
        raise ConfigError("fit steps the agent in env itself; collectors (train.sync_every > 0)"
                          " are built from a run config: use nacre.train(config), or set "
                          "train.sync_every: 0")
    if eval_env is None:
        _warn_if_evaluation_asked(train)
    return run_loop(InProcess(agent, env), agent, env, train, seed=seed, eval_env=eval_env,
                    run_dir=run_dir, config_yaml=config_yaml, callbacks=callbacks,
                    progress=progress, loop_state=loop_state,
                    env_state_restored=env_state_restored)


class InProcess:
    """The steps of :func:`fit`: the agent acts in ``env`` and observes each result."""

    def __init__(self, agent: Agent, env: Env) -> None:
        self.agent, self.env = agent, env

    def start(self, seed: int, restored: bool) -> None:
        """Reset the environment unless a resumed run continues its episodes where they were."""
        agent, env = self.agent, self.env
        if restored:
            return
        if agent.env_steps and agent.buffer is not None:
            # Resuming with fresh episodes: the stored episodes were cut here, so n-step and
            # SARSA targets must not run on into the new ones.
            agent.buffer.mark_episodes_cut()
        obs = env.reset(seed=seed + agent.env_steps)
        agent.reset(obs, env.action_space, env.available)

    def step(self) -> ActionResult:
        result = self.env.step(self.agent.act())
        self.agent.observe(result)
        return result


def run_loop(
    source: StepSource,
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
    """:func:`fit` with its steps taken by ``source`` (:class:`InProcess` for :func:`fit`;
    the collectors of :mod:`nacre.distributed`); ``env`` is what the callbacks and checkpoints
    see of the training environment."""
    if train.accelerate == "auto":
        apply_process_settings()
    user = _checked(env, callbacks)
    out = Path(run_dir) if run_dir is not None else None
    source.start(seed, env_state_restored)  # before any file is opened: it may fail
    training = Training(agent, env, train, seed, out, loop_state or LoopState())
    events = standard_events(training, user, eval_env, config_yaml, progress)
    # per-step calls add up over millions of steps: only to the callbacks that take them
    stepping = [cb for cb in user if type(cb).on_step is not Callback.on_step]
    step, interrupted = agent.env_steps, True
    ctrl_c = DeferredInterrupt()
    try:
        with ctrl_c:
            for callback in [*user, *events]:
                callback.on_training_start(training)
            next_due = _schedule(events, step)
            while step < train.steps and not training.stopping:
                result = source.step()
                training.record(result)
                step = agent.env_steps
                for callback in stepping:
                    callback.on_step(training, result)
                if step >= next_due:
                    for event in events:
                        if step >= event.due:
                            event.on_due(training)
                            event.schedule(step)
                    next_due = min(event.due for event in events)
                if ctrl_c.pending:  # between two steps: the state is consistent
                    raise KeyboardInterrupt
        for callback in [*events, *user]:
            callback.on_training_end(training)
        interrupted = False
    except KeyboardInterrupt:
        for event in events:
            event.on_interrupt(training, consistent=ctrl_c.pending and not ctrl_c.forced)
        raise
    except EnvFaultError:
        for event in events:
            event.on_env_fault(training)
        raise
    finally:  # also after an error: summary, files closed, no helper process left behind
        summary = _close(events, training, interrupted)
    return TrainResult(agent, summary, out)


class DeferredInterrupt:
    """Ctrl-C (SIGINT) or SIGTERM (what schedulers and ``kill`` send before SIGKILL) during
    training lets the current step (and its training round) finish: the first one only sets
    :attr:`pending`, which the loop turns into a ``KeyboardInterrupt`` between two steps, so
    the checkpoint saved then resumes exactly. A second one raises at once. Only in the main
    thread (the only one Python delivers signals to)."""

    def __init__(self) -> None:
        self.pending = self.forced = False
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            self.previous = {sig: signal.signal(sig, self._handle)
                             for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.pending:
            self.forced = True
            raise KeyboardInterrupt
        self.pending = True

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for sig, previous in self.previous.items():
            signal.signal(sig, previous)


def _warn_if_evaluation_asked(train: TrainConfig) -> None:
    """The config asks for evaluation but ``fit`` has nowhere to run it: say so rather than
    end with an evaluation return of None. ``eval_episodes`` counts as asked for when it is not
    the default (which every config has, asked for or not)."""
    asked = []
    if train.eval_every > 0:
        asked.append(f"train.eval_every={train.eval_every}")
    if train.eval_episodes != TrainConfig.eval_episodes:
        asked.append(f"train.eval_episodes={train.eval_episodes}")
    if asked:
        warnings.warn(f"evaluation asked for ({', '.join(asked)}) but fit got no eval_env: "
                      "none will run and final_eval_return_mean will be None; pass "
                      "eval_env=nacre.make_env(...) to evaluate", UserWarning, stacklevel=3)


def _checked(env: Env, callbacks: Sequence[Callback]) -> list[Callback]:
    """The callbacks as a list, once ``env`` and they are what the loop needs."""
    if not isinstance(env, Env):
        raise InputError("env", f"{type(env).__name__} is not a nacre environment (it lacks "
                         "some of nacre.envs.Env: num_envs, action_space, one_step, available, "
                         "reset, step, get_state, set_state, close): make it with "
                         "nacre.make_env")
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise InputError("callbacks", f"{callback!r} is not a nacre.Callback: subclass it "
                             "and override the hooks you need (on_step, on_eval, on_log …)")
    return list(callbacks)


def _close(events: list[Scheduled], training: Training, interrupted: bool) -> dict[str, Any]:
    summary = write_summary(training, interrupted)
    for event in events:
        event.on_close(training)
    return summary


def _schedule(events: list[Scheduled], step: int) -> float:
    for event in events:
        event.schedule(step)
    return min(event.due for event in events)


__all__ = ["InProcess", "LoopState", "TrainResult", "fit", "run_loop"]
