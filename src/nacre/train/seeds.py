"""Several seeds of one run, in parallel processes sized to the machine, with an aggregate.

``nacre train PRESET --seeds 0-4`` (or :func:`train_seeds`) writes one run folder per seed under
``OUT/seed_<s>/`` and then ``OUT/aggregate.json`` — the final greedy return of each seed, its
interquartile mean and mean with 95% bootstrap confidence intervals (the rliable recipe,
:mod:`nacre.eval.stats`) — and ``OUT/plots/aggregate.png``: every seed's evaluation curve and
their IQM with its interval.

Each seed runs in its own process (``python -m nacre train``), as many at once as this process
may use CPUs; each acts on one thread, and learns on as many as the other processes leave free
(:mod:`nacre.threads`), so several seeds share a machine without waiting on each other. Ctrl-C
stops every seed; each can then be continued with ``nacre train --resume OUT/seed_<s>``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nacre.config.run import RunConfig
from nacre.errors import ConfigError, NacreError
from nacre.eval.stats import stratified_bootstrap_ci, summarize_returns
from nacre.threads import available_cpus
from nacre.train.loggers import read_metrics
from nacre.train.progress import Progress, show_progress


@dataclass
class SeedsResult:
    """The aggregate over seeds and where each seed's run folder is."""

    aggregate: dict[str, Any]
    run_dirs: dict[int, Path]
    out: Path


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` → 0, 1, 2, 3, 4; ``"1,3,7"`` → 1, 3, 7 (ranges and lists combine)."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            lo, sep, hi = part.strip().partition("-")
            seeds.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected a range like 0-4 or a list like 1,3,7"
                          ) from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(f"--seeds {text!r}: expected distinct non-negative seeds")
    return seeds


def train_seeds(config: RunConfig, seeds: Sequence[int], out: str | Path,
                workers: int | None = None, progress: bool | None = None) -> SeedsResult:
    """Train ``config`` once per seed (in parallel processes) and aggregate the runs in ``out``.

    ``workers``: processes at once (default: the CPUs this process may use, at most the
    number of seeds). A seed whose run fails is reported and left out of the aggregate.
    ``progress`` counts finished seeds (as :func:`~nacre.train` counts steps: None — a bar on a
    terminal, lines as seeds finish otherwise; False — nothing); the seeds' own runs are quiet,
    their stderr (warnings, errors) in ``OUT/seed_<s>.log``.
    """
    out = Path(out)
    if (out / "aggregate.json").exists():
        raise ConfigError(f"{out} already holds a multi-seed run: choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(config.to_yaml())
    workers = workers or min(len(seeds), available_cpus())
    run_dirs = {seed: out / f"seed_{seed}" for seed in seeds}
    bar = show_progress(len(seeds), enabled=progress, unit="seeds", label="seeds done")
    t0 = time.perf_counter()
    failed = _run_all(out / "config.yaml", run_dirs, workers, bar)
    bar.close(len(seeds))
    if len(failed) == len(seeds):
        raise NacreError(f"every seed failed; seed {seeds[0]}: {failed[seeds[0]]}")
    aggregate = _aggregate({s: d for s, d in run_dirs.items() if s not in failed}, failed,
                           workers, time.perf_counter() - t0)
    (out / "aggregate.json").write_text(json.dumps(aggregate, indent=2) + "\n")
    _plot(out, {s: d for s, d in run_dirs.items() if s not in failed})
    return SeedsResult(aggregate, run_dirs, out)


def _run_all(config: Path, run_dirs: dict[int, Path], workers: int,
             bar: Progress) -> dict[int, str]:
    """Every seed in its own process, ``workers`` at a time; the error text of each that
    failed. Any exception here (Ctrl-C included) stops the processes still running."""
    pending = list(run_dirs)
    running: dict[int, subprocess.Popen[bytes]] = {}
    failed: dict[int, str] = {}
    logs = {seed: config.parent / f"seed_{seed}.log" for seed in run_dirs}  # each seed's stderr
    try:
        while pending or running:
            while pending and len(running) < workers:
                seed = pending.pop(0)
                with open(logs[seed], "wb") as log:
                    running[seed] = subprocess.Popen(
                        [sys.executable, "-m", "nacre", "train", str(config), "--seed",
                         str(seed), "--out", str(run_dirs[seed]), "--quiet"],
                        stdout=subprocess.DEVNULL, stderr=log)
            time.sleep(0.1)
            for seed, proc in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[seed]
                if proc.returncode != 0:
                    lines = logs[seed].read_text(errors="replace").strip().splitlines()
                    failed[seed] = lines[-1] if lines else f"exit status {proc.returncode}"
                bar.update(len(run_dirs) - len(pending) - len(running))
    finally:
        # interrupted: leave no run behind, but let each save its step first (a child stops
        # between two steps on SIGINT, with a checkpoint, as after Ctrl-C in a terminal)
        for proc in running.values():
            proc.send_signal(signal.SIGINT)
        for proc in running.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.terminate()
                proc.wait()
    return failed


def _aggregate(run_dirs: dict[int, Path], failed: dict[int, str], workers: int,
               wall: float) -> dict[str, Any]:
    summaries = {s: json.loads((d / "summary.json").read_text()) for s, d in run_dirs.items()}
    final = [summaries[s]["final_eval_return_mean"] for s in run_dirs]
    best = [summaries[s]["best_eval_return_mean"] for s in run_dirs]
    return {
        "seeds": list(run_dirs),
        "failed": {str(s): e for s, e in failed.items()},
        "final_eval_return": summarize_returns(final),
        "best_eval_return": summarize_returns(best),
        "per_seed": {str(s): {"final_eval_return_mean": summaries[s]["final_eval_return_mean"],
                              "best_eval_return_mean": summaries[s]["best_eval_return_mean"],
                              "env_steps_per_s": summaries[s]["env_steps_per_s"],
                              "run_dir": str(d)}
                     for s, d in run_dirs.items()},
        "parallel_processes": workers,
        "wall_time_s": wall,
        "statistics": "IQM and mean over seeds of each seed's final greedy evaluation, with "
        "95% percentile bootstrap intervals over seeds (2,000 resamples)",
    }


def _plot(out: Path, run_dirs: dict[int, Path]) -> None:
    """Every seed's evaluation curve and their IQM with its 95% bootstrap interval."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from nacre.eval.stats import iqm

    curves = {s: {r["env_steps"]: r["eval/return_mean"] for r in read_metrics(d / "metrics.jsonl")
                  if r.get("eval/return_mean") is not None} for s, d in run_dirs.items()}
    steps = sorted(set.intersection(*(set(c) for c in curves.values())))
    fig = Figure(figsize=(7.2, 4.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for i, curve in enumerate(curves.values()):
        xs = sorted(curve)
        ax.plot(xs, [curve[x] for x in xs], color="0.7", linewidth=0.8,
                label="each seed" if i == 0 else None)
    if steps:
        table = np.array([[curves[s][x] for s in curves] for x in steps])
        intervals = [stratified_bootstrap_ci(row, iqm) for row in table]
        ax.plot(steps, [i[0] for i in intervals], color="C0", linewidth=2,
                label=f"IQM over {len(curves)} seeds")
        ax.fill_between(steps, [i[1] for i in intervals], [i[2] for i in intervals],
                        color="C0", alpha=0.25, label="95% bootstrap CI")
        # below the axes: a legend inside them hides part of some curve
        fig.legend(loc="outside lower center", ncols=3, frameon=False)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("evaluation return")
    ax.set_title(f"{out.name}: seeds {', '.join(str(s) for s in curves)}")
    ax.grid(alpha=0.3)
    (out / "plots").mkdir(exist_ok=True)
    fig.savefig(out / "plots" / "aggregate.png")


__all__ = ["SeedsResult", "parse_seeds", "train_seeds"]
