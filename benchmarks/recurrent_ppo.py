"""Recurrent PPO on partially observed CartPole: nacre vs sb3-contrib RecurrentPPO, side by side.

Usage::

    python benchmarks/recurrent_ppo.py              # 5 seeds x 100k steps (~25 min on 2 cores)
    python benchmarks/recurrent_ppo.py --quick      # 2 seeds x 10k steps

Issue #13's acceptance: "Recurrent PPO vs sb3-contrib RecurrentPPO on PO-CartPole at the same
hyper-parameters, side by side in one run: env-steps/s ≥ 2× and final return not worse (CI
overlap at least)". The task is ``nacre/CartPole-PO-v0`` (cart position and pole angle only) for
both. The hyper-parameters are RL-Zoo's CartPoleNoVel-v1 for RecurrentPPO (8 envs × 32 steps,
batch 256, 20 epochs, GAE 0.8, γ 0.98, lr 1e-3 and clip 0.2 decayed linearly, no entropy
bonus) with the network of the ``cartpole-po-recurrent-ppo`` preset on both sides: one LSTM of
64 units shared by policy and value (sb3-contrib: ``shared_lstm=True,
enable_critic_lstm=False``), then one ReLU layer of 64 for each head, observations normalized
by running statistics (nacre ``env.normalize.obs``, SB3 ``VecNormalize(norm_reward=False)``).
One difference remains: sb3-contrib's shared LSTM is trained by the policy loss only (it
detaches the value head's input), nacre's by both losses.

Runs alternate nacre / SB3 per seed, each in a fresh process (``harness.run_alternating``);
throughput is the whole training call; the final return is 10 deterministic episodes after
training. Results: ``benchmarks/results/recurrent_ppo.{json,md,png}``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import write_json  # noqa: E402

from nacre.eval.stats import summarize_returns  # noqa: E402

NAME = "recurrent_ppo"
ENV_ID = "nacre/CartPole-PO-v0"
PRESET = "cartpole-po-recurrent-ppo"
THRESHOLD = 475.0
EVAL_EPISODES = 10
HERE = Path(__file__).resolve().parent
HPARAMS: dict[str, Any] = {"n_envs": 8, "n_steps": 32, "batch_size": 256, "gae_lambda": 0.8,
                           "gamma": 0.98, "n_epochs": 20, "ent_coef": 0.0,
                           "learning_rate": 1e-3, "clip_range": 0.2, "vf_coef": 0.5,
                           "max_grad_norm": 0.5, "lstm_hidden": 64, "net_arch": [64]}
REFERENCES = [{"what": "sb3-contrib RecurrentPPO, CartPoleNoVel-v1 (RL-Zoo hyper-parameters)",
               "value": "hyperparams/ppo_lstm.yml", "source": "DLR-RM/rl-baselines3-zoo"}]


def worker_nacre(seed: int, steps: int) -> dict[str, Any]:
    import nacre

    cfg = nacre.load_preset(PRESET)
    p, tr = cfg.learner.params, cfg.train
    got = {"n_envs": cfg.env.num_envs, "n_steps": tr.train_freq // cfg.env.num_envs,
           "batch_size": tr.batch_size, "gae_lambda": p.gae_lambda, "gamma": p.gamma,
           "n_epochs": p.epochs, "ent_coef": p.entropy_coef, "learning_rate": p.lr,
           "clip_range": p.clip, "vf_coef": p.value_coef, "max_grad_norm": p.max_grad_norm,
           "lstm_hidden": cfg.history.params.hidden, "net_arch": list(cfg.network.params.hidden)}
    if got != HPARAMS:
        raise SystemExit(f"preset {PRESET} drifted from the hyper-parameters SB3 gets: {got}")
    return harness.nacre_run(PRESET, seed, steps, THRESHOLD, EVAL_EPISODES)


def worker_sb3(seed: int, steps: int) -> dict[str, Any]:
    """sb3-contrib RecurrentPPO with the same hyper-parameters and network."""
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize
    from torch import nn

    import nacre  # noqa: F401  (registers nacre/CartPole-PO-v0)

    h = HPARAMS
    lr, clip = h["learning_rate"], h["clip_range"]

    def make() -> Any:
        env = VecNormalize(make_vec_env(ENV_ID, n_envs=h["n_envs"], seed=seed),
                           norm_reward=False)
        return RecurrentPPO(
            "MlpLstmPolicy", env, n_steps=h["n_steps"], batch_size=h["batch_size"],
            gae_lambda=h["gae_lambda"], gamma=h["gamma"], n_epochs=h["n_epochs"],
            ent_coef=h["ent_coef"], learning_rate=lambda remaining: lr * remaining,
            clip_range=lambda remaining: clip * remaining, vf_coef=h["vf_coef"],
            max_grad_norm=h["max_grad_norm"], seed=seed, device="cpu", verbose=0,
            policy_kwargs={"lstm_hidden_size": h["lstm_hidden"], "shared_lstm": True,
                           "enable_critic_lstm": False, "activation_fn": nn.ReLU,
                           "net_arch": {"pi": h["net_arch"], "vf": h["net_arch"]}})

    def wrap_eval(eval_env: Any, model: Any) -> Any:
        wrapped = VecNormalize(eval_env, training=False, norm_reward=False)
        wrapped.obs_rms = model.get_env().obs_rms
        return wrapped

    return harness.sb3_run(make, ENV_ID, seed, steps, EVAL_EPISODES,
                           "make_vec_env + VecNormalize + RecurrentPPO(...)", wrap_eval)


def markdown(rep: dict[str, Any]) -> str:
    tp, ret, ver = rep["throughput"], rep["returns"], rep["versions"]
    n = len(rep["config"]["seeds"])

    def ci(lib: str) -> str:
        lo, hi = ret[lib]["iqm_ci95"]
        return f"{ret[lib]['iqm']:.1f} [{lo:.1f}, {hi:.1f}]"

    mode = " QUICK SMOKE TEST, not a result." if rep["config"]["quick"] else ""
    return "\n".join([
        "### Recurrent PPO on partially observed CartPole: nacre vs sb3-contrib RecurrentPPO",
        "",
        f"RL-Zoo's CartPoleNoVel-v1 hyper-parameters and the same network for both (shared LSTM "
        f"of 64, one ReLU layer of 64 per head, normalized observations), "
        f"{rep['config']['steps']:,} env steps, {n} seeds, alternating per seed in fresh "
        f"processes; torch {ver['torch']}, SB3 {ver['stable-baselines3']}, sb3-contrib "
        f"{ver.get('sb3-contrib', '?')}. `{rep['command']}`, {rep['started_utc'][:10]}.{mode}",
        "",
        "| | nacre | sb3-contrib | nacre / sb3-contrib |",
        "|---|---:|---:|---:|",
        f"| env-steps/s, median (whole training call) | {tp['nacre']['median']:,.0f} | "
        f"{tp['sb3']['median']:,.0f} | **{tp['ratio_median']:.2f}×** ({tp['ratio_min']:.2f}–"
        f"{tp['ratio_max']:.2f}) |",
        f"| env-steps/s, learning only | {tp['nacre']['learning_only_median']:,.0f} | "
        f"{tp['sb3']['learning_only_median']:,.0f} | {tp['learning_only_ratio_median']:.2f}× |",
        f"| final return, IQM [95% CI] | {ci('nacre')} | {ci('sb3')} | |",
        f"| final return per seed | {', '.join(f'{r:.1f}' for r in ret['nacre']['returns'])} "
        f"| {', '.join(f'{r:.1f}' for r in ret['sb3']['returns'])} | |",
        "",
    ])


def main() -> None:
    parser = harness.benchmark_parser(__doc__, 5, 100_000, "2 seeds x 10k steps",
                                      HERE / "results")
    args = parser.parse_args()
    if args.worker:
        worker = worker_nacre if args.worker == "nacre" else worker_sb3
        write_json(args.out, worker(args.seed, args.steps))
        return
    if args.quick:
        args.seeds, args.steps = min(args.seeds, 2), min(args.steps, 10_000)
    seeds = list(range(args.seeds))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="recurrent-ppo-bench-") as tmp:
        runs = harness.run_alternating(__file__, Path(tmp), seeds, args.steps,
                                       libraries=("nacre", "sb3"))
    report = {
        "config": {"env_id": ENV_ID, "nacre_preset": PRESET, "steps": args.steps,
                   "seeds": seeds, "quick": args.quick, "hyperparameters": HPARAMS,
                   "eval_episodes": EVAL_EPISODES, "threshold": THRESHOLD},
        "runs": runs,
        "throughput": harness.throughput(runs, "env_steps / wall_s of the whole training "
                                         "call (nacre: nacre.train with its periodic "
                                         "evaluations; SB3: building the model + learn)"),
        "returns": {lib: {**summarize_returns([r["final_eval_return"] for r in rs],
                                              threshold=THRESHOLD),
                          "returns": [r["final_eval_return"] for r in rs]}
                    for lib, rs in runs.items()},
        "contention": harness.contention(runs),
    }

    def plot(rep: dict[str, Any], path: Path) -> None:
        harness.plot_side_by_side(rep, path, "recurrent PPO", THRESHOLD, ENV_ID)

    harness.write_report(report, NAME, args.quick, args.out_dir, markdown, plot, REFERENCES,
                         started, t_start)
    print(f"median env-steps/s ratio {np.median(report['throughput']['ratio_per_seed']):.2f}")


if __name__ == "__main__":
    main()
