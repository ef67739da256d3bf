"""PPO on CartPole-v1: nacre vs Stable-Baselines3, side by side, plus the physical limit.

Usage::

    python benchmarks/ppo_cartpole.py                 # 5 seeds x 50k steps (~2 min on 2 cores)
    python benchmarks/ppo_cartpole.py --seeds 10
    python benchmarks/ppo_cartpole.py --quick         # 2 seeds x 10k steps

Follows ../shared/BENCHMARKS.md like ``dqn_cartpole.py``: RL-Zoo hyper-parameters for both
libraries (8 envs, n_steps 32, batch 256, 20 epochs, GAE 0.8, γ 0.98, lr 1e-3 and clip 0.2
decayed linearly, no entropy bonus, 64-64 tanh actor and critic), runs alternating per seed in
fresh subprocesses, ratios per seed pair, returns with IQM and stratified-bootstrap CIs, and
the physical limit (raw env steps + one batched forward pass per vector step + the minibatch
updates) measured in the same invocation. Results: ``benchmarks/results/ppo_cartpole.*``.
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
from harness import best_per_call, log, write_json  # noqa: E402

from nacre.eval.stats import summarize_returns  # noqa: E402

NAME = "ppo_cartpole"
ENV_ID = "CartPole-v1"
PRESET = "cartpole-ppo"
THRESHOLD = 475.0
EVAL_EPISODES = 10
HERE = Path(__file__).resolve().parent

# rl-baselines3-zoo hyperparams/ppo.yml, CartPole-v1, plus SB3's PPO defaults it relies on.
HPARAMS: dict[str, Any] = {
    "n_envs": 8,
    "n_steps": 32,
    "batch_size": 256,
    "gae_lambda": 0.8,
    "gamma": 0.98,
    "n_epochs": 20,
    "ent_coef": 0.0,
    "learning_rate": 1e-3,  # lin_1e-3: decays linearly to 0 over the run
    "clip_range": 0.2,  # lin_0.2
    "vf_coef": 0.5,
    "max_grad_norm": 0.5,
    "net_arch": [64, 64],  # separate actor and critic, tanh (SB3 MlpPolicy default)
}

REFERENCES = [
    {
        "what": "SB3 PPO CartPole-v1 final return (RL-Zoo hyper-parameters, 100k steps)",
        "value": "500.0 ± 0.0",
        "source": "DLR-RM/rl-baselines3-zoo, benchmark.md",
    },
    {
        "what": "SB3 PPO CartPole-v1 throughput (RL-Zoo params, 8 envs, 50k steps), 2-core machine",
        "value": "≈ 6,700 env-steps/s",
        "source": "BENCHMARKS.md, reference points (an earlier measurement, not this run)",
    },
    {
        "what": "Pearl PPO CartPole-v1 throughput, 50k steps",
        "value": "≈ 2,450 env-steps/s",
        "source": "BENCHMARKS.md, reference points (not measured here)",
    },
]


# ============================================================================ workers
def worker_nacre(seed: int, steps: int, overrides: Sequence[str] = ()) -> dict[str, Any]:
    import nacre

    check_nacre_hparams(nacre.load_preset(PRESET))
    return harness.nacre_run(PRESET, seed, steps, THRESHOLD, EVAL_EPISODES, overrides)


def check_nacre_hparams(cfg: Any) -> None:
    """Refuse to run if the preset drifted away from the RL-Zoo hyper-parameters SB3 gets."""
    p, net, tr = cfg.learner.params, cfg.network.params, cfg.train
    got = {
        "n_envs": cfg.env.num_envs, "n_steps": tr.train_freq // cfg.env.num_envs,
        "batch_size": tr.batch_size, "gae_lambda": p.gae_lambda, "gamma": p.gamma,
        "n_epochs": p.epochs, "ent_coef": p.entropy_coef, "learning_rate": p.lr,
        "clip_range": p.clip, "vf_coef": p.value_coef, "max_grad_norm": p.max_grad_norm,
        "net_arch": list(net.hidden),
    }
    bad = {k: (v, HPARAMS[k]) for k, v in got.items() if v != HPARAMS[k]}
    if (p.lr_schedule, p.clip_schedule, net.activation) != ("linear", "linear", "tanh"):
        bad["schedules/activation"] = ((p.lr_schedule, p.clip_schedule, net.activation),
                                       ("linear", "linear", "tanh"))
    if bad:
        raise SystemExit(f"preset {PRESET} differs from the RL-Zoo hyper-parameters: {bad}")


def worker_sb3(seed: int, steps: int) -> dict[str, Any]:
    """One SB3 PPO run with the RL-Zoo hyper-parameters, torch's default thread count."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    h = HPARAMS
    lr, clip = h["learning_rate"], h["clip_range"]

    def make() -> Any:
        return PPO(
            "MlpPolicy", make_vec_env(ENV_ID, n_envs=h["n_envs"], seed=seed),
            n_steps=h["n_steps"], batch_size=h["batch_size"], gae_lambda=h["gae_lambda"],
            gamma=h["gamma"], n_epochs=h["n_epochs"], ent_coef=h["ent_coef"],
            learning_rate=lambda remaining: lr * remaining,
            clip_range=lambda remaining: clip * remaining, vf_coef=h["vf_coef"],
            max_grad_norm=h["max_grad_norm"], seed=seed, device="cpu", verbose=0,
        )

    return harness.sb3_run(make, ENV_ID, seed, steps, EVAL_EPISODES,
                           "make_vec_env + PPO(...)")


def worker_limits(quick: bool) -> dict[str, Any]:
    """Raw costs of the work PPO cannot avoid: env steps, one batched forward pass per vector
    step, and the minibatch updates."""
    import gymnasium as gym
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_flush_denormal(True)
    torch.set_num_threads(1)
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    n_env = 50_000 if quick else 200_000
    actions = [int(a) for a in rng.integers(0, 2, size=n_env)]

    def run_env(acts: list[int]) -> float:
        t0 = time.perf_counter()
        for a in acts:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
        return (time.perf_counter() - t0) / len(acts)

    run_env(actions[:5000])
    chunk = n_env // 5
    env_step = min(run_env(actions[i * chunk:(i + 1) * chunk]) for i in range(5))

    def mlp(out: int) -> nn.Sequential:
        return nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(),
                             nn.Linear(64, out))

    torch.manual_seed(0)
    actor, critic = mlp(2), mlp(1)
    x8 = torch.randn(HPARAMS["n_envs"], 4)
    n_fwd = 5_000 if quick else 20_000
    linears = [m for m in actor if isinstance(m, nn.Linear)]

    def functional() -> torch.Tensor:
        h = x8
        for i, lin in enumerate(linears):
            h = F.linear(h, lin.weight, lin.bias)
            if i < 2:
                h = torch.tanh(h)
        return h

    with torch.inference_mode():  # the act path: logits for the 8 observations of a step
        forward = min(best_per_call(lambda: actor(x8), n_fwd), best_per_call(functional, n_fwd))

    b = HPARAMS["batch_size"]
    obs, act = torch.randn(b, 4), torch.randint(0, 2, (b,))
    old_lp, adv, ret = torch.randn(b) - 0.7, torch.randn(b), torch.randn(b)
    params = [*actor.parameters(), *critic.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3, eps=1e-5, fused=True)
    clip, vf, max_norm = HPARAMS["clip_range"], HPARAMS["vf_coef"], HPARAMS["max_grad_norm"]

    def update() -> None:  # plain torch, as a user would write it
        log_p = torch.log_softmax(actor(obs), dim=1).gather(1, act[:, None]).squeeze(1)
        ratio = torch.exp(log_p - old_lp)
        policy = -torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv).mean()
        loss = policy + vf * F.mse_loss(critic(obs).squeeze(1), ret)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(params, max_norm)
        opt.step()

    # By hand: the gradient of the PPO loss w.r.t. logits and value written out, the backward
    # pass through the tanh MLPs as matrix products, all parameters in one flat buffer updated by
    # one fused Adam kernel with clipping and the 1/batch folded into its grad_scale.
    sizes = [p.numel() for p in params]
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    views = [v.view_as(p) for v, p in zip(torch.split(flat, sizes), params, strict=True)]
    flat_grad = torch.zeros_like(flat)
    grads = [v.view_as(p) for v, p in zip(torch.split(flat_grad, sizes), params, strict=True)]
    m, v2, step, scale = torch.zeros_like(flat), torch.zeros_like(flat), torch.zeros(()), \
        torch.ones(())
    one_hot = torch.zeros(b, 2).scatter_(1, act[:, None], 1.0)

    def tanh_mlp(ws: list[torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, list[Any]]:
        acts = [x]
        for i in range(3):
            x = torch.addmm(ws[2 * i + 1], x, ws[2 * i].t())
            if i < 2:
                x = torch.sigmoid(x * 2).mul_(2).sub_(1)  # tanh, the faster way on CPU
                acts.append(x)
        return x, acts

    def backward(ws: list[torch.Tensor], gs: list[torch.Tensor], acts: list[Any],
                 dh: torch.Tensor) -> None:
        for i in range(2, -1, -1):
            torch.mm(dh.t(), acts[i], out=gs[2 * i])
            torch.sum(dh, 0, out=gs[2 * i + 1])
            if i:
                dh = torch.mm(dh, ws[2 * i])
                dh = torch.addcmul(dh, dh * acts[i], acts[i], value=-1.0)

    @torch.no_grad()
    def update_by_hand() -> None:
        logits, a_acts = tanh_mlp(views[:6], obs)
        value, c_acts = tanh_mlp(views[6:], obs)
        log_p = torch.log_softmax(logits, dim=1)
        p = log_p.exp()
        ratio = torch.exp(log_p.gather(1, act[:, None]).squeeze(1) - old_lp)
        unclipped, clipped = ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv
        d_lp = torch.where(unclipped <= clipped, -unclipped, 0.0)[:, None]
        backward(views[:6], grads[:6], a_acts, d_lp * (one_hot - p))
        backward(views[6:], grads[6:], c_acts, (value.squeeze(1) - ret)[:, None] * (2 * vf))
        norm = float(torch.linalg.vector_norm(flat_grad)) / b
        scale.fill_(b * max((norm + 1e-6) / max_norm, 1.0))
        step.add_(1)
        torch._fused_adam_([flat], [flat_grad], [m], [v2], [], [step], lr=1e-3, beta1=0.9,
                           beta2=0.999, weight_decay=0.0, eps=1e-5, amsgrad=False,
                           maximize=False, grad_scale=scale, found_inf=None)

    n_upd = 100 if quick else 300
    costs: dict[str, float] = {}
    for _ in range(2 if quick else 4):  # short alternating blocks: the machine is bursty
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for key, fn in ((str(threads), update), (f"{threads}_by_hand", update_by_hand)):
                cost = best_per_call(fn, n_upd, blocks=5, warmup=20)
                costs[key] = min(costs.get(key, float("inf")), cost)
    torch.set_num_threads(1)
    return {
        "env_step_s": env_step,
        "forward_s": forward,
        "update_s": min(costs.values()),
        "update_s_by_threads": costs,
        "method": "env: gym.make(CartPole-v1).step, random actions, reset on done, fastest of "
        f"5 blocks of {chunk}; forward: 4-64-64-2 tanh actor on 8 observations, "
        f"inference_mode, 1 thread, module call or F.linear chain, fastest of 5 blocks of "
        f"{n_fwd}; update: one PPO minibatch "
        "step at batch 256 (clipped surrogate + value loss, clip_grad_norm 0.5, Adam) on "
        "separate 64-64 tanh actor and critic, plain torch and by hand, 1 and 2 threads, "
        f"fastest of 4 x 5 alternating blocks of {n_upd}",
    }


def run_worker(args: argparse.Namespace) -> None:
    kinds = {"nacre": lambda: worker_nacre(args.seed, args.steps),
             "nacre-off": lambda: worker_nacre(args.seed, args.steps, harness.OFF),
             "sb3": lambda: worker_sb3(args.seed, args.steps),
             "limits": lambda: worker_limits(args.quick)}
    if args.worker not in kinds:
        raise SystemExit(f"unknown worker {args.worker!r}")
    write_json(args.out, kinds[args.worker]())


# ============================================================================ orchestration
def spawn(kind: str, tmp: Path, *extra: str) -> dict[str, Any]:
    return harness.spawn(__file__, kind, tmp, *extra)


def orchestrate(args: argparse.Namespace) -> None:
    seeds = list(range(args.seeds))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ppo-cartpole-bench-") as tmp_name:
        tmp = Path(tmp_name)
        quick = ["--quick"] if args.quick else []
        log("measuring the physical limit (env step, forward, update) ...")
        limits_before = spawn("limits", tmp, *quick)
        runs = harness.run_alternating(__file__, tmp, seeds, args.steps)
        log("measuring the physical limit again ...")
        limits_after = spawn("limits", tmp, *quick)
    report = aggregate(args, seeds, runs, limits_before, limits_after)

    def plot(rep: dict[str, Any], path: Path) -> None:
        harness.plot_side_by_side(rep, path, "PPO", THRESHOLD)

    harness.write_report(report, NAME, args.quick, args.out_dir, markdown, plot, REFERENCES,
                         started, t_start)


def aggregate(args: argparse.Namespace, seeds: list[int], runs: dict[str, list[dict[str, Any]]],
              limits_before: dict[str, Any], limits_after: dict[str, Any]) -> dict[str, Any]:
    nacre_runs, sb3_runs = runs["nacre"], runs["sb3"]
    throughput = harness.throughput(
        runs, "env_steps / wall_s of the whole training call (nacre: nacre.train, incl. its "
        "periodic evaluations, checkpoint and plot; SB3: make_vec_env + PPO(...) + learn)")
    returns = {lib: summarize_returns([r["final_eval_return"] for r in rs], threshold=THRESHOLD)
               for lib, rs in runs.items()}
    costs = {k: min(limits_before[k], limits_after[k])
             for k in ("env_step_s", "forward_s", "update_s")}
    updates = int(np.median([r["grad_steps"] for r in nacre_runs]))
    act_calls = args.steps // HPARAMS["n_envs"]
    ideal = (args.steps * costs["env_step_s"] + act_calls * costs["forward_s"]
             + updates * costs["update_s"])
    nacre_wall = float(np.median([r["wall_s"] for r in nacre_runs]))
    sb3_wall = float(np.median([r["wall_s"] for r in sb3_runs]))
    return {
        "config": {"env_id": ENV_ID, "nacre_preset": PRESET, "steps": args.steps,
                   "seeds": seeds, "quick": args.quick, "hyperparameters": HPARAMS,
                   "eval_episodes": EVAL_EPISODES, "threshold": THRESHOLD},
        "runs": runs,
        "throughput": throughput,
        "returns": returns,
        "time_to_threshold_nacre": harness.time_to_threshold(nacre_runs),
        "physical_limit": {
            "formula": "ideal = steps x env_step + steps / n_envs x forward + updates x update",
            "costs_s": costs, "env_steps": args.steps, "act_calls": act_calls,
            "updates": updates, "ideal_s": ideal,
            "measurements": {"before": limits_before, "after": limits_after},
            "nacre_wall_s_median": nacre_wall, "efficiency_nacre": ideal / nacre_wall,
            "sb3_wall_s_median": sb3_wall, "ideal_over_sb3_wall": ideal / sb3_wall,
            "limit_ratio_over_sb3": sb3_wall / ideal,
        },
        "contention": harness.contention(runs),
    }


def markdown(rep: dict[str, Any]) -> str:
    cfg, tp, ret, lim = rep["config"], rep["throughput"], rep["returns"], rep["physical_limit"]
    runs, ver, mach = rep["runs"], rep["versions"], rep["machine"]
    n = len(cfg["seeds"])

    def med(lib: str, key: str) -> float:
        return float(np.median([r[key] for r in runs[lib]]))

    def ci(summary: dict[str, Any], key: str) -> str:
        lo, hi = summary[f"{key}_ci95"]
        return f"{summary[key]:.1f} [{lo:.1f}, {hi:.1f}]"

    frac = {lib: f"{round(ret[lib]['fraction_ge_threshold'] * n)}/{n}" for lib in ret}
    ttt = rep["time_to_threshold_nacre"]
    ttt_s = (f"{ttt['env_steps_median']:,.0f} steps / {ttt['wall_s_median']:.1f} s "
             f"({ttt['reached']}/{ttt['of']} seeds)" if ttt["reached"] else "not reached")
    c = lim["costs_s"]
    by_t = lim["measurements"]["before"]["update_s_by_threads"]
    mode = " QUICK SMOKE TEST, not a result." if cfg["quick"] else ""
    lines = [
        "### PPO on CartPole-v1: nacre vs Stable-Baselines3",
        "",
        f"RL-Zoo hyper-parameters for both (8 envs, n_steps 32, batch 256, 20 epochs, GAE 0.8, "
        f"γ 0.98, lr 1e-3 and clip 0.2 decayed linearly, 64-64 tanh), {cfg['steps']:,} env "
        f"steps, {n} seeds, runs alternating nacre/SB3 per seed, each in a fresh process. "
        f"Machine: {mach['cpu_model']}, {mach['cpu_count']} cores; Python {ver['python']}, "
        f"torch {ver['torch']}, SB3 {ver['stable-baselines3']}, gymnasium {ver['gymnasium']}, "
        f"nacre {ver['nacre']} ({ver.get('nacre_git', '?')}). `{rep['command']}`, "
        f"{rep['started_utc'][:10]}.{mode}",
        "",
        "| | nacre | SB3 | nacre / SB3 | Reference (not measured here) |",
        "|---|---:|---:|---:|---|",
        f"| env-steps/s, median (whole training call) | {tp['nacre']['median']:,.0f} | "
        f"{tp['sb3']['median']:,.0f} | **{tp['ratio_median']:.2f}×** (median of {n} per-seed "
        f"ratios; {tp['ratio_min']:.2f}–{tp['ratio_max']:.2f}) | SB3 ≈ 6,700; Pearl ≈ 2,450 "
        "(BENCHMARKS.md) |",
        f"| env-steps/s, learning only (nacre loop − evals; SB3 `learn`) | "
        f"{tp['nacre']['learning_only_median']:,.0f} | {tp['sb3']['learning_only_median']:,.0f} "
        f"| {tp['learning_only_ratio_median']:.2f}× | |",
        f"| wall time per run, median | {med('nacre', 'wall_s'):.1f} s | "
        f"{med('sb3', 'wall_s'):.1f} s | | |",
        f"| final return, mean [95% CI] | {ci(ret['nacre'], 'mean')} | {ci(ret['sb3'], 'mean')} "
        "| | 500.0 ± 0.0 (RL Zoo benchmark.md, 100k steps) |",
        f"| final return, IQM [95% CI] | {ci(ret['nacre'], 'iqm')} | {ci(ret['sb3'], 'iqm')} | | |",
        f"| seeds with final return ≥ 475 | {frac['nacre']} | {frac['sb3']} | | |",
        f"| time to 475 (eval every 10000 steps) | {ttt_s} | not measured | | |",
        f"| env steps / minibatch updates | {med('nacre', 'env_steps'):,.0f} / "
        f"{med('nacre', 'grad_steps'):,.0f} | {med('sb3', 'env_steps'):,.0f} / "
        f"{med('sb3', 'grad_steps'):,.0f} | | |",
        f"| peak RSS, median | {med('nacre', 'peak_rss_mib'):.0f} MiB | "
        f"{med('sb3', 'peak_rss_mib'):.0f} MiB | | |",
        "",
        "Final return: mean of 10 greedy episodes after training (nacre: `exploit=True`; SB3: "
        "`evaluate_policy(deterministic=True)`). nacre's wall time includes its periodic "
        "evaluations (5 × 10 episodes), checkpoint and plot; SB3's includes no evaluation.",
        "",
        "**Distance to the physical limit** (costs measured in the same invocation, best of two)",
        "",
        "| Work | Cost each | Count | Total |",
        "|---|---:|---:|---:|",
        f"| raw `env.step` (CartPole-v1) | {c['env_step_s'] * 1e6:.1f} µs | "
        f"{lim['env_steps']:,} | {lim['env_steps'] * c['env_step_s']:.2f} s |",
        f"| actor forward, 8 obs, 1 thread | {c['forward_s'] * 1e6:.1f} µs | "
        f"{lim['act_calls']:,} | {lim['act_calls'] * c['forward_s']:.2f} s |",
        "| PPO minibatch update, batch 256: fastest of plain torch (1 thread "
        f"{by_t['1'] * 1e6:.0f} µs, 2 threads {by_t['2'] * 1e6:.0f} µs) and by hand (1 thread "
        f"{by_t['1_by_hand'] * 1e6:.0f} µs, 2 threads {by_t['2_by_hand'] * 1e6:.0f} µs) | "
        f"{c['update_s'] * 1e6:.0f} µs | {lim['updates']:,} | "
        f"{lim['updates'] * c['update_s']:.2f} s |",
        f"| **ideal** | | | **{lim['ideal_s']:.2f} s** |",
        f"| nacre wall (median) → efficiency = ideal / wall | | | "
        f"{lim['nacre_wall_s_median']:.2f} s → **{lim['efficiency_nacre']:.0%}** |",
        f"| SB3 wall (median) → ideal / wall | | | {lim['sb3_wall_s_median']:.2f} s → "
        f"{lim['ideal_over_sb3_wall']:.0%} (the limit is {lim['limit_ratio_over_sb3']:.1f}× "
        "SB3) |",
        "",
    ]
    lines += harness.readability_rows(rep)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (default 5)")
    parser.add_argument("--steps", type=int, default=50_000, help="env steps per run")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 2 seeds x 10k steps, shorter micro-benchmarks")
    parser.add_argument("--out-dir", default=str(HERE / "results"), help="where results go")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args)
        return
    if args.quick:
        args.seeds, args.steps = min(args.seeds, 2), min(args.steps, 10_000)
    orchestrate(args)


if __name__ == "__main__":
    main()
