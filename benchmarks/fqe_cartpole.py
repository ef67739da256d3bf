"""Fitted Q Evaluation on CartPole-v1 logs against the policy's on-policy Monte-Carlo value.

Per seed: a DQN trained briefly with nacre (``cartpole-dqn``, ``--train-steps``, so its
greedy return is medium and varies between seeds) is the policy of interest. Its ε-greedy
version (``--behaviour-epsilon`` 0.3, propensities recorded) logs ``--episodes`` episodes of
Gymnasium's CartPole-v1; :func:`nacre.eval.fqe` then estimates, from those logs alone, the
value of the ``--target-epsilon``-greedy policy (0: the greedy one) at the logged initial
states, with γ = 0.99. The reference is the same policy's mean discounted return over
``--rollouts`` fresh on-policy episodes. A time-limit cut (500 steps) is not a termination:
FQE bootstraps there, and the Monte-Carlo return stops there (γ^500 ≈ 0.007 of the value).

For comparison, per-decision importance sampling (PDIS, WPDIS) from the same logs, with
``ratio = π_e(a|s) / π_b(a|s)``.

    python benchmarks/fqe_cartpole.py [--seeds 5] [--episodes 50] [--rollouts 200]

Writes benchmarks/results/fqe_cartpole.json and .md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import nacre
from nacre.eval import FQEConfig, bootstrap_sequential, fqe

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HERE, log, machine, versions, write_json  # noqa: E402

Greedy = Callable[[np.ndarray], np.ndarray]  # observations [B, 4] → greedy actions [B]


def probabilities(greedy: np.ndarray, epsilon: float) -> np.ndarray:
    """``[B, 2]`` action probabilities of the ε-greedy policy around ``greedy`` actions."""
    return np.full((len(greedy), 2), epsilon / 2) + (1 - epsilon) * np.eye(2)[greedy]


def log_episodes(greedy: Greedy, episodes: int, epsilon: float, seed: int) -> dict[str, Any]:
    """Transitions of ``episodes`` ε-greedy episodes, with the behaviour's propensities."""
    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(seed)
    rows: dict[str, list[Any]] = {k: [] for k in ("obs", "action", "reward", "next_obs",
                                                  "terminated", "propensity")}
    starts, returns = [], []
    for e in range(episodes):
        obs, _ = env.reset(seed=seed * 100_000 + e)
        starts.append(len(rows["obs"]))
        done, total = False, 0.0
        while not done:
            p = probabilities(greedy(obs[None]), epsilon)[0]
            action = int(rng.choice(2, p=p))
            next_obs, reward, terminated, truncated, _ = env.step(action)
            for key, value in zip(rows, (obs, action, reward, next_obs, terminated, p[action]),
                                  strict=True):
                rows[key].append(value)
            obs, done, total = next_obs, terminated or truncated, total + float(reward)
        returns.append(total)
    env.close()
    out = {k: np.asarray(v) for k, v in rows.items()}
    out["episode_starts"] = np.asarray(starts)
    out["returns"] = returns
    return out


def monte_carlo(greedy: Greedy, episodes: int, epsilon: float, gamma: float,
                seed: int) -> list[float]:
    """Discounted returns of ``episodes`` on-policy episodes of the ε-greedy policy."""
    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(seed)
    out = []
    for e in range(episodes):
        obs, _ = env.reset(seed=seed * 100_000 + e)
        done, ret, discount = False, 0.0, 1.0
        while not done:
            action = int(rng.choice(2, p=probabilities(greedy(obs[None]), epsilon)[0]))
            obs, reward, terminated, truncated, _ = env.step(action)
            ret, discount = ret + discount * float(reward), discount * gamma
            done = terminated or truncated
        out.append(ret)
    env.close()
    return out


def one_seed(seed: int, args: argparse.Namespace, cfg: FQEConfig) -> dict[str, Any]:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nacre-fqe-") as tmp:
        nacre.train("cartpole-dqn", steps=args.train_steps, seed=seed, out=Path(tmp) / "run",
                    progress=False)
        agent = nacre.load(Path(tmp) / "run")
    train_s = time.perf_counter() - t0

    def greedy(obs: np.ndarray) -> np.ndarray:
        return np.asarray(agent.predict(obs.astype(np.float32)), dtype=np.int64).reshape(-1)

    data = log_episodes(greedy, args.episodes, args.behaviour_epsilon, seed=1000 + seed)
    mc = monte_carlo(greedy, args.rollouts, args.target_epsilon, cfg.gamma, seed=2000 + seed)
    eps = args.target_epsilon
    next_target = probabilities(greedy(data["next_obs"]), eps)
    initial_obs = data["obs"][data["episode_starts"]]
    t1 = time.perf_counter()
    result = fqe(data["obs"], data["action"], data["reward"], data["next_obs"],
                 data["terminated"], next_target, initial_obs,
                 probabilities(greedy(initial_obs), eps), FQEConfig(**{**asdict(cfg),
                                                                        "seed": seed}))
    fqe_s = time.perf_counter() - t1
    ratio = probabilities(greedy(data["obs"]), eps)[np.arange(len(data["action"])),
                                                    data["action"]] / data["propensity"]
    truth = float(np.mean(mc))
    out = {"seed": seed, "train_s": train_s, "fqe_s": fqe_s,
           "logged_transitions": len(data["action"]),
           "behaviour_return_mean": float(np.mean(data["returns"])),
           "mc_value": truth, "mc_value_sem": float(np.std(mc) / np.sqrt(len(mc))),
           "fqe": result.estimate.to_dict(), "fqe_rel_error": (result.estimate.value - truth)
           / truth, "fqe_loss_last": result.losses[-1]}
    for name in ("pdis", "wpdis"):
        est = bootstrap_sequential(name, data["reward"], ratio, data["episode_starts"],  # type: ignore[arg-type]
                                   cfg.gamma, seed=seed)
        out[name] = est.to_dict()
        out[f"{name}_rel_error"] = (est.value - truth) / truth
    log(f"seed {seed}: MC {truth:.2f}, FQE {result.estimate.value:.2f} "
        f"({out['fqe_rel_error']:+.1%}), WPDIS {out['wpdis']['value']:.2f}; "
        f"{out['logged_transitions']} transitions, behaviour return "
        f"{out['behaviour_return_mean']:.0f}; train {train_s:.0f} s, FQE {fqe_s:.0f} s")
    return out


def markdown(rep: dict[str, Any]) -> str:
    lines = ["### FQE on CartPole-v1 logs vs the on-policy Monte-Carlo value", "",
             f"`{rep['command']}` · γ = {rep['fqe_config']['gamma']} · behaviour ε = "
             f"{rep['behaviour_epsilon']}, evaluated ε = {rep['target_epsilon']} · "
             f"{rep['episodes']} logged episodes, {rep['rollouts']} Monte-Carlo rollouts · "
             f"{rep['date']}", "",
             "| seed | transitions | MC value (± s.e.) | FQE | FQE rel. error | WPDIS | PDIS |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rep["runs"]:
        lines.append(f"| {r['seed']} | {r['logged_transitions']} | {r['mc_value']:.2f} ± "
                     f"{r['mc_value_sem']:.2f} | {r['fqe']['value']:.2f} | "
                     f"{r['fqe_rel_error']:+.1%} | {r['wpdis']['value']:.2f} | "
                     f"{r['pdis']['value']:.2f} |")
    s = rep["summary"]
    lines += ["", f"FQE |relative error|: mean {s['fqe_abs_rel_error_mean']:.1%}, max "
              f"{s['fqe_abs_rel_error_max']:.1%} (target ≤ 10 %: "
              f"{'met' if s['fqe_within_10pct_all'] else 'not met'} on every seed)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--train-steps", type=int, default=20_000)
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--rollouts", type=int, default=200)
    p.add_argument("--behaviour-epsilon", type=float, default=0.3)
    p.add_argument("--target-epsilon", type=float, default=0.0)
    p.add_argument("--fqe-steps", type=int, default=30_000)
    p.add_argument("--target-every", type=int, default=50)
    args = p.parse_args()
    t_start = time.perf_counter()
    cfg = FQEConfig(gamma=0.99, hidden=(64, 64), steps=args.fqe_steps,
                    target_every=args.target_every, batch_size=256, lr=1e-3)
    runs = [one_seed(seed, args, cfg) for seed in range(args.seeds)]
    errors = np.abs([r["fqe_rel_error"] for r in runs])
    report = {
        "benchmark": "fqe_cartpole",
        "command": " ".join(["python", "benchmarks/fqe_cartpole.py", *sys.argv[1:]]),
        "seeds": list(range(args.seeds)), "train_steps": args.train_steps,
        "episodes": args.episodes, "rollouts": args.rollouts,
        "behaviour_epsilon": args.behaviour_epsilon, "target_epsilon": args.target_epsilon,
        "fqe_config": asdict(cfg), "runs": runs,
        "summary": {"fqe_rel_error_per_seed": [r["fqe_rel_error"] for r in runs],
                    "fqe_abs_rel_error_mean": float(errors.mean()),
                    "fqe_abs_rel_error_max": float(errors.max()),
                    "fqe_within_10pct_all": bool((errors <= 0.10).all()),
                    "wpdis_rel_error_per_seed": [r["wpdis_rel_error"] for r in runs],
                    "pdis_rel_error_per_seed": [r["pdis_rel_error"] for r in runs]},
        "machine": machine(), "versions": versions(("nacre", "torch", "gymnasium", "numpy")),
        "date": time.strftime("%Y-%m-%d"), "duration_s": time.perf_counter() - t_start,
    }
    out = HERE / "results" / "fqe_cartpole"
    write_json(out.with_suffix(".json"), report)
    table = markdown(report)
    out.with_suffix(".md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
