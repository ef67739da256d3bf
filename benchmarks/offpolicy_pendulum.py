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


def td3_products(batch: int, obs_dim: int, act_dim: int, hidden: Sequence[int],
                 policy_delay: int = 2, critics: int = 2) -> list[tuple[int, int, int, float]]:
    """Every matrix product (m, k, n, times per update) one TD3 update must compute, whoever
    computes it: the floor below which no implementation of the algorithm in fp32 can go.

    Critic step: target actor and target critics forward on the next observations, the critics
    forward and backward (no gradient for the input of their first layer). Actor step (once per
    ``policy_delay`` updates): actor and first critic forward, the critic backward to the action
    only (its weights get no gradient), the actor backward."""
    def forward(inp: int, out: int) -> list[tuple[int, int, int]]:
        dims = [inp, *hidden, out]
        return [(batch, dims[i], dims[i + 1]) for i in range(len(dims) - 1)]

    def backward(inp: int, out: int, weights: bool,
                 first_input: bool) -> list[tuple[int, int, int]]:
        dims, prods = [inp, *hidden, out], []
        for i in range(len(dims) - 1):
            if weights:  # dW_i = grad_out^T @ input: (out_i x batch) @ (batch x in_i)
                prods.append((dims[i + 1], batch, dims[i]))
            if i > 0 or first_input:  # grad_in = grad_out @ W_i: (batch x out_i) @ (out_i x in_i)
                prods.append((batch, dims[i + 1], dims[i]))
        return prods

    q_in = obs_dim + act_dim
    critic = (forward(obs_dim, act_dim) + forward(q_in, 1) * (2 * critics)
              + backward(q_in, 1, weights=True, first_input=False) * critics)
    actor = (forward(obs_dim, act_dim) + forward(q_in, 1)
             + backward(q_in, 1, weights=False, first_input=True)
             + backward(obs_dim, act_dim, weights=True, first_input=False))
    return [(m, k, n, 1.0) for m, k, n in critic] + [(m, k, n, 1 / policy_delay)
                                                     for m, k, n in actor]


def worker_limits(algo: str) -> dict[str, Any]:
    """Raw costs of what TD3 on Pendulum cannot avoid: env step, one-observation forward, and
    the matrix products of one update (``td3_products``; elementwise work and Adam left out,
    so the floor is optimistic), each on the faster of 1 and 2 threads, best of 5 blocks."""
    import gymnasium as gym
    import torch

    if algo != "td3":
        raise SystemExit("the product floor is written for TD3")
    h = HPARAMS[algo]
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    action = np.zeros(1, dtype=np.float32)
    env_step = harness.best_per_call(lambda: env.step(action), 5_000)
    torch.manual_seed(0)
    prods = td3_products(h["batch_size"], 3, 1, h["net_arch"])
    operands = [(torch.randn(m, k), torch.randn(k, n), torch.empty(m, n), w)
                for m, k, n, w in prods]
    weights = [torch.randn(b, a) for a, b in zip([3, *h["net_arch"]], [*h["net_arch"], 1],
                                                   strict=True)]
    obs = torch.randn(1, 3)

    def forward() -> torch.Tensor:
        x = obs
        for w in weights:
            x = torch.relu(x @ w.T)
        return x

    costs: dict[str, Any] = {"env_step_s": env_step}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        per_product = [harness.best_per_call(lambda a=a, b=b, c=c: torch.mm(a, b, out=c), 20,
                                             warmup=5)
                       for a, b, c, _ in operands]
        costs[f"update_products_s_{threads}t"] = sum(
            t * w for t, (_, _, _, w) in zip(per_product, operands, strict=True))
        costs[f"forward_s_{threads}t"] = harness.best_per_call(forward, 2_000)
    costs["update_products_s"] = min(costs["update_products_s_1t"], costs["update_products_s_2t"])
    costs["forward_s"] = min(costs["forward_s_1t"], costs["forward_s_2t"])
    costs["products_per_update"] = sum(w for *_, w in prods)
    costs["gflop_per_update"] = sum(2 * m * k * n * w for m, k, n, w in prods) / 1e9
    return costs


def physical_limit(steps: int, runs: dict[str, list[dict[str, Any]]],
                   limits: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The ideal wall time (env steps, forwards and the update products alone) and what it
    means: the fastest ratio over SB3 any fp32 implementation could reach on this machine."""
    costs = {k: min(m[k] for m in limits) for k in ("env_step_s", "forward_s",
                                                    "update_products_s")}
    grad_steps = int(np.median([r["grad_steps"] for r in runs["nacre"]]))
    ideal = steps * (costs["env_step_s"] + costs["forward_s"]) \
        + grad_steps * costs["update_products_s"]
    walls = {lib: float(np.median([r["wall_s"] for r in rs])) for lib, rs in runs.items()}
    return {"formula": "ideal = steps x (env_step + forward) + grad_steps x update_products",
            "costs_s": costs, "grad_steps": grad_steps, "ideal_s": ideal, "wall_s_median": walls,
            "efficiency_nacre": ideal / walls["nacre"],
            "max_ratio_vs_sb3": walls["sb3"] / ideal,
            "measurements": list(limits)}


def main() -> None:
    parser = harness.benchmark_parser(__doc__, 5, 20_000, "2 seeds x 2k steps (smoke test)",
                                      HERE / "results")
    parser.add_argument("--algo", choices=("td3", "sac"), required=True)
    args = parser.parse_args()
    if args.worker:
        if args.worker == "sb3":
            write_json(args.out, worker_sb3(args.algo, args.seed, args.steps))
        elif args.worker == "limits":
            write_json(args.out, worker_limits(args.algo))
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
    with_limit = args.algo == "td3"
    with tempfile.TemporaryDirectory(prefix=f"{name}-bench-") as tmp_name:
        tmp = Path(tmp_name)
        limits = []
        if with_limit:
            harness.log("measuring the physical limit (env step, forward, update products) ...")
            limits.append(harness.spawn(__file__, "limits", tmp, "--algo", args.algo))
        runs = harness.run_alternating(__file__, tmp, seeds, args.steps, "--algo", args.algo)
        if with_limit:
            harness.log("measuring the physical limit again ...")
            limits.append(harness.spawn(__file__, "limits", tmp, "--algo", args.algo))
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
    if with_limit:
        report["physical_limit"] = physical_limit(args.steps, runs, limits)

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
            *limit_rows(rep),
            "",
            f"Reference (not measured here): {REFERENCES[args.algo]}.",
            "",
        ])

    def plot(rep: dict[str, Any], path: Path) -> None:
        harness.plot_side_by_side(rep, path, args.algo.upper(), THRESHOLD, env_id=ENV_ID,
                                  ylim=None)

    harness.write_report(report, name, args.quick, args.out_dir, markdown, plot,
                         REFERENCES[args.algo], started, t_start)


def limit_rows(rep: dict[str, Any]) -> list[str]:
    lim = rep.get("physical_limit")
    if lim is None:
        return []
    c, ms = lim["costs_s"], lim["measurements"][0]
    return [
        "",
        "**Distance to the physical limit** (costs measured before and after the runs, the "
        "faster of the two; each on the faster of 1 and 2 threads)",
        "",
        "| Work | Cost each | Count | Total |",
        "|---|---:|---:|---:|",
        f"| raw `env.step` | {c['env_step_s'] * 1e6:.1f} µs | {rep['config']['steps']:,} | "
        f"{c['env_step_s'] * rep['config']['steps']:.2f} s |",
        f"| actor forward, 1 obs | {c['forward_s'] * 1e6:.1f} µs | {rep['config']['steps']:,} | "
        f"{c['forward_s'] * rep['config']['steps']:.2f} s |",
        f"| matrix products of one update ({ms['products_per_update']:.1f} products, "
        f"{ms['gflop_per_update']:.2f} GFLOP; 1 thread {ms['update_products_s_1t'] * 1e3:.2f} ms, "
        f"2 threads {ms['update_products_s_2t'] * 1e3:.2f} ms) | "
        f"{c['update_products_s'] * 1e3:.2f} ms | {lim['grad_steps']:,} | "
        f"{c['update_products_s'] * lim['grad_steps']:.1f} s |",
        f"| **ideal** | | | **{lim['ideal_s']:.1f} s** |",
        f"| nacre wall (median) → ideal / wall | | | {lim['wall_s_median']['nacre']:.1f} s → "
        f"**{lim['efficiency_nacre']:.0%}** |",
        f"| SB3 wall (median) / ideal = the highest ratio any fp32 TD3 could reach here | | | "
        f"{lim['wall_s_median']['sb3']:.1f} s → **{lim['max_ratio_vs_sb3']:.2f}×** |",
    ]


if __name__ == "__main__":
    main()
