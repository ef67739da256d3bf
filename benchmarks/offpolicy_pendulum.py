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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import log, machine, peak_rss_mib, versions, write_json  # noqa: E402
from stats import summarize_returns  # noqa: E402

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


def worker_nacre(algo: str, seed: int, steps: int) -> dict[str, Any]:
    check_preset(algo)
    return harness.nacre_run(f"pendulum-{algo}", seed, steps, THRESHOLD, EVAL_EPISODES)


def worker_sb3(algo: str, seed: int, steps: int) -> dict[str, Any]:
    import gymnasium as gym
    import torch
    from stable_baselines3 import SAC, TD3
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.noise import NormalActionNoise
    from stable_baselines3.common.vec_env import DummyVecEnv

    threads = torch.get_num_threads()
    h = HPARAMS[algo]
    common = {"learning_rate": h["learning_rate"], "gamma": h["gamma"],
              "buffer_size": h["buffer_size"], "learning_starts": h["learning_starts"],
              "batch_size": h["batch_size"], "tau": h["tau"], "seed": seed, "device": "cpu",
              "policy_kwargs": {"net_arch": list(h["net_arch"])}, "verbose": 0}
    t0 = time.perf_counter()
    env = gym.make(ENV_ID)
    if algo == "td3":
        model: Any = TD3("MlpPolicy", env, train_freq=(1, "episode"), gradient_steps=-1,
                         action_noise=NormalActionNoise(np.zeros(1), h["noise_std"] * np.ones(1)),
                         **common)
    else:
        model = SAC("MlpPolicy", env, train_freq=h["train_freq"],
                    gradient_steps=h["gradient_steps"], **common)
    t1 = time.perf_counter()
    model.learn(total_timesteps=steps)
    wall = time.perf_counter() - t0
    learn_wall = time.perf_counter() - t1
    eval_env = DummyVecEnv([lambda: Monitor(gym.make(ENV_ID))])
    eval_env.seed(10_000_019 * (seed + 1) + steps)
    returns, _ = evaluate_policy(model, eval_env, n_eval_episodes=EVAL_EPISODES,
                                 deterministic=True, return_episode_rewards=True)
    assert isinstance(returns, list)
    return {
        "library": "sb3", "seed": seed, "env_steps": int(model.num_timesteps),
        "grad_steps": int(model._n_updates), "wall_s": wall, "learn_wall_s": learn_wall,
        "env_steps_per_s": model.num_timesteps / wall,
        "learn_env_steps_per_s": model.num_timesteps / learn_wall,
        "final_eval_return": float(np.mean(returns)),
        "final_eval_returns": [float(r) for r in returns], "eval_curve": None,
        "peak_rss_mib": peak_rss_mib(), "torch_threads": threads,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", choices=("td3", "sac"), required=True)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="2 seeds x 2k steps (smoke test)")
    parser.add_argument("--out-dir", default=str(HERE / "results"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run = worker_nacre if args.worker == "nacre" else worker_sb3
        write_json(args.out, run(args.algo, args.seed, args.steps))
        return
    if args.quick:
        args.seeds, args.steps = min(args.seeds, 2), min(args.steps, 2_000)
    orchestrate(args)


def orchestrate(args: argparse.Namespace) -> None:
    seeds, name = list(range(args.seeds)), f"{args.algo}_pendulum"
    started, t_start = datetime.now(UTC), time.perf_counter()
    runs: dict[str, list[dict[str, Any]]] = {"nacre": [], "sb3": []}
    with tempfile.TemporaryDirectory(prefix=f"{name}-bench-") as tmp_name:
        for seed in seeds:
            for lib in ("nacre", "sb3"):
                r = harness.spawn(__file__, lib, Path(tmp_name), "--algo", args.algo,
                                  "--seed", str(seed), "--steps", str(args.steps))
                runs[lib].append(r)
                log(f"  {lib:5s} seed {seed}: {r['wall_s']:6.1f} s, "
                    f"{r['env_steps_per_s']:6.0f} steps/s, return {r['final_eval_return']:.1f}")
    ratio = [n["env_steps_per_s"] / s["env_steps_per_s"]
             for n, s in zip(runs["nacre"], runs["sb3"], strict=True)]
    report: dict[str, Any] = {
        "benchmark": name, "mode": "quick" if args.quick else "full",
        "config": {"env_id": ENV_ID, "steps": args.steps, "seeds": seeds, "quick": args.quick,
                   "hyperparameters": HPARAMS[args.algo], "threshold": THRESHOLD},
        "runs": runs,
        "throughput": {"ratio_per_seed": ratio, "ratio_median": float(np.median(ratio)),
                       "ratio_min": float(np.min(ratio)), "ratio_max": float(np.max(ratio))},
        "returns": {lib: summarize_returns([r["final_eval_return"] for r in rs],
                                           threshold=THRESHOLD) for lib, rs in runs.items()},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started_utc": started.isoformat(timespec="seconds"),
        "duration_s": time.perf_counter() - t_start,
        "versions": versions(), "machine": machine(), "reference": REFERENCES[args.algo],
    }
    ret, tp = report["returns"], report["throughput"]
    table = "\n".join([
        f"### {args.algo.upper()} on Pendulum-v1: nacre vs Stable-Baselines3",
        "",
        f"{args.steps:,} env steps, {len(seeds)} seeds, alternating, fresh processes. "
        f"`{report['command']}`, {report['started_utc'][:10]}."
        + (" QUICK SMOKE TEST, not a result." if args.quick else ""),
        "",
        "| | nacre | SB3 | nacre / SB3 |",
        "|---|---:|---:|---:|",
        f"| env-steps/s, median (whole training call) | "
        f"{np.median([r['env_steps_per_s'] for r in runs['nacre']]):,.0f} | "
        f"{np.median([r['env_steps_per_s'] for r in runs['sb3']]):,.0f} | "
        f"**{tp['ratio_median']:.2f}×** ({tp['ratio_min']:.2f}–{tp['ratio_max']:.2f}) |",
        f"| final return, IQM [95% CI] | {ret['nacre']['iqm']:.1f} "
        f"[{ret['nacre']['iqm_ci95'][0]:.1f}, {ret['nacre']['iqm_ci95'][1]:.1f}] | "
        f"{ret['sb3']['iqm']:.1f} [{ret['sb3']['iqm_ci95'][0]:.1f}, "
        f"{ret['sb3']['iqm_ci95'][1]:.1f}] | |",
        "",
        f"Reference (not measured here): {REFERENCES[args.algo]}.",
        "",
    ])
    report["markdown"] = table
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = name + ("_quick" if args.quick else "")
    write_json(out_dir / f"{stem}.json", report)
    (out_dir / f"{stem}.md").write_text(table)
    harness.plot_side_by_side(report, out_dir / f"{stem}.png", args.algo.upper(), THRESHOLD,
                              env_id=ENV_ID, ylim=None)
    print(table)
    log(f"wrote {out_dir / stem}.{{json,md,png}} in {report['duration_s']:.0f} s")


if __name__ == "__main__":
    main()
