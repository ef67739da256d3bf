"""The offline loop: learn from a dataset, no environment steps.

A run config with a ``dataset:`` section trains offline: each of ``train.steps`` steps is one
gradient update of the learner on ``train.batch_size`` transitions drawn from the dataset
(:meth:`nacre.Agent.learn_batch`, the same update as online). The config's env gives the spaces
the dataset must fit and, with ``train.eval_every``, the environment the greedy policy is
evaluated in (returns, and normalized scores where the dataset has reference returns). Target
networks move every ``train.target_update_interval`` updates; a metrics row is written every
``train.log_every``; the run folder gets ``metrics.jsonl``, ``summary.json`` and a checkpoint,
which ``train.init_from`` of an online run fine-tunes from (:func:`nacre.train`).

Observation normalization (``env.normalize.obs: true``) takes the dataset's mean and standard
deviation, frozen (what TD3+BC prescribes), and stores them with the checkpoint like an online
run's statistics.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nacre.accel import apply_process_settings
from nacre.agent import Agent
from nacre.config import yaml_io
from nacre.config.buffers import ReplayConfig
from nacre.config.build import Run
from nacre.config.run import DatasetConfig, RunConfig, TrainConfig
from nacre.data.dataset import Dataset
from nacre.envs.normalize import Normalize
from nacre.errors import CheckpointError, ConfigError
from nacre.kinds import LearnerKind
from nacre.spaces import BoxActionSpace, DiscreteActionSpace
from nacre.train.callbacks import Callback
from nacre.train.checkpoint import (
    STATE_FILE,
    flatten_tree,
    latest_checkpoint,
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
)
from nacre.train.evaluate import evaluate
from nacre.train.events import RunExtra
from nacre.train.loggers import JSONLLogger, truncate_metrics
from nacre.train.loop import DeferredInterrupt, TrainResult
from nacre.train.progress import show_progress


def load_dataset(config: DatasetConfig, seed: int | None = None) -> Dataset:
    """The dataset a run config names: a nacre dataset folder, or ``minari:<id>`` for a local
    Minari dataset (the ``[offline]`` extra)."""
    if config.path.startswith("minari:"):
        from nacre.data.minari_io import load_minari

        return load_minari(config.path.removeprefix("minari:"), seed=seed)
    return Dataset.load(config.path, seed=seed)


def fit_dataset(dataset: Dataset, run: Run, seed: int | None = None) -> Dataset:
    """``dataset`` as the run's agent learns from it: checked against the env's spaces,
    continuous actions mapped to the policy's ``[-1, 1]`` box, observations standardized with
    the dataset's own statistics when the run normalizes them (which then become the run's)."""
    cols = dataset.arrays()
    shape = tuple(run.env.observation_space.shape or ())
    if cols["obs"].shape[1:] != shape:
        raise ConfigError(f"dataset: observations of shape {list(cols['obs'].shape[1:])}, but "
                          f"{run.config.env.id} has {list(shape)}")
    space = run.agent.action_space or run.env.action_space
    if isinstance(space, BoxActionSpace):
        if cols["action"].shape[1:] != space.shape:
            raise ConfigError(f"dataset: actions of shape {list(cols['action'].shape[1:])}, but "
                              f"{run.config.env.id} has {list(space.shape)}")
        cols["action"] = space.from_env(torch.from_numpy(cols["action"])).numpy()
    elif isinstance(space, DiscreteActionSpace) and (
            cols["action"].dtype.kind not in "iu" or cols["action"].max() >= space.n):
        raise ConfigError(f"dataset: actions must be integers in [0, {space.n}) for "
                              f"{run.config.env.id}")
    if isinstance(run.env, Normalize) and run.env.config.obs:
        obs64 = cols["obs"].astype(np.float64)
        run.env.obs_stats.load({"mean": obs64.mean(0).tolist(), "var": obs64.var(0).tolist(),
                                "count": float(len(obs64))})
        cols["obs"] = run.env.normalize_obs(cols["obs"])
        cols["next_obs"] = run.env.normalize_obs(cols["next_obs"])
    return Dataset.from_arrays(**cols, info=dataset.info,
                               seed=run.config.seed if seed is None else seed)


def fit_offline(run: Run, dataset: Dataset, run_dir: Path | None,
                progress: bool | None = None) -> dict[str, Any]:
    """Train ``run.agent`` on ``dataset`` for ``train.steps`` updates (from its ``grad_steps``);
    returns the run's summary (also written to ``summary.json``)."""
    agent, cfg = run.agent, run.config.train
    if cfg.accelerate == "auto":  # oneDNN for the kernels' large products, as online runs
        apply_process_settings()
    eval_envs = run.make_eval_envs()  # evaluated every eval_every updates and at the end
    logger = JSONLLogger(run_dir / "metrics.jsonl") if run_dir is not None else None
    display = show_progress(cfg.steps, agent.grad_steps, enabled=progress, unit="updates",
                            label="update")
    started, start_step, eval_s = time.perf_counter(), agent.grad_steps, 0.0
    last_eval: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    # The agent learns from the dataset through its replay path (its engine: an accelerated
    # kernel where one covers the learner, sampling many batches per draw), the dataset's
    # storage standing in for its own buffer until the loop ends.
    own_buffer, agent.buffer = agent.buffer, dataset.buffer
    saver = _Checkpoints(run, run_dir)
    ctrl_c = DeferredInterrupt()  # Ctrl-C / SIGTERM: finish the round, save, then stop
    try:
        with ctrl_c:
            while agent.grad_steps < cfg.steps:
                step = agent.grad_steps
                out = agent.learn(cfg.batch_size, _updates_until_due(step, cfg),
                                  progress=step / cfg.steps)
                step = agent.grad_steps
                if step % cfg.target_update_interval == 0:
                    agent.learner.update_target()
                due_eval = (cfg.eval_every > 0 and step % cfg.eval_every == 0
                            or step == cfg.steps)
                if step % cfg.log_every == 0 or due_eval:
                    metrics = {k: float(v) for k, v in out.items()}
                    learning_s = time.perf_counter() - started - eval_s
                    row = {"grad_steps": step, "env_steps": 0, **metrics,
                           "updates_per_s": (step - start_step) / learning_s}
                    if due_eval and eval_envs:
                        eval_started = time.perf_counter()
                        last_eval = _evaluate(agent, eval_envs, cfg.eval_episodes, run,
                                              dataset)
                        eval_s += time.perf_counter() - eval_started
                        row.update({f"eval/{k}": v for k, v in last_eval.items()
                                    if k != "returns"})
                        display.note = f"eval {last_eval['return_mean']:.1f}"
                    if logger is not None:
                        logger.log(row)
                    display.update(step)
                saver.maybe(cfg, agent.buffer, own_buffer, metrics)
                if ctrl_c.pending:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        if ctrl_c.pending and not ctrl_c.forced:  # between two rounds: the state is whole
            agent.buffer = own_buffer
            saver.save(metrics)
        raise
    finally:
        agent.buffer = own_buffer  # the checkpoint keeps the learner, not the dataset
        display.close(agent.grad_steps)
        if logger is not None:
            logger.close()
        for env in eval_envs:
            env.close()
    wall = time.perf_counter() - started
    summary = {"mode": "offline", "grad_steps": agent.grad_steps, "env_steps": 0,
               "dataset": run.config.dataset.path if run.config.dataset else None,
               "transitions": len(dataset), "wall_time_s": wall, "eval_time_s": eval_s,
               # learning alone: sampling and updates, the evaluations' time left out
               "updates_per_s": (agent.grad_steps - start_step) / max(wall - eval_s, 1e-9),
               "final_eval_return_mean": last_eval.get("return_mean"),
               "final_normalized_score": last_eval.get("normalized_score"),
               "last_metrics": metrics}
    if run_dir is not None:
        saver.save(metrics)
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _updates_until_due(step: int, cfg: TrainConfig) -> int:
    """Updates from ``step`` to the next target update, log row, evaluation, checkpoint or the
    end."""
    every = [cfg.target_update_interval, cfg.log_every, *(n for n in (
        cfg.eval_every, cfg.checkpoint_every) if n > 0)]
    due = min([(step // n + 1) * n for n in every] + [cfg.steps])
    return due - step


def init_learner(run: Run, source: str | Path) -> None:
    """Load the learner of the run folder (or checkpoint folder) ``source`` into ``run``'s
    agent, checked against it, with its observation statistics: the start of offline → online
    fine-tuning. Counters, replay and env start afresh."""
    path = Path(source)
    ckpt = path if (path / STATE_FILE).is_file() else latest_checkpoint(path)
    _, fresh = flatten_tree({"learner": run.agent.learner.state_dict()})
    expected = {name: (tuple(t.shape), t.dtype) for name, t in fresh.items()}
    state, extra, source_yaml = load_checkpoint(ckpt, expected, extra_schema=RunExtra,
                                                skip=("buffer",))
    try:
        run.agent.learner.load_state_dict(state["learner"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"train.init_from: the learner of {ckpt} does not fit this run's "
                              f"({run.config.learner.name}): {type(exc).__name__}: {exc}"
                              ) from exc
    source_obs = RunConfig.from_dict(yaml_io.loads(source_yaml)).env.normalize.obs
    if source_obs != run.config.env.normalize.obs:
        raise ConfigError(f"train.init_from: {ckpt} was trained "
                          f"{'with' if source_obs else 'without'} observation normalization: "
                          f"set env.normalize.obs: {str(source_obs).lower()} in this run too")
    if source_obs and isinstance(run.env, Normalize) and extra.env_stats is not None:
        run.env.obs_stats.load(dict(extra.env_stats["obs"]))  # not the per-env return state


def _evaluate(agent: Agent, envs: list[Any], episodes: int, run: Run, dataset: Dataset
              ) -> dict[str, Any]:
    # as the online loop seeds its evaluations: disjoint across run seeds and updates
    returns = evaluate(agent, envs, episodes,
                       seed=10_000_019 * (run.config.seed + 1) + agent.grad_steps)
    out: dict[str, Any] = {"return_mean": float(np.mean(returns)), "returns": returns}
    info = dataset.info
    if info.ref_min_score is not None and info.ref_max_score is not None:
        out["normalized_score"] = info.normalized_score(out["return_mean"])
    return out


class _Checkpoints:
    """Checkpoints of an offline run, named after the updates done (``step_<updates>``): every
    ``train.checkpoint_every`` updates, or (when that is 0) once ``train.checkpoint_interval_s``
    passed, looked at on each log row; at the end; on Ctrl-C. The newest
    ``train.keep_checkpoints`` are kept; what a killed process left half-written is removed."""

    def __init__(self, run: Run, run_dir: Path | None) -> None:
        self.run, self.run_dir = run, run_dir
        self.last = time.perf_counter()
        if run_dir is not None:
            remove_stale_temporaries(run_dir / "checkpoints")

    def maybe(self, cfg: TrainConfig, lent: Any, own: Any, metrics: dict[str, float]) -> None:
        """Save if one is due (called after every round of updates)."""
        step = self.run.agent.grad_steps
        due = (step % cfg.checkpoint_every == 0 if cfg.checkpoint_every else
               step % cfg.log_every == 0
               and 0 < cfg.checkpoint_interval_s <= time.perf_counter() - self.last)
        if due and step < cfg.steps:  # the last one is saved after the loop
            self.run.agent.buffer = own  # the learner, not the dataset
            try:
                self.save(metrics)
            finally:
                self.run.agent.buffer = lent

    def save(self, metrics: dict[str, float]) -> None:
        if self.run_dir is None:
            return
        run, agent = self.run, self.run.agent
        extra: dict[str, Any] = {"loop": {"last_metrics": {k: v for k, v in metrics.items()
                                                           if math.isfinite(v)}},
                                 "seed": run.config.seed, "env_state": None}
        if isinstance(run.env, Normalize):
            extra["env_stats"] = run.env.stats_state()
        folder = self.run_dir / "checkpoints"
        save_checkpoint(folder / f"step_{agent.grad_steps:012d}", agent.state_dict(),
                        run.config.to_yaml(), extra)
        keep = run.config.train.keep_checkpoints
        if keep:
            for old in sorted(p for p in folder.glob("step_*") if p.is_dir())[:-keep]:
                shutil.rmtree(old, ignore_errors=True)
        self.last = time.perf_counter()


def check_offline(config: RunConfig) -> None:
    """What the offline loop cannot honour is refused, rather than silently not done."""
    cfg, why = config, ""
    if not (cfg.buffer.name == "replay" and isinstance(cfg.buffer.params, ReplayConfig)
            and cfg.buffer.params.n_step == 1):
        why = ("the dataset is sampled uniformly, one step per transition: drop the buffer "
               "section (or buffer: {name: replay, n_step: 1})")
    elif cfg.env.normalize.reward:
        why = "rewards come from the dataset as logged: set env.normalize.reward: false"
    elif cfg.history.name != "identity":
        why = "the dataset's transitions are single steps: use history: identity"
    if why:
        raise ConfigError(f"a config with dataset: (offline) — {why}")


def train_offline(run: Run, run_dir: Path, callbacks: Sequence[Callback] = (),
                  progress: bool | None = None) -> TrainResult:
    """:func:`nacre.train` of a config with ``dataset:`` (``run`` built, ``run_dir`` made)."""
    assert run.config.dataset is not None
    if callbacks:
        raise ConfigError("callbacks are not run by the offline loop (a config with dataset:)")
    if run.agent.learner.kind is not LearnerKind.REPLAY:
        raise ConfigError(f"learner {run.config.learner.name!r} learns from its own on-policy "
                          "rollouts or every transition once, not from a dataset: use bc, "
                          "discrete_cql, cql, iql or td3_bc (or another replay learner)")
    check_offline(run.config)
    try:
        dataset = fit_dataset(load_dataset(run.config.dataset), run)
        summary = fit_offline(run, dataset, run_dir, progress)
    finally:
        run.env.close()
    return TrainResult(run.agent, summary, run_dir)


def resume_offline(run: Run, run_dir: Path, progress: bool | None = None) -> TrainResult:
    """Continue an offline run (``run`` loaded from its checkpoint) until ``train.steps``
    updates; the metrics rows after the checkpoint are dropped (they are made again). The
    batches drawn differ from an uninterrupted run's (the dataset's sampler is seeded anew)."""
    start = run.agent.grad_steps
    if start >= run.config.train.steps:
        run.env.close()
        raise ConfigError(f"the run is already at {start} updates; pass --steps larger than "
                          "that to continue")
    (run_dir / "config.yaml").write_text(run.config.to_yaml())
    truncate_metrics(run_dir / "metrics.jsonl", start, key="grad_steps")
    assert run.config.dataset is not None
    try:
        dataset = fit_dataset(load_dataset(run.config.dataset), run, run.config.seed + start)
        summary = fit_offline(run, dataset, run_dir, progress)
    finally:
        run.env.close()
    return TrainResult(run.agent, summary, run_dir)


__all__ = ["check_offline", "fit_dataset", "fit_offline", "init_learner", "load_dataset",
           "resume_offline", "train_offline"]
