"""Runs: train from a preset or YAML into a run folder, resume one, evaluate one."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import shutil
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydantic

from nacre.agent import Agent
from nacre.config import yaml_io
from nacre.config.build import Run, build
from nacre.config.run import RunConfig, load_config
from nacre.distributed.driver import fit_collectors
from nacre.envs.normalize import Normalize
from nacre.envs.sources import EnvLike, env_name
from nacre.errors import CheckpointError, ConfigError
from nacre.threads import configure_threads
from nacre.train.callbacks import Callback, LoopState
from nacre.train.checkpoint import (
    STATE_FILE,
    describe_validation_error,
    flatten_tree,
    latest_checkpoint,
    load_checkpoint,
)
from nacre.train.evaluate import evaluate
from nacre.train.events import RunExtra
from nacre.train.loggers import truncate_metrics
from nacre.train.loop import TrainResult, fit
from nacre.train.offline import init_learner, resume_offline, train_offline


def resolve_config(
    config: RunConfig | str | Path,
    steps: int | None = None,
    seed: int | None = None,
    num_envs: int | None = None,
    overrides: Sequence[str] = (),
) -> RunConfig:
    """A preset name, YAML path or config with the given overrides applied."""
    cfg = config if isinstance(config, RunConfig) else load_config(config)
    if overrides:
        cfg = cfg.with_overrides(list(overrides))
    if steps is not None:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=steps))
    if seed is not None:
        cfg = dataclasses.replace(cfg, seed=seed)
    if num_envs is not None:
        cfg = dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, num_envs=num_envs))
    return cfg


def train(
    config: RunConfig | str | Path,
    *,
    env: EnvLike | None = None,
    steps: int | None = None,
    seed: int | None = None,
    num_envs: int | None = None,
    out: str | Path | None = None,
    overrides: Sequence[str] = (),
    progress: bool | None = None,
    callbacks: Sequence[Callback] = (),
) -> TrainResult:
    """Train from a preset name, a YAML path or a :class:`RunConfig` into a run folder.

    ``env`` replaces the config's env id: an id, ``"module:Id"``, a :class:`gymnasium.Env`
    instance or a zero-argument callable making one (see :func:`nacre.make_env`); the config
    still gives ``num_envs``, vectorization, normalization and ``max_faults``. ``config.yaml``
    records an id as given and an instance or callable as ``custom:<module>.<name>``: such a
    run is resumed and evaluated by passing ``env=`` again.

    ``steps``, ``seed`` and ``num_envs`` override the config; ``overrides`` are ``key=value``
    strings (``"learner.lr=0.001"``). ``out`` is the run folder (default
    ``runs/<env>-<learner>-s<seed>-<time>``); it must not already hold a run. ``progress``:
    None — a bar on a terminal, a line per tenth of the run in a log; True — the bar; False —
    nothing (see :func:`~nacre.fit`).

    A run that fails before its first checkpoint (a missing extra, an environment that does
    not start, an error in the first steps) leaves nothing behind: what it wrote in ``out`` is
    removed, and ``out`` itself when the run created it, so the same ``out`` can be used again
    once the cause is mended. Files that were there before are kept, and a run that has a
    checkpoint is kept as it is (``nacre train --resume`` continues it); so is one stopped by
    a second Ctrl-C before its first checkpoint (resuming it starts again from step 0).

    Example:
        >>> import nacre
        >>> result = nacre.train("cartpole-dqn", steps=2_000, out=tmp / "run")  # doctest: +SKIP
        >>> result.summary["env_steps"]  # doctest: +SKIP
        2000
    """
    cfg, custom = with_env(resolve_config(config, steps, seed, num_envs, overrides), env)
    named = config if env is None else cfg  # named after the env that replaced the preset's
    run_dir = Path(out) if out is not None else default_run_dir(named, cfg, f"s{cfg.seed}")
    if (run_dir / "metrics.jsonl").exists() or (run_dir / "checkpoints").exists():
        raise ConfigError(
            f"{run_dir} already holds a run: resume it with `nacre train --resume {run_dir}` "
            "or choose another --out"
        )
    configure_threads(cfg.train.torch_threads, cfg.train.learn_threads)
    run = build(cfg, custom)
    before = set(run_dir.iterdir()) if run_dir.is_dir() else None
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        (run_dir / "config.yaml").write_text(cfg.to_yaml())
        if cfg.train.init_from:  # offline → online: the learner of another run
            init_learner(run, cfg.train.init_from)
        if cfg.dataset is not None:
            return train_offline(run, run_dir, callbacks, progress)
        return _fit_and_close(run, run_dir, callbacks, progress)
    except Exception:
        _undo_failed_start(run_dir, before)
        raise


# what a run writes in its folder (train/events.py, train/report.py, evaluate_run)
_RUN_FILES = ("config.yaml", "metrics.jsonl", "summary.json", "eval.json", "checkpoints",
              "plots", "tb")


def _undo_failed_start(run_dir: Path, before: set[Path] | None) -> None:
    """Remove what a run that failed wrote in ``run_dir`` (which held ``before``; None: the run
    made it) — unless it saved a checkpoint: that run can be resumed."""
    if any((run_dir / "checkpoints").glob("step_*")):
        return
    # only what a run writes: another process may be writing into the same folder
    for path in {run_dir / name for name in _RUN_FILES} - (before or set()):
        if not path.exists() and not path.is_symlink():
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if before is None:
        with contextlib.suppress(OSError):  # not empty: someone else's file appeared meanwhile
            run_dir.rmdir()


def with_env(cfg: RunConfig, env: EnvLike | None) -> tuple[RunConfig, EnvLike | None]:
    """``cfg`` recording ``env`` as its ``env.id`` (:func:`~nacre.envs.sources.env_name`), and
    what :func:`build` must make the env from when the id cannot (an instance or a callable)."""
    if env is None:
        return cfg, None
    cfg = dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, id=env_name(env)))
    return cfg, None if isinstance(env, str) else env


# Fields earlier releases wrote into run folders' config.yaml: dropped, with a warning, so that
# those runs can still be resumed and evaluated.
_LEGACY_FIELDS = {"learner": {"fused": "acceleration is chosen per run now, with "
                                       "train.accelerate: auto | off"}}


def load_run_config(path: Path) -> RunConfig:
    """A run folder's ``config.yaml``, as written by this release or an earlier one."""
    data = yaml_io.load_file(path)
    for slot, fields in _LEGACY_FIELDS.items():
        section = data.get(slot) if isinstance(data, dict) else None
        for name, why in fields.items():
            if isinstance(section, dict) and name in section:
                del section[name]
                warnings.warn(f"{path}: {slot}.{name} is ignored: {why}", UserWarning,
                              stacklevel=3)
    return RunConfig.from_dict(data, source=path.name)


def default_run_dir(config: RunConfig | str | Path, cfg: RunConfig, tag: str) -> Path:
    """``runs/<preset or env name>-<tag>-<time>``."""
    name = str(config) if isinstance(config, str) else None
    if name and not name.endswith((".yaml", ".yml")):
        base = Path(name).stem
    else:  # the env's own name: no module (module:Id, custom:module.name) or namespace
        base = re.sub(r"[^\w.-]", "_", Path(cfg.env.id.rpartition(":")[2]).name)
        base = base.rpartition(".")[2] if cfg.env.id.startswith("custom:") else base
    return Path("runs") / f"{base}-{tag}-{time.strftime('%Y%m%d-%H%M%S')}"


def load_run(
    run_dir: str | Path, checkpoint: str | Path | None = None, *, env: EnvLike | None = None
) -> tuple[Run, dict[str, Any]]:
    """Rebuild a run from its folder and load a checkpoint (default: the newest complete one).

    ``env``: the run's env when its config cannot remake it (it was trained with an instance
    or a callable: ``env.id: custom:...``), or another env to load the agent into.

    Everything is checked before it is used — the checkpoint's schema, its tensors' names,
    shapes and dtypes against the rebuilt agent — and any mismatch is a
    :class:`~nacre.errors.CheckpointError` naming the run and what did not fit.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise CheckpointError(f"{run_dir} is not a run folder (no config.yaml)")
    cfg, custom = with_env(load_run_config(run_dir / "config.yaml"), env)
    ckpt = Path(checkpoint) if checkpoint is not None else latest_checkpoint(run_dir)
    run, extra = _load(run_dir, cfg, ckpt, custom)
    return run, extra.model_dump()


def _load(run_dir: Path, cfg: RunConfig, ckpt: Path, custom: EnvLike | None,
          skip: tuple[str, ...] = ()) -> tuple[Run, RunExtra]:
    """Build ``cfg`` and load the checkpoint ``ckpt`` of ``run_dir`` into it, checked
    (``skip``: parts of the agent's state not to read, see :func:`load_checkpoint`)."""
    configure_threads(cfg.train.torch_threads, cfg.train.learn_threads)
    run = build(cfg, custom)
    _, fresh = flatten_tree(run.agent.state_dict())
    # The buffer's tensors grow with what it holds; everything else has the shape the config
    # gives it.
    expected = {name: (tuple(t.shape), t.dtype) for name, t in fresh.items()
                if not name.startswith("buffer/")}
    agent_state, extra, _ = load_checkpoint(ckpt, expected, extra_schema=RunExtra, skip=skip)
    try:
        run.agent.load_state_dict(agent_state)
        if isinstance(run.env, Normalize) and extra.env_stats is not None:
            run.env.load_stats(dict(extra.env_stats))  # observation normalization of the run
    except pydantic.ValidationError as exc:
        raise CheckpointError(f"{ckpt / STATE_FILE}: the agent's state does not fit the run of "
                              f"{run_dir} ({cfg.env.id}): {describe_validation_error(exc)}"
                              ) from exc
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as exc:
        raise CheckpointError(f"{ckpt} does not fit the run of {run_dir} "
                              f"({cfg.env.id}): {type(exc).__name__}: {exc}") from exc
    run.agent.action_space = run.env.action_space
    return run, extra


def resume(
    run_dir: str | Path,
    *,
    env: EnvLike | None = None,
    steps: int | None = None,
    progress: bool | None = None,
    callbacks: Sequence[Callback] = (),
) -> TrainResult:
    """Continue a run from its newest complete checkpoint until ``steps`` in total (default:
    the config's).

    Environments whose state can be captured (see :mod:`nacre.envs.state`) continue mid-episode,
    which makes the resumed run identical to an uninterrupted one on CPU; others start fresh
    episodes, with a warning. A run killed before its first checkpoint starts again from step 0.
    The checkpoint is checked completely before anything in the run folder changes.

    ``env``: the run's env when its config cannot remake it (an instance or a callable was
    given to :func:`train`); a fresh one, since the checkpoint holds the state to continue from.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise CheckpointError(f"{run_dir} is not a run folder (no config.yaml)")
    original = load_run_config(run_dir / "config.yaml")
    cfg, custom = with_env(resolve_config(original, steps), env)
    if cfg.train.steps != original.train.steps and not original.train.schedule_steps:
        # Fractional schedules stay relative to the budget the run started with.
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(
            cfg.train, schedule_steps=original.train.steps))
    try:
        ckpt = latest_checkpoint(run_dir)
    except CheckpointError:
        return _start_over(run_dir, cfg, custom, callbacks, progress)
    run, extra = _load(run_dir, cfg, ckpt, custom)
    if cfg.dataset is not None:  # offline: the steps are updates
        return resume_offline(run, run_dir, progress)
    start = run.agent.env_steps
    if start >= cfg.train.steps:
        raise ConfigError(
            f"the run is already at {start} steps; pass --steps larger than that to continue"
        )
    restored = extra.env_state is not None and _restore_env(run, ckpt, extra.env_state)
    if not restored:
        warnings.warn(
            f"the state of {cfg.env.id} could not be restored: resuming with fresh episodes",
            stacklevel=2,
        )
    # Everything checked: only now does the run folder change.
    (run_dir / "config.yaml").write_text(cfg.to_yaml())
    truncate_metrics(run_dir / "metrics.jsonl", start)
    return _fit_and_close(run, run_dir, callbacks, progress, extra.loop, restored)


def _restore_env(run: Run, ckpt: Path, state: Any) -> bool:
    try:
        return run.env.set_state(state)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise CheckpointError(f"{ckpt / 'state.json'}: extra.env_state does not fit "
                              f"{run.config.env.id}: {exc}") from exc


def _start_over(run_dir: Path, cfg: RunConfig, custom: EnvLike | None,
                callbacks: Sequence[Callback], progress: bool | None) -> TrainResult:
    """Resume a run that was stopped before its first checkpoint: nothing of it can be kept,
    so it runs again from step 0 in the same folder."""
    warnings.warn(f"{run_dir} has no complete checkpoint (the run was stopped before its "
                  "first): it starts again from step 0", stacklevel=3)
    configure_threads(cfg.train.torch_threads, cfg.train.learn_threads)
    run = build(cfg, custom)
    (run_dir / "config.yaml").write_text(cfg.to_yaml())
    truncate_metrics(run_dir / "metrics.jsonl", 0)
    if cfg.train.init_from:  # as train() started it
        init_learner(run, cfg.train.init_from)
    if cfg.dataset is not None:
        return train_offline(run, run_dir, callbacks, progress)
    return _fit_and_close(run, run_dir, callbacks, progress)


def _fit_and_close(
    run: Run,
    run_dir: Path,
    callbacks: Sequence[Callback],
    progress: bool | None,
    loop_state: LoopState | None = None,
    env_state_restored: bool = False,
) -> TrainResult:
    """Run the loop, then close every environment (subprocess vector envs included). With
    ``train.sync_every > 0``, collectors gather the steps (:mod:`nacre.distributed`)."""
    if run.config.train.collectors:
        return fit_collectors(run, run_dir=run_dir, callbacks=callbacks, progress=progress,
                              loop_state=loop_state)
    eval_envs = run.make_eval_envs()
    try:
        return fit(run.agent, run.env, run.config.train, seed=run.config.seed,
                   eval_env=eval_envs, run_dir=run_dir, config_yaml=run.config.to_yaml(),
                   callbacks=callbacks, progress=progress, loop_state=loop_state,
                   env_state_restored=env_state_restored)
    finally:
        for env in (run.env, *eval_envs):
            env.close()


def evaluate_run(run_dir: str | Path, episodes: int = 10, seed: int = 0, *,
                 env: EnvLike | None = None) -> dict[str, Any]:
    """Greedy evaluation of a run's latest checkpoint; writes ``eval.json`` in the run folder.
    ``env``: as for :func:`load_run`."""
    run, _ = load_run(run_dir, env=env)
    envs = run.make_eval_envs()
    try:
        returns = evaluate(run.agent, envs, episodes, seed=seed)
    finally:
        for made in (run.env, *envs):
            made.close()
    result = {
        "episodes": episodes,
        "return_mean": float(np.mean(returns)),
        "return_std": float(np.std(returns)),
        "returns": returns,
        "env_steps": run.agent.env_steps,
        "seed": seed,
    }
    (Path(run_dir) / "eval.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def load(path: str | Path, *, env: EnvLike | None = None) -> Agent:
    """An agent saved with :meth:`nacre.Agent.save`, or the newest checkpoint of a run folder,
    rebuilt and ready to :meth:`~nacre.Agent.predict` (and to learn on). ``env``: as for
    :func:`load_run` (needed when the run was trained on an env instance or callable).

    Everything is checked before it is used (the config, the checkpoint's schema, every
    tensor's name, shape and dtype); a mismatch is a :class:`~nacre.errors.CheckpointError`.

    Example:
        >>> agent = nacre.load("runs/cartpole")  # doctest: +SKIP
        >>> action = agent.predict(obs)  # doctest: +SKIP
    """
    path = Path(path)
    if not (path / "config.yaml").is_file():
        raise CheckpointError(f"{path} is neither a saved agent nor a run folder (no "
                              "config.yaml)")
    cfg, custom = with_env(load_run_config(path / "config.yaml"), env)
    if cfg.env.vectorization == "async":  # the env is made for its spaces: no subprocesses
        cfg = dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, vectorization="sync"))
    saved = (path / STATE_FILE).is_file()  # a saved agent, else a run folder
    # acting needs no replay memory: a run's buffer is checked but not read
    run, _ = _load(path, cfg, path if saved else latest_checkpoint(path), custom, ("buffer",))
    run.env.close()  # what predict needs of it (normalization statistics) stays
    return run.agent
