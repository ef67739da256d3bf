"""Shared plumbing of the side-by-side benchmarks: workers in fresh interpreters, timing,
machine and version descriptions (see ../shared/BENCHMARKS.md for the protocol)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "benchmarks"


def rss_bytes() -> int:
    """Current resident set size of this process (from /proc/self/statm)."""
    with open("/proc/self/statm") as fh:
        resident_pages = int(fh.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def peak_rss_mib() -> float:
    """Peak resident set size of this process (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_per_call(fn: Callable[[], Any], n: int, blocks: int = 5, warmup: int = 200) -> float:
    """Seconds per call of ``fn``: the fastest of ``blocks`` timed blocks of ``n`` calls."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def write_json(path: str | Path, data: Any) -> None:
    Path(path).write_text(json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value)}")


def busy_cpu_s() -> float:
    """CPU seconds all processes on the machine have spent busy since boot (from /proc/stat)."""
    with open("/proc/stat") as fh:
        # user nice system idle iowait irq softirq steal (guest time is already in user)
        vals = [int(v) for v in fh.readline().split()[1:9]]
    return (sum(vals) - vals[3] - vals[4]) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def spawn(script: str | Path, kind: str, tmp: Path, *extra: str) -> dict[str, Any]:
    """Run one worker (``script --worker KIND``) in a fresh interpreter and return its JSON.

    Also records how busy the rest of the machine was meanwhile (machine-wide busy CPU time
    minus the worker's own), under ``"contention"``: timings from a shared, loaded machine are
    not trustworthy in absolute terms.
    """
    out = tmp / f"{kind}-{len(list(tmp.iterdir()))}.json"
    cmd = [sys.executable, str(Path(script).resolve()), "--worker", kind, "--out", str(out),
           *extra]
    busy0, own0, t0 = busy_cpu_s(), children_cpu_s(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    own = children_cpu_s() - own0
    other = max(0.0, busy_cpu_s() - busy0 - own)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"worker {kind} {' '.join(extra)} failed ({proc.returncode})")
    data: dict[str, Any] = json.loads(out.read_text())
    data["contention"] = {
        "process_wall_s": wall,
        "worker_cpu_s": own,
        "other_processes_cpu_s": other,
        "other_processes_cores_busy": other / wall,
    }
    return data


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {
        "cpu_model": cpu,
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)),
        "memory_gib": round(mem_kib / 2**20, 1),
        "platform": platform.platform(),
    }


def versions(dists: Sequence[str] = ("nacre", "torch", "stable-baselines3", "sb3-contrib",
                                      "gymnasium", "numpy", "matplotlib")) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in dists:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    try:
        root = ROOT
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
        out["nacre_git"] = rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        pass
    return out




def report_variants(name: str, title: str, runs: list[dict[str, Any]],
                    scores: dict[str, str], meta: dict[str, Any], digits: int = 2) -> str:
    """Aggregate per-seed ``runs`` (each with ``variant`` and the ``scores`` keys) into the IQM
    and mean with 95 % bootstrap intervals per variant; write ``results/<name>.json`` (with
    ``meta``, the machine and versions) and ``results/<name>.md``; return the table."""
    from nacre.eval.stats import summarize_returns

    variants = list(dict.fromkeys(r["variant"] for r in runs))
    summary = {v: {key: summarize_returns([r[key] for r in runs if r["variant"] == v])
                   for key in scores} for v in variants}
    write_json(HERE / "results" / f"{name}.json",
               {"benchmark": name, **meta, "runs": runs, "summary": summary,
                "machine": machine(), "versions": versions(), "date": time.strftime("%Y-%m-%d")})

    def ci(s: dict[str, Any]) -> str:
        low, high = s["iqm_ci95"]
        return f"{s['iqm']:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"

    first = next(iter(scores))
    head = " | ".join(f"{label}, IQM [95% CI]" for label in scores.values())
    lines = [f"### {title}", "", f"| | {head} | {scores[first]} per seed |",
             "|---|" + "---:|" * len(scores) + "---|"]
    for v in variants:
        per_seed = ", ".join(f"{r[first]:.{digits}f}" for r in runs if r["variant"] == v)
        cells = " | ".join(ci(summary[v][key]) for key in scores)
        lines.append(f"| {v} | {cells} | {per_seed} |")
    table = "\n".join(lines) + "\n"
    (HERE / "results" / f"{name}.md").write_text(table)
    return table


def nacre_run(preset: str, seed: int, steps: int, threshold: float,
              eval_episodes: int, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """One nacre training run via ``nacre.train`` into a temporary run folder: wall time of the
    whole call, of the loop without its periodic evaluations, returns and the eval curve.
    ``overrides`` are ``key=value`` config overrides (e.g. ``train.accelerate=off``)."""
    import torch

    import nacre
    from nacre.threads import thread_counts

    cfg = nacre.load_preset(preset).with_overrides(list(overrides))
    marks: dict[str, list[tuple[int, float]]] = {"log": [], "eval": []}
    eval_returns: dict[int, float] = {}

    class Timing(nacre.Callback):
        def on_log(self, training: Any, row: dict[str, Any]) -> None:
            marks["log"].append((training.env_steps, time.perf_counter()))

        def on_eval(self, training: Any, returns: list[float]) -> None:
            marks["eval"].append((training.env_steps, time.perf_counter()))
            eval_returns[training.env_steps] = float(np.mean(returns))

    threads_before = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="nacre-bench-") as tmp:
        t0 = time.perf_counter()
        result = nacre.train(cfg, steps=steps, seed=seed, out=Path(tmp) / "run",
                             progress=False, callbacks=[Timing()])
        wall = time.perf_counter() - t0
        metrics = [json.loads(line) for line in
                   (Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines() if line]
    summary = result.summary
    curve = [{"env_steps": r["env_steps"], "return_mean": r["eval/return_mean"],
              "return_std": r["eval/return_std"]} for r in metrics if "eval/return_mean" in r]
    # Evaluation time: each eval event directly follows the log event of the same step.
    log_at = dict(marks["log"])
    eval_time = sum(t - log_at[s] for s, t in marks["eval"] if s in log_at)
    first = next(((s, t) for s, t in marks["eval"] if eval_returns[s] >= threshold), None)
    learn_threads = thread_counts()["learn"]
    return {
        "library": "nacre",
        "seed": seed,
        "env_steps": summary["env_steps"],
        "grad_steps": summary["grad_steps"],
        "episodes": summary["episodes"],
        "wall_s": wall,
        "wall_s_means": "the whole nacre.train(...) call: build, training loop, periodic and "
        "final evaluations, checkpoint, summary and learning-curve plot",
        "loop_wall_s": summary["wall_time_s"],
        "eval_wall_s": eval_time,
        "loop_minus_eval_wall_s": summary["wall_time_s"] - eval_time,
        "env_steps_per_s": summary["env_steps"] / wall,
        "loop_env_steps_per_s": summary["env_steps_per_s"],
        "final_eval_return": summary["final_eval_return_mean"],
        "final_eval_returns": summary["final_eval_returns"],
        "final_eval_method": f"result.summary['final_eval_return_mean']: {eval_episodes} episodes "
        "with exploit=True on a separate eval env at the end of training",
        "eval_curve": curve,
        "time_to_threshold": None if first is None else
        {"env_steps": first[0], "wall_s": first[1] - t0,
         "resolution_env_steps": cfg.train.eval_every},
        "peak_rss_mib": peak_rss_mib(),
        "torch_threads_default": threads_before,
        "torch_threads_act": torch.get_num_threads(),
        "torch_threads_learn": learn_threads,
        "accelerate": cfg.train.accelerate,
        "config_yaml": cfg.to_yaml(),
    }


def sb3_run(make_model: Callable[[], Any], env_id: str, seed: int, steps: int,
            eval_episodes: int, built_by: str,
            wrap_eval: Callable[[Any, Any], Any] | None = None) -> dict[str, Any]:
    """One SB3 run: build the model (timed), ``learn(steps)``, then ``eval_episodes``
    deterministic episodes on a fresh Monitor-wrapped env. ``built_by`` names what the build
    step does (it is part of the wall time); ``wrap_eval(eval_env, model)`` wraps the eval env
    as training wrapped its own (e.g. a VecNormalize with the trained statistics)."""
    import gymnasium as gym
    import torch
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    threads = torch.get_num_threads()
    t0 = time.perf_counter()
    model = make_model()
    t1 = time.perf_counter()
    model.learn(total_timesteps=steps)
    wall = time.perf_counter() - t0
    learn_wall = time.perf_counter() - t1
    eval_env = DummyVecEnv([lambda: Monitor(gym.make(env_id))])
    eval_env.seed(10_000_019 * (seed + 1) + steps)
    if wrap_eval is not None:
        eval_env = wrap_eval(eval_env, model)
    t2 = time.perf_counter()
    returns, _ = evaluate_policy(model, eval_env, n_eval_episodes=eval_episodes,
                                 deterministic=True, return_episode_rewards=True)
    eval_wall = time.perf_counter() - t2
    assert isinstance(returns, list)
    return {
        "library": "sb3",
        "seed": seed,
        "env_steps": int(model.num_timesteps),
        "grad_steps": int(model._n_updates),
        "wall_s": wall,
        "wall_s_means": f"{built_by} + model.learn(...) (SB3 evaluates nothing during learn)",
        "learn_wall_s": learn_wall,
        "env_steps_per_s": model.num_timesteps / wall,
        "learn_env_steps_per_s": model.num_timesteps / learn_wall,
        "final_eval_return": float(np.mean(returns)),
        "final_eval_returns": [float(r) for r in returns],
        "final_eval_method": f"evaluate_policy(model, env, n_eval_episodes={eval_episodes}, "
        f"deterministic=True) on a fresh Monitor-wrapped {env_id} after training",
        "final_eval_wall_s": eval_wall,
        "eval_curve": None,
        "peak_rss_mib": peak_rss_mib(),
        "torch_threads": threads,
        "torch_threads_after": torch.get_num_threads(),
    }


def benchmark_parser(doc: str, seeds: int, steps: int, quick_help: str,
                     out_dir: Path) -> argparse.ArgumentParser:
    """The options every side-by-side script takes (and the hidden ones of its workers)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=seeds)
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--out-dir", default=str(out_dir))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    return parser


# nacre as a user runs it (train.accelerate: auto), nacre on its readable updates only
# (train.accelerate: off: what readability costs), and the peer
LIBRARIES = ("nacre", "nacre-off", "sb3")
OFF = ("train.accelerate=off",)


def run_alternating(script: str | Path, tmp: Path, seeds: Sequence[int], steps: int,
                    *extra: str, keep: Path | None = None,
                    libraries: Sequence[str] = LIBRARIES) -> dict[str, list[dict[str, Any]]]:
    """The workers of ``script`` for each library (nacre, nacre with ``train.accelerate: off``,
    SB3), alternating per seed, each in a fresh process.

    With ``keep``, each finished run is also saved there and a run already saved there (same
    library, seed, steps and ``extra``) is read back instead of run again, so a long benchmark
    can be stopped and continued."""
    runs: dict[str, list[dict[str, Any]]] = {lib: [] for lib in libraries}
    for seed in seeds:
        for lib in libraries:
            saved = None if keep is None else keep / "-".join(
                [Path(script).stem, lib, *(e.strip("-") for e in extra), f"seed{seed}",
                 f"{steps}.json"])
            if saved is not None and saved.exists():
                r = json.loads(saved.read_text())
                log(f"  {lib:5s} seed {seed}: read back from {saved}")
            else:
                r = spawn(script, lib, tmp, *extra, "--seed", str(seed), "--steps", str(steps))
                if saved is not None:
                    saved.parent.mkdir(parents=True, exist_ok=True)
                    write_json(saved, r)
            runs[lib].append(r)
            log(f"  {lib:9s} seed {seed}: {r['wall_s']:6.1f} s, "
                f"{r['env_steps_per_s']:7.0f} steps/s, return {r['final_eval_return']:.1f}")
    return runs


def throughput(runs: dict[str, list[dict[str, Any]]], definition: str) -> dict[str, Any]:
    """Paired env-steps/s ratios (whole training call, and learning alone) and per-library
    medians."""
    nacre_runs, sb3_runs = runs["nacre"], runs["sb3"]
    ratio = [n["env_steps_per_s"] / s["env_steps_per_s"]
             for n, s in zip(nacre_runs, sb3_runs, strict=True)]
    learning = {lib: [r["env_steps"] / r["loop_minus_eval_wall_s"] for r in rs]
                for lib, rs in runs.items() if lib != "sb3"}
    learning["sb3"] = [r["learn_env_steps_per_s"] for r in sb3_runs]
    loop_ratio = [n / s for n, s in zip(learning["nacre"], learning["sb3"], strict=True)]
    out: dict[str, Any] = {
        "definition": definition,
        "ratio_per_seed": ratio,
        "ratio_median": float(np.median(ratio)),
        "ratio_min": float(np.min(ratio)),
        "ratio_max": float(np.max(ratio)),
        "learning_only_definition": "nacre training loop minus its evaluation episodes vs SB3 "
        "model.learn() alone",
        "learning_only_ratio_per_seed": loop_ratio,
        "learning_only_ratio_median": float(np.median(loop_ratio)),
    }
    if "nacre-off" in runs:  # the price of readability
        off = [o["env_steps_per_s"] / s["env_steps_per_s"]
               for o, s in zip(runs["nacre-off"], sb3_runs, strict=True)]
        accel = [n["env_steps_per_s"] / o["env_steps_per_s"]
                 for n, o in zip(nacre_runs, runs["nacre-off"], strict=True)]
        out.update({"off_ratio_per_seed": off, "off_ratio_median": float(np.median(off)),
                    "accelerated_over_off_per_seed": accel,
                    "accelerated_over_off_median": float(np.median(accel))})
    for lib, rs in runs.items():
        sps = [r["env_steps_per_s"] for r in rs]
        out[lib] = {"env_steps_per_s": sps, "median": float(np.median(sps)),
                    "learning_only_env_steps_per_s": learning[lib],
                    "learning_only_median": float(np.median(learning[lib])),
                    "wall_s": [r["wall_s"] for r in rs],
                    "wall_s_median": float(np.median([r["wall_s"] for r in rs]))}
    return out


def readability_rows(rep: dict[str, Any]) -> list[str]:
    """Markdown lines: nacre with and without its accelerated kernels against the peer."""
    tp, ret = rep["throughput"], rep["returns"]
    if "nacre-off" not in ret:
        return []

    def iqm(lib: str) -> str:
        lo, hi = ret[lib]["iqm_ci95"]
        return f"{ret[lib]['iqm']:.1f} [{lo:.1f}, {hi:.1f}]"

    return [
        "",
        "The price of readability — the same runs with `train.accelerate: off` (every learner "
        "on its readable autograd update, no process settings), in the same invocation:",
        "",
        "| | nacre (accelerate: auto) | nacre (accelerate: off) | SB3 |",
        "|---|---:|---:|---:|",
        f"| env-steps/s, median | {tp['nacre']['median']:,.0f} | "
        f"{tp['nacre-off']['median']:,.0f} | {tp['sb3']['median']:,.0f} |",
        f"| ratio vs SB3, median of seed pairs | **{tp['ratio_median']:.2f}×** | "
        f"**{tp['off_ratio_median']:.2f}×** | 1 |",
        f"| final return, IQM [95% CI] | {iqm('nacre')} | {iqm('nacre-off')} | {iqm('sb3')} |",
        "",
        f"Acceleration makes nacre {tp['accelerated_over_off_median']:.2f}× faster "
        "(median of seed pairs).",
    ]


def time_to_threshold(nacre_runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the runs whose periodic evaluations reached the threshold."""
    ttt = [r["time_to_threshold"] for r in nacre_runs if r["time_to_threshold"]]
    return {
        "reached": len(ttt), "of": len(nacre_runs),
        "env_steps_median": float(np.median([t["env_steps"] for t in ttt])) if ttt else None,
        "wall_s_median": float(np.median([t["wall_s"] for t in ttt])) if ttt else None,
    }


def contention(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    busy = [r["contention"]["other_processes_cores_busy"] for rs in runs.values() for r in rs]
    return {
        "definition": "CPU cores kept busy by processes other than the worker during each "
        "training run (machine-wide /proc/stat busy time minus the worker's CPU time, / wall)",
        "other_cores_busy_mean": float(np.mean(busy)),
        "other_cores_busy_max": float(np.max(busy)),
        "machine_cores": os.cpu_count(),
    }


def write_report(report: dict[str, Any], name: str, quick: bool, out_dir: str | Path,
                 markdown: Callable[[dict[str, Any]], str], plot: Callable[[dict[str, Any], Path],
                                                                           None],
                 references: Any, started_utc: str, t_start: float) -> None:
    """Add what every report carries (command, times, versions, machine, references), then
    write ``<name>[_quick].{json,md,png}`` and print the table."""
    report.update({
        "benchmark": name,
        "mode": "quick" if quick else "full",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started_utc": started_utc,
        "duration_s": time.perf_counter() - t_start,
        "versions": versions(),
        "machine": machine(),
        "references": references,
    })
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = name + ("_quick" if quick else "")
    table = markdown(report)
    report["markdown"] = table
    write_json(out / f"{stem}.json", report)
    (out / f"{stem}.md").write_text(table)
    plot(report, out / f"{stem}.png")
    print(table)
    log(f"wrote {out / stem}.{{json,md,png}} in {report['duration_s']:.0f} s")


def plot_side_by_side(rep: dict[str, Any], path: Path, algo: str, threshold: float | None,
                      env_id: str = "CartPole-v1",
                      ylim: tuple[float, float] | None = (0, 520)) -> None:
    """Evaluation curves (nacre) with SB3's final returns, throughput, final returns."""
    import matplotlib

    from nacre.eval.stats import stratified_bootstrap_ci

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = rep["runs"]
    colors = {"nacre": "tab:blue", "sb3": "tab:orange"}
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), width_ratios=[2.2, 1, 1])
    ax = axes[0]
    curves = [r["eval_curve"] for r in runs["nacre"] if r["eval_curve"]]
    for r in runs["nacre"]:
        xs = [p["env_steps"] for p in r["eval_curve"]]
        ax.plot(xs, [p["return_mean"] for p in r["eval_curve"]], color=colors["nacre"],
                alpha=0.3, lw=1, marker=".")
    if curves and len({len(c) for c in curves}) == 1:
        xs = [p["env_steps"] for p in curves[0]]
        ys = np.array([[p["return_mean"] for p in c] for c in curves])
        band = [stratified_bootstrap_ci(ys[:, j], lambda v: float(np.mean(v)))
                for j in range(ys.shape[1])]
        ax.plot(xs, ys.mean(0), color=colors["nacre"], lw=2.5,
                label=f"nacre, mean of {len(curves)} seeds (95% bootstrap CI)")
        ax.fill_between(xs, [b[1] for b in band], [b[2] for b in band], color=colors["nacre"],
                        alpha=0.2)
    steps = rep["config"]["steps"]
    sb3_final = [r["final_eval_return"] for r in runs["sb3"]]
    ax.scatter([steps * 1.015] * len(sb3_final), sb3_final, color=colors["sb3"], marker="D",
               zorder=3, label="SB3, final evaluation per seed")
    if threshold is not None:
        ax.axhline(threshold, color="grey", ls="--", lw=1, label=f"threshold {threshold:g}")
    ax.set_xlim(0, steps * 1.04)
    ax.set(xlabel="environment steps", ylabel="evaluation return (10 greedy episodes)",
           title=f"{env_id} {algo}: nacre evaluation curves", ylim=ylim)
    ax.legend(loc="lower right", fontsize=8)

    ax = axes[1]
    libs = ["nacre", "sb3"]
    data = [[r["env_steps_per_s"] for r in runs[lib]] for lib in libs]
    box = ax.boxplot(data, patch_artist=True, widths=0.5)
    ax.set_xticks([1, 2], ["nacre", "SB3"])
    for patch, lib in zip(box["boxes"], libs, strict=True):
        patch.set_facecolor(colors[lib])
        patch.set_alpha(0.35)
    for i, d in enumerate(data, start=1):
        ax.scatter(np.full(len(d), i) + np.linspace(-0.08, 0.08, len(d)), d, color="k", s=12,
                   zorder=3)
    tp = rep["throughput"]
    ax.set(ylabel="env-steps/s (whole training call)",
           title=f"throughput: nacre/SB3 = {tp['ratio_median']:.2f}× (median)")
    ax.set_ylim(bottom=0)

    ax = axes[2]
    for i, lib in enumerate(libs, start=1):
        vals = [r["final_eval_return"] for r in runs[lib]]
        ax.scatter(np.full(len(vals), i) + np.linspace(-0.1, 0.1, len(vals)), vals,
                   color=colors[lib], s=25)
        s = rep["returns"][lib]
        ax.errorbar(i + 0.25, s["iqm"], yerr=[[s["iqm"] - s["iqm_ci95"][0]],
                                               [s["iqm_ci95"][1] - s["iqm"]]],
                    fmt="s", color="k", capsize=4)
    if threshold is not None:
        ax.axhline(threshold, color="grey", ls="--", lw=1)
    ax.set_xticks([1, 2], ["nacre", "SB3"])
    ax.set(ylabel="final return per seed", title="final return (■ IQM, 95% CI)", ylim=ylim)
    mode = " (QUICK smoke test)" if rep["config"]["quick"] else ""
    fig.suptitle(f"{algo} {env_id}, {rep['config']['steps']:,} steps, "
                 f"{len(rep['config']['seeds'])} seeds, {rep['machine']['cpu_model']}, "
                 f"{rep['machine']['cpu_count']} cores{mode}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
