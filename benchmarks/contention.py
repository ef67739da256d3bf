"""DQN on CartPole-v1 on a busy machine: nacre vs Stable-Baselines3 while two other processes
keep both cores busy, side by side, and the same runs on the quiet machine.

Usage::

    python benchmarks/contention.py               # 5 repetitions x 6,000 steps (~6 min)
    python benchmarks/contention.py --quick       # 1 repetition x 2,000 steps (smoke test)

Users run several seeds or experiments at once, so a library that is only fast on an idle
machine is not fast in practice. Each phase (quiet, then busy: two ``while True: pass``
processes started by this script) runs the ``cartpole-dqn`` preset and SB3's DQN with the same
RL-Zoo hyper-parameters for the same number of steps, alternating, each in a fresh process with
its library's default thread settings. Reported: median wall time of the whole training call
per library and phase, the nacre / SB3 speed ratio per phase, and each library's slowdown
(busy / quiet). Results: ``benchmarks/results/contention.{json,md,png}``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dqn_cartpole  # noqa: E402
import harness  # noqa: E402
from harness import log, write_json  # noqa: E402

NAME = "contention"
HERE = Path(__file__).resolve().parent
BUSY = 2  # processes kept busy beside the measured one (the machine has 2 cores)


def run_worker(kind: str, seed: int, steps: int, out: str) -> None:
    data = (dqn_cartpole.worker_nacre(seed, steps) if kind == "nacre"
            else dqn_cartpole.worker_sb3(seed, steps))
    write_json(out, data)


def phase(name: str, reps: int, steps: int, tmp: Path) -> dict[str, list[dict[str, Any]]]:
    """``reps`` alternating nacre / SB3 runs, with ``BUSY`` busy processes when ``name`` is
    ``busy``."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(BUSY if name == "busy" else 0)]
    try:
        time.sleep(1.0 if busy else 0.0)
        runs: dict[str, list[dict[str, Any]]] = {"nacre": [], "sb3": []}
        for rep in range(reps):
            for lib in runs:
                r = harness.spawn(__file__, lib, tmp, "--seed", str(rep), "--steps", str(steps))
                runs[lib].append(r)
                log(f"  {name:5s} {lib:5s} rep {rep}: {r['wall_s']:6.2f} s, other processes "
                    f"kept {r['contention']['other_processes_cores_busy']:.2f} cores busy")
        return runs
    finally:
        for p in busy:
            p.kill()
            p.wait()


def summarize(phases: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    def med(name: str, lib: str) -> float:
        return float(np.median([r["wall_s"] for r in phases[name][lib]]))

    out: dict[str, Any] = {"definition": "wall_s: the whole training call (nacre: nacre.train "
                           "with its final evaluation; SB3: gym.make + DQN(...) + learn), "
                           "median over repetitions"}
    for name in phases:
        ratio = [s["wall_s"] / n["wall_s"]
                 for n, s in zip(phases[name]["nacre"], phases[name]["sb3"], strict=True)]
        out[name] = {"nacre_wall_s_median": med(name, "nacre"),
                     "sb3_wall_s_median": med(name, "sb3"),
                     "nacre_speed_over_sb3_per_rep": ratio,
                     "nacre_speed_over_sb3_median": float(np.median(ratio)),
                     "other_cores_busy_median": float(np.median(
                         [r["contention"]["other_processes_cores_busy"]
                          for rs in phases[name].values() for r in rs]))}
    for lib in ("nacre", "sb3"):
        out[f"{lib}_slowdown_busy_over_quiet"] = med("busy", lib) / med("quiet", lib)
    return out


def markdown(rep: dict[str, Any]) -> str:
    s, cfg = rep["summary"], rep["config"]
    q, b = s["quiet"], s["busy"]
    return "\n".join([
        "### DQN on CartPole-v1 on a busy machine: nacre vs Stable-Baselines3",
        "",
        f"`cartpole-dqn` (RL-Zoo hyper-parameters, both libraries), {cfg['steps']:,} env steps, "
        f"{cfg['reps']} repetitions per phase alternating nacre/SB3, each in a fresh process "
        f"with its default threads; busy phase: {BUSY} `while True: pass` processes on the "
        f"{rep['machine']['cpu_count']} cores. `{rep['command']}`, {rep['started_utc'][:10]}."
        + (" QUICK SMOKE TEST, not a result." if cfg["quick"] else ""),
        "",
        "| | nacre | SB3 | nacre speed / SB3 |",
        "|---|---:|---:|---:|",
        f"| quiet machine, wall (median) | {q['nacre_wall_s_median']:.2f} s | "
        f"{q['sb3_wall_s_median']:.2f} s | **{q['nacre_speed_over_sb3_median']:.2f}×** |",
        f"| 2 busy processes, wall (median) | {b['nacre_wall_s_median']:.2f} s | "
        f"{b['sb3_wall_s_median']:.2f} s | **{b['nacre_speed_over_sb3_median']:.2f}×** |",
        f"| slowdown, busy / quiet | {s['nacre_slowdown_busy_over_quiet']:.2f}× | "
        f"{s['sb3_slowdown_busy_over_quiet']:.2f}× | |",
        "",
        f"Other processes kept {b['other_cores_busy_median']:.2f} cores busy during the busy "
        f"runs (median; {q['other_cores_busy_median']:.2f} during the quiet ones).",
        "",
    ])


def plot(rep: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    phases, width = ("quiet", "busy"), 0.38
    for i, lib in enumerate(("nacre", "sb3")):
        walls = [rep["summary"][p][f"{lib}_wall_s_median"] for p in phases]
        ax.bar(np.arange(2) + (i - 0.5) * width, walls, width,
               label="nacre" if lib == "nacre" else "Stable-Baselines3")
    ax.set_xticks(range(2), ["quiet machine", f"{BUSY} busy processes"])
    ax.set_ylabel("wall time (s), median")
    ax.set_title(f"DQN CartPole-v1, {rep['config']['steps']:,} steps")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = harness.benchmark_parser(__doc__, 5, 6_000, "1 repetition x 2k steps",
                                      HERE / "results")
    args = parser.parse_args()
    if args.worker:
        run_worker(args.worker, args.seed, args.steps, args.out)
        return
    reps, steps = (1, 2_000) if args.quick else (args.seeds, args.steps)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="contention-bench-") as tmp_name:
        phases = {name: phase(name, reps, steps, Path(tmp_name)) for name in ("quiet", "busy")}
    report = {"config": {"preset": dqn_cartpole.PRESET, "steps": steps, "reps": reps,
                         "busy_processes": BUSY, "quick": args.quick,
                         "hyperparameters": dqn_cartpole.HPARAMS},
              "runs": phases, "summary": summarize(phases)}
    harness.write_report(report, NAME, args.quick, args.out_dir, markdown, plot, [],
                         started, t_start)


if __name__ == "__main__":
    main()
