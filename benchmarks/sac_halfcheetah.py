"""SAC on HalfCheetah-v5: nacre vs Stable-Baselines3, side by side (needs the mujoco extra).

Usage::

    python benchmarks/sac_halfcheetah.py            # 3 seeds x 100k steps (~70 min on 2 cores)
    python benchmarks/sac_halfcheetah.py --quick    # 1 seed x 12k steps (smoke test)

Follows ../shared/BENCHMARKS.md: the RL-Zoo hyper-parameters of the ``halfcheetah-sac`` preset
for both libraries (checked against the preset before running), runs alternating per seed in
fresh subprocesses, ratios per seed pair, returns at the end with stratified-bootstrap CIs. Each
finished run is kept under ``benchmarks/results/runs/`` (git-ignored), so an interrupted
benchmark continues where it stopped when started again. The 1M-step figures of RL Zoo and
CleanRL are a reference column, not measured here. Results:
``benchmarks/results/sac_halfcheetah.*``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import write_json  # noqa: E402

from nacre.eval.stats import summarize_returns  # noqa: E402

ENV_ID = "HalfCheetah-v5"
PRESET = "halfcheetah-sac"
EVAL_EPISODES = 10
HERE = Path(__file__).resolve().parent

# rl-baselines3-zoo hyperparams/sac.yml, MuJoCo defaults (learning_starts 10000), and the SB3
# SAC defaults they rely on.
HPARAMS: dict[str, Any] = {
    "learning_rate": 3e-4, "gamma": 0.99, "buffer_size": 1_000_000, "learning_starts": 10_000,
    "train_freq": 1, "gradient_steps": 1, "batch_size": 256, "tau": 0.005,
    "net_arch": [256, 256],
}
REFERENCE = ("RL Zoo benchmark.md: SAC HalfCheetah-v3 at 1M steps: 9,535 ± 100 (one agent); "
             "these runs stop at 100k steps")


def check_preset() -> None:
    """Refuse to run if the nacre preset drifted away from the hyper-parameters SB3 gets."""
    import nacre

    cfg = nacre.load_preset(PRESET)
    p, t = cfg.learner.params, cfg.train
    got = {"learning_rate": p.lr, "gamma": p.gamma, "tau": p.tau,
           "buffer_size": cfg.buffer.params.capacity, "learning_starts": t.learning_starts,
           "train_freq": t.train_freq, "gradient_steps": t.gradient_steps,
           "batch_size": t.batch_size, "net_arch": list(cfg.network.params.actor_hidden)}
    bad = {k: (v, HPARAMS[k]) for k, v in got.items() if v != HPARAMS[k]}
    if bad or cfg.exploration.params.steps != HPARAMS["learning_starts"]:
        raise SystemExit(f"preset {PRESET} differs from the RL-Zoo hyper-parameters: {bad}")


def worker_nacre(seed: int, steps: int) -> dict[str, Any]:
    check_preset()
    # no threshold: HalfCheetah has none; time to threshold is not reported
    return harness.nacre_run(PRESET, seed, steps, float("inf"), EVAL_EPISODES)


def worker_sb3(seed: int, steps: int) -> dict[str, Any]:
    import gymnasium as gym
    from stable_baselines3 import SAC

    h = HPARAMS

    def make() -> Any:
        return SAC("MlpPolicy", gym.make(ENV_ID), learning_rate=h["learning_rate"],
                   gamma=h["gamma"], buffer_size=h["buffer_size"],
                   learning_starts=h["learning_starts"], batch_size=h["batch_size"],
                   tau=h["tau"], train_freq=h["train_freq"], gradient_steps=h["gradient_steps"],
                   policy_kwargs={"net_arch": list(h["net_arch"])}, seed=seed, device="cpu",
                   verbose=0)

    return harness.sb3_run(make, ENV_ID, seed, steps, EVAL_EPISODES, "gym.make + SAC(...)")


def main() -> None:
    args = harness.benchmark_parser(__doc__, 3, 100_000, "1 seed x 12k steps (smoke test)",
                                    HERE / "results").parse_args()
    if args.worker:
        run = worker_nacre if args.worker == "nacre" else worker_sb3
        write_json(args.out, run(args.seed, args.steps))
        return
    if args.quick:
        args.seeds, args.steps = 1, min(args.steps, 12_000)
    orchestrate(args)


def orchestrate(args: argparse.Namespace) -> None:
    seeds, name = list(range(args.seeds)), "sac_halfcheetah"
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t_start = time.perf_counter()
    keep = None if args.quick else Path(args.out_dir) / "runs"
    with tempfile.TemporaryDirectory(prefix=f"{name}-bench-") as tmp_name:
        runs = harness.run_alternating(__file__, Path(tmp_name), seeds, args.steps, keep=keep)
    report: dict[str, Any] = {
        "config": {"env_id": ENV_ID, "steps": args.steps, "seeds": seeds, "quick": args.quick,
                   "hyperparameters": HPARAMS},
        "runs": runs,
        "throughput": harness.throughput(
            runs, "env_steps / wall_s of the whole training call (nacre: nacre.train; SB3: "
            "gym.make + SAC(...) + learn)"),
        "returns": {lib: summarize_returns([r["final_eval_return"] for r in rs])
                    for lib, rs in runs.items()},
        "contention": harness.contention(runs),
    }

    def markdown(rep: dict[str, Any]) -> str:
        ret, tp = rep["returns"], rep["throughput"]

        def cell(lib: str) -> str:
            r = ret[lib]
            return (f"{r['mean']:,.0f} [{r['mean_ci95'][0]:,.0f}, {r['mean_ci95'][1]:,.0f}]")

        return "\n".join([
            "### SAC on HalfCheetah-v5: nacre vs Stable-Baselines3",
            "",
            f"{args.steps:,} env steps, {len(seeds)} seeds, alternating, fresh processes. "
            f"`{rep['command']}`, {rep['started_utc'][:10]}."
            + (" QUICK SMOKE TEST, not a result." if args.quick else ""),
            "",
            "| | nacre | SB3 | nacre / SB3 | reference, 1M steps (not measured here) |",
            "|---|---:|---:|---:|---|",
            f"| env-steps/s, median (whole training call) | {tp['nacre']['median']:,.0f} | "
            f"{tp['sb3']['median']:,.0f} | **{tp['ratio_median']:.2f}×** "
            f"({tp['ratio_min']:.2f}–{tp['ratio_max']:.2f}) | |",
            f"| env-steps/s, learning only | {tp['nacre']['learning_only_median']:,.0f} | "
            f"{tp['sb3']['learning_only_median']:,.0f} | "
            f"{tp['learning_only_ratio_median']:.2f}× | |",
            f"| return at {args.steps // 1000}k, mean [95% CI] | {cell('nacre')} | "
            f"{cell('sb3')} | | RL Zoo SAC HalfCheetah-v3: 9,535 ± 100 (one agent) |",
            "",
        ])

    def plot(rep: dict[str, Any], path: Path) -> None:
        harness.plot_side_by_side(rep, path, "SAC", None, env_id=ENV_ID, ylim=None)

    harness.write_report(report, name, args.quick, args.out_dir, markdown, plot, REFERENCE,
                         started, t_start)


if __name__ == "__main__":
    main()
