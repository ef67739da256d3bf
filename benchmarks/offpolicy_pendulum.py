"""TD3 or SAC on Pendulum-v1: nacre vs Stable-Baselines3, side by side.

Usage::

    python benchmarks/offpolicy_pendulum.py --algo td3     # 5 seeds x 20k steps (~15 min)
    python benchmarks/offpolicy_pendulum.py --algo sac
    python benchmarks/offpolicy_pendulum.py --algo sac --quick   # 2 seeds x 2k steps

Follows ../shared/BENCHMARKS.md like ``dqn_cartpole.py``: the RL-Zoo hyper-parameters of the
``pendulum-td3`` / ``pendulum-sac`` presets for both libraries (checked against the preset before
running), runs alternating per seed in fresh subprocesses, ratios per seed pair, returns with
IQM and stratified-bootstrap CIs. Results: ``benchmarks/results/{td3,sac}_pendulum.*``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import write_json  # noqa: E402

from nacre.eval.stats import summarize_returns  # noqa: E402

ENV_ID = "Pendulum-v1"
THRESHOLD = -200.0  # the bar for the final return (IQM)
EVAL_EPISODES = 10
HERE = Path(__file__).resolve().parent

# rl-baselines3-zoo hyperparams/{td3,sac}.yml, Pendulum-v1, plus the SB3 defaults they rely on.
HPARAMS: dict[str, dict[str, Any]] = {
    "td3": {"learning_rate": 1e-3, "gamma": 0.98, "buffer_size": 200_000,
            "learning_starts": 10_000, "noise_std": 0.1, "train_freq": 200,
            "gradient_steps": 200, "batch_size": 256, "tau": 0.005, "net_arch": [400, 300]},
    "sac": {"learning_rate": 1e-3, "gamma": 0.99, "buffer_size": 1_000_000,
            "learning_starts": 100, "train_freq": 1, "gradient_steps": 1, "batch_size": 256,
            "tau": 0.005, "net_arch": [256, 256]},
}
REFERENCES = {
    "td3": "RL Zoo benchmark.md: TD3 Pendulum-v1, 20k steps: −151.9 ± 90.2 (one agent)",
    "sac": "RL Zoo benchmark.md: SAC Pendulum-v1, 20k steps: −157.0 ± 88.7 (one agent)",
}


def check_preset(algo: str) -> None:
    """Refuse to run if the nacre preset drifted away from the hyper-parameters SB3 gets."""
    import nacre

    cfg = nacre.load_preset(f"pendulum-{algo}")
    h, p, t = HPARAMS[algo], cfg.learner.params, cfg.train
    got = {"learning_rate": p.lr, "gamma": p.gamma, "tau": p.tau,
           "buffer_size": cfg.buffer.params.capacity, "learning_starts": t.learning_starts,
           "train_freq": t.train_freq, "gradient_steps": t.gradient_steps,
           "batch_size": t.batch_size, "net_arch": list(cfg.network.params.actor_hidden)}
    if algo == "td3":
        got["noise_std"] = cfg.exploration.params.inner["std"]
    bad = {k: (v, h[k]) for k, v in got.items() if v != h[k]}
    if bad:
        raise SystemExit(f"preset pendulum-{algo} differs from the RL-Zoo hyper-parameters: {bad}")


def worker_nacre(algo: str, seed: int, steps: int, overrides: Sequence[str] = ()
                 ) -> dict[str, Any]:
    check_preset(algo)
    return harness.nacre_run(f"pendulum-{algo}", seed, steps, THRESHOLD, EVAL_EPISODES,
                             overrides)


def worker_sb3(algo: str, seed: int, steps: int) -> dict[str, Any]:
    import gymnasium as gym
    from stable_baselines3 import SAC, TD3
    from stable_baselines3.common.noise import NormalActionNoise

    h = HPARAMS[algo]
    common = {"learning_rate": h["learning_rate"], "gamma": h["gamma"],
              "buffer_size": h["buffer_size"], "learning_starts": h["learning_starts"],
              "batch_size": h["batch_size"], "tau": h["tau"], "seed": seed, "device": "cpu",
              "policy_kwargs": {"net_arch": list(h["net_arch"])}, "verbose": 0}

    def make() -> Any:
        if algo == "td3":
            noise = NormalActionNoise(np.zeros(1), h["noise_std"] * np.ones(1))
            return TD3("MlpPolicy", gym.make(ENV_ID), train_freq=(1, "episode"),
                       gradient_steps=-1, action_noise=noise, **common)
        return SAC("MlpPolicy", gym.make(ENV_ID), train_freq=h["train_freq"],
                   gradient_steps=h["gradient_steps"], **common)

    return harness.sb3_run(make, ENV_ID, seed, steps, EVAL_EPISODES,
                           f"gym.make + {algo.upper()}(...)")


def main() -> None:
    parser = harness.benchmark_parser(__doc__, 5, 20_000, "2 seeds x 2k steps (smoke test)",
                                      HERE / "results")
    parser.add_argument("--algo", choices=("td3", "sac"), required=True)
    args = parser.parse_args()
    if args.worker:
        if args.worker == "sb3":
            write_json(args.out, worker_sb3(args.algo, args.seed, args.steps))
        else:
            overrides = harness.OFF if args.worker == "nacre-off" else ()
            write_json(args.out, worker_nacre(args.algo, args.seed, args.steps, overrides))
        return
    if args.quick:
        args.seeds, args.steps = min(args.seeds, 2), min(args.steps, 2_000)
    orchestrate(args)


def orchestrate(args: argparse.Namespace) -> None:
    seeds, name = list(range(args.seeds)), f"{args.algo}_pendulum"
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"{name}-bench-") as tmp_name:
        runs = harness.run_alternating(__file__, Path(tmp_name), seeds, args.steps,
                                       "--algo", args.algo)
    report: dict[str, Any] = {
        "config": {"env_id": ENV_ID, "steps": args.steps, "seeds": seeds, "quick": args.quick,
                   "hyperparameters": HPARAMS[args.algo], "threshold": THRESHOLD},
        "runs": runs,
        "throughput": harness.throughput(
            runs, f"env_steps / wall_s of the whole training call (nacre: nacre.train; SB3: "
            f"gym.make + {args.algo.upper()}(...) + learn)"),
        "returns": {lib: summarize_returns([r["final_eval_return"] for r in rs],
                                           threshold=THRESHOLD) for lib, rs in runs.items()},
        "contention": harness.contention(runs),
    }

    def markdown(rep: dict[str, Any]) -> str:
        ret, tp = rep["returns"], rep["throughput"]
        return "\n".join([
            f"### {args.algo.upper()} on Pendulum-v1: nacre vs Stable-Baselines3",
            "",
            f"{args.steps:,} env steps, {len(seeds)} seeds, alternating, fresh processes. "
            f"`{rep['command']}`, {rep['started_utc'][:10]}."
            + (" QUICK SMOKE TEST, not a result." if args.quick else ""),
            "",
            "| | nacre | SB3 | nacre / SB3 |",
            "|---|---:|---:|---:|",
            f"| env-steps/s, median (whole training call) | {tp['nacre']['median']:,.0f} | "
            f"{tp['sb3']['median']:,.0f} | **{tp['ratio_median']:.2f}×** "
            f"({tp['ratio_min']:.2f}–{tp['ratio_max']:.2f}) |",
            f"| env-steps/s, learning only | {tp['nacre']['learning_only_median']:,.0f} | "
            f"{tp['sb3']['learning_only_median']:,.0f} | "
            f"{tp['learning_only_ratio_median']:.2f}× |",
            f"| final return, IQM [95% CI] | {ret['nacre']['iqm']:.1f} "
            f"[{ret['nacre']['iqm_ci95'][0]:.1f}, {ret['nacre']['iqm_ci95'][1]:.1f}] | "
            f"{ret['sb3']['iqm']:.1f} [{ret['sb3']['iqm_ci95'][0]:.1f}, "
            f"{ret['sb3']['iqm_ci95'][1]:.1f}] | |",
            *harness.readability_rows(rep),
            "",
            f"Reference (not measured here): {REFERENCES[args.algo]}.",
            "",
        ])

    def plot(rep: dict[str, Any], path: Path) -> None:
        harness.plot_side_by_side(rep, path, args.algo.upper(), THRESHOLD, env_id=ENV_ID,
                                  ylim=None)

    harness.write_report(report, name, args.quick, args.out_dir, markdown, plot,
                         REFERENCES[args.algo], started, t_start)


if __name__ == "__main__":
    main()
