"""QR-DQN on CartPole-v1: nacre vs sb3-contrib, side by side (issue #14's acceptance:
"QR-DQN vs sb3-contrib QR-DQN on CartPole at the same hyper-parameters, side by side in one run:
env-steps/s ≥ 2× and returns not worse").

Usage::

    python benchmarks/qrdqn_cartpole.py            # 5 seeds x 50k steps (~12 min on 2 cores)
    python benchmarks/qrdqn_cartpole.py --quick    # 2 seeds x 5k steps

Follows ../shared/BENCHMARKS.md like ``dqn_cartpole.py``: the RL-Zoo hyper-parameters of
``hyperparams/qrdqn.yml`` (10 quantiles, 256-256 ReLU, lr 2.3e-3, 128 gradient steps every 256
env steps …) and sb3-contrib's defaults (Adam ε 0.01 / batch, no gradient clipping, κ 1) for
both; nacre as users run it (``train.accelerate: auto``, the QR-DQN kernel) and on its readable
update (``off``); runs alternating per seed, each in a fresh process; ratios per seed pair;
returns with IQM and stratified-bootstrap CIs. Results: ``benchmarks/results/qrdqn_cartpole.*``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from dqn_cartpole import HPARAMS as DQN_HPARAMS  # noqa: E402
from dqn_cartpole import sb3_kwargs  # noqa: E402
from harness import write_json  # noqa: E402

from nacre.eval.stats import summarize_returns  # noqa: E402

NAME = "qrdqn_cartpole"
ENV_ID = "CartPole-v1"
PRESET = "cartpole-qrdqn"
THRESHOLD = 475.0
EVAL_EPISODES = 10
HERE = Path(__file__).resolve().parent

# rl-baselines3-zoo hyperparams/qrdqn.yml, CartPole-v1 (SB3 names): DQN's (dqn.yml) with 10
# quantiles, plus sb3-contrib's QRDQN defaults (no gradient clipping, Adam ε 0.01 / batch size)
HPARAMS: dict[str, Any] = {
    **{k: v for k, v in DQN_HPARAMS.items() if k != "loss"},
    "n_quantiles": 10,
    "max_grad_norm": None,
    "adam_eps": 0.01 / 64,
}

REFERENCES = [{"what": "sb3-contrib QR-DQN CartPole-v1 (RL-Zoo hyper-parameters)",
               "value": "500 ± 0 (RL Zoo benchmark.md)", "source": "DLR-RM/rl-baselines3-zoo"}]


def check_nacre_hparams(cfg: Any) -> None:
    """Refuse to run if the preset drifted away from what sb3-contrib gets."""
    learner, net, tr, inner = (cfg.learner.params, cfg.network.params, cfg.train,
                               cfg.exploration.params.inner)
    got = {
        "learning_rate": learner.lr, "gamma": learner.gamma, "tau": learner.tau,
        "max_grad_norm": learner.max_grad_norm, "adam_eps": learner.adam_eps,
        "net_arch": list(net.hidden), "n_quantiles": net.n_quantiles,
        "buffer_size": cfg.buffer.params.capacity, "batch_size": tr.batch_size,
        "learning_starts": tr.learning_starts, "train_freq": tr.train_freq,
        "gradient_steps": tr.gradient_steps, "target_update_interval": tr.target_update_interval,
        "exploration_fraction": inner["decay_fraction"],
        "exploration_initial_eps": inner["start"], "exploration_final_eps": inner["end"],
    }
    bad = {k: (v, HPARAMS[k]) for k, v in got.items() if v != HPARAMS[k]}
    if learner.kappa != 1.0 or net.dueling or cfg.safety.name != "none":
        bad["kappa/dueling/safety"] = ((learner.kappa, net.dueling, cfg.safety.name),
                                       (1.0, False, "none"))
    if bad:
        raise SystemExit(f"preset {PRESET} differs from the RL-Zoo hyper-parameters: {bad}")


def worker_nacre(seed: int, steps: int, overrides: tuple[str, ...] = ()) -> dict[str, Any]:
    import nacre

    check_nacre_hparams(nacre.load_preset(PRESET))
    return harness.nacre_run(PRESET, seed, steps, THRESHOLD, EVAL_EPISODES, overrides)


def worker_sb3(seed: int, steps: int) -> dict[str, Any]:
    """One sb3-contrib QR-DQN run with the same hyper-parameters, torch's default threads."""
    import gymnasium as gym
    from sb3_contrib import QRDQN

    def make() -> Any:
        return QRDQN("MlpPolicy", gym.make(ENV_ID), **sb3_kwargs(HPARAMS, seed),
                     policy_kwargs={"net_arch": list(HPARAMS["net_arch"]),
                                    "n_quantiles": HPARAMS["n_quantiles"]})

    return harness.sb3_run(make, ENV_ID, seed, steps, EVAL_EPISODES, "gym.make + QRDQN(...)")


def run_worker(args: argparse.Namespace) -> None:
    kinds = {"nacre": lambda: worker_nacre(args.seed, args.steps),
             "nacre-off": lambda: worker_nacre(args.seed, args.steps, harness.OFF),
             "sb3": lambda: worker_sb3(args.seed, args.steps)}
    if args.worker not in kinds:
        raise SystemExit(f"unknown worker {args.worker!r}")
    write_json(args.out, kinds[args.worker]())


def orchestrate(args: argparse.Namespace) -> None:
    seeds = list(range(args.seeds))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="qrdqn-cartpole-bench-") as tmp:
        runs = harness.run_alternating(__file__, Path(tmp), seeds, args.steps)
    report = {
        "config": {"env_id": ENV_ID, "nacre_preset": PRESET, "steps": args.steps,
                   "seeds": seeds, "quick": args.quick, "hyperparameters": HPARAMS,
                   "eval_episodes": EVAL_EPISODES, "threshold": THRESHOLD},
        "runs": runs,
        "throughput": harness.throughput(
            runs, "env_steps / wall_s of the whole training call (nacre: nacre.train, incl. "
            "its periodic evaluations, checkpoint and plot; sb3-contrib: gym.make + "
            "QRDQN(...) + learn), per seed pair"),
        "returns": {lib: summarize_returns([r["final_eval_return"] for r in rs],
                                           threshold=THRESHOLD) for lib, rs in runs.items()},
        "time_to_threshold_nacre": harness.time_to_threshold(runs["nacre"]),
        "contention": harness.contention(runs),
    }

    def plot(rep: dict[str, Any], path: Path) -> None:
        harness.plot_side_by_side(rep, path, "QR-DQN", THRESHOLD)

    harness.write_report(report, NAME, args.quick, args.out_dir, markdown, plot, REFERENCES,
                         started, t_start)


def markdown(rep: dict[str, Any]) -> str:
    cfg, tp, ret, runs = rep["config"], rep["throughput"], rep["returns"], rep["runs"]
    ver, mach = rep["versions"], rep["machine"]
    n = len(cfg["seeds"])

    def med(lib: str, key: str) -> float:
        return float(np.median([r[key] for r in runs[lib]]))

    def ci(lib: str, key: str) -> str:
        lo, hi = ret[lib][f"{key}_ci95"]
        return f"{ret[lib][key]:.1f} [{lo:.1f}, {hi:.1f}]"

    frac = {lib: f"{round(ret[lib]['fraction_ge_threshold'] * n)}/{n}" for lib in ret}
    quick = " — QUICK SMOKE TEST, not a result" if cfg["quick"] else ""
    lines = [
        f"### QR-DQN on CartPole-v1: nacre vs sb3-contrib{quick}",
        "",
        f"RL-Zoo hyper-parameters (hyperparams/qrdqn.yml) and sb3-contrib's defaults for both, "
        f"{cfg['steps']:,} env steps, {n} seeds, runs alternating per seed, each in a fresh "
        f"process. Machine: {mach['cpu_model']}, {mach['cpu_count']} cores; Python "
        f"{ver['python']}, torch {ver['torch']}, sb3-contrib {ver.get('sb3-contrib', '?')}, "
        f"gymnasium {ver['gymnasium']}, nacre {ver['nacre']} ({ver.get('nacre_git', '?')}). "
        f"`{rep['command']}`, {rep['started_utc'][:10]}.",
        "",
        "| | nacre | sb3-contrib | nacre / sb3-contrib |",
        "|---|---:|---:|---:|",
        f"| env-steps/s, median (whole training call) | {tp['nacre']['median']:,.0f} | "
        f"{tp['sb3']['median']:,.0f} | **{tp['ratio_median']:.2f}×** (median of {n} per-seed "
        f"ratios; {tp['ratio_min']:.2f}–{tp['ratio_max']:.2f}) |",
        f"| env-steps/s, learning only (nacre loop − evals; sb3-contrib `learn`) | "
        f"{tp['nacre']['learning_only_median']:,.0f} | "
        f"{tp['sb3']['learning_only_median']:,.0f} | {tp['learning_only_ratio_median']:.2f}× |",
        f"| wall time per run, median | {med('nacre', 'wall_s'):.1f} s | "
        f"{med('sb3', 'wall_s'):.1f} s | |",
        f"| final return, mean [95% CI] | {ci('nacre', 'mean')} | {ci('sb3', 'mean')} | |",
        f"| final return, IQM [95% CI] | {ci('nacre', 'iqm')} | {ci('sb3', 'iqm')} | |",
        f"| seeds with final return ≥ 475 | {frac['nacre']} | {frac['sb3']} | |",
        f"| env steps / gradient steps done | {med('nacre', 'env_steps'):,.0f} / "
        f"{med('nacre', 'grad_steps'):,.0f} | {med('sb3', 'env_steps'):,.0f} / "
        f"{med('sb3', 'grad_steps'):,.0f} | |",
        f"| peak RSS, median | {med('nacre', 'peak_rss_mib'):.0f} MiB | "
        f"{med('sb3', 'peak_rss_mib'):.0f} MiB | |",
        "",
        "Final return: mean of 10 greedy episodes after training (nacre: `exploit=True`; "
        "sb3-contrib: `evaluate_policy(deterministic=True)`). nacre's wall time includes its "
        "periodic evaluations, checkpoint and plot; sb3-contrib's includes no evaluation.",
    ]
    cont = rep["contention"]
    if cont["other_cores_busy_max"] > 0.2:
        lines += ["", f"> **Warning:** other processes kept up to "
                  f"{cont['other_cores_busy_max']:.2f} cores busy during the runs: absolute "
                  "times are unreliable."]
    lines += harness.readability_rows(rep)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = harness.benchmark_parser(__doc__ or "", 5, 50_000,
                                      "smoke test: 2 seeds x 5k steps", HERE / "results")
    args = parser.parse_args()
    if args.worker:
        run_worker(args)
        return
    if args.quick:
        args.seeds, args.steps = min(args.seeds, 2), min(args.steps, 5_000)
    orchestrate(args)


if __name__ == "__main__":
    main()
