"""Learning over dynamic candidate sets on the simulated recommender (issue #15's acceptance: "on
the recommender env, two-tower DQN and masked PPO beat a random and a most-popular policy by a
clear margin (CI-separated), and a sequential learner beats a myopic bandit where the env has
user state").

`nacre/Recommender-v0` (10,000 items, slates of 20, users whose boredom makes them leave). Per
seed, three learners train from their presets, each from YAML alone:

- ``two-tower DQN`` — `recsys-two-tower-dqn` (Double DQN, γ = 0.9, 60k steps);
- ``masked PPO`` — `recsys-masked-ppo` (two-tower candidate actor, γ = 0.9, 8 envs, 100k steps);
- ``myopic bandit`` — `recsys-neural-linucb`'s learner (neural LinUCB, which maximises the
  click of each step) trained on the same sequential env for 30k steps.

Every final policy (greedy) and two fixed policies — ``random`` (a uniformly random slot) and
``most popular`` (the slot whose item has the highest logged click rate) — then serve the same
200 users (episodes from reset seeds 10,000 … 10,199). A policy's score on a seed is its mean
return over those users; reported per policy are the IQM and mean over seeds with 95%
stratified-bootstrap CIs (the fixed policies are scored on 5 disjoint user sets instead of
training seeds). Also reported, as reference points that read the hidden user: the myopic
oracle (highest click probability now) and the fatigue-aware oracle.

    python benchmarks/recsys_learning.py [--seeds 5] [--users 200]

Writes benchmarks/results/recsys_learning.json, .md and .png (``--figure-only`` redraws it).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import nacre
from nacre.envs.recsys import (
    RecommenderEnv,
    fatigue_aware_policy,
    most_popular_policy,
    myopic_oracle_policy,
    random_policy,
)
from nacre.eval.stats import summarize_returns

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HERE, log, machine, versions, write_json  # noqa: E402

LEARNERS: dict[str, tuple[str, int, list[str]]] = {
    "two-tower DQN": ("recsys-two-tower-dqn", 60_000, []),
    "masked PPO": ("recsys-masked-ppo", 100_000, []),
    "myopic bandit": ("recsys-neural-linucb", 30_000, [
        "env.id=nacre/Recommender-v0", "train.eval_every=10000", "train.eval_episodes=50",
        "train.log_every=5000"]),
}
FIXED = ("random", "most popular", "myopic oracle (hidden user)",
         "fatigue-aware oracle (hidden user)")
USER_SEED = 10_000


def serve_agent(agent: nacre.Agent, users: range) -> list[float]:
    """Greedy returns of ``agent`` for each user (episode from reset seed ``u``)."""
    env = nacre.make_env("nacre/Recommender-v0")
    returns = nacre.evaluate(agent, env, len(users), seed=users.start)
    env.close()
    return returns


Policy = Callable[[RecommenderEnv, dict[str, Any]], int]


def serve_fixed(name: str, users: range) -> list[float]:
    env = RecommenderEnv()
    rng = np.random.default_rng(0)
    policy: Policy = {
        "random": lambda e, info: random_policy(info, rng),
        "most popular": most_popular_policy,
        "myopic oracle (hidden user)": myopic_oracle_policy,
        "fatigue-aware oracle (hidden user)": fatigue_aware_policy,
    }[name]
    returns = []
    for u in users:
        _, info = env.reset(seed=u)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, info = env.step(policy(env, info))
            total, done = total + reward, terminated or truncated
        returns.append(total)
    return returns


def train(name: str, seed: int, users: range) -> dict[str, Any]:
    preset, steps, overrides = LEARNERS[name]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = nacre.train(preset, steps=steps, seed=seed, out=Path(tmp) / "run",
                             progress=False, overrides=overrides)
        curve = [json.loads(line) for line in
                 (Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()]
    returns = serve_agent(result.agent, users)
    return {"learner": name, "seed": seed, "steps": steps, "wall_s": time.perf_counter() - t0,
            "score": float(np.mean(returns)), "returns": returns,
            "eval_curve": [(r["env_steps"], r["eval/return_mean"]) for r in curve
                           if "eval/return_mean" in r]}


def markdown(report: dict[str, Any]) -> str:
    lines = ["### Recommender: learners over per-step slates vs fixed policies", "",
             f"`{report['command']}` · {report['seeds']} seeds · {report['users']} users "
             f"served per seed · torch {report['versions']['torch']}, nacre "
             f"{report['versions']['nacre']} · {report['date']}", "",
             "| policy | trained for | IQM [95% CI] | mean [95% CI] | per seed |",
             "|---|---:|---|---|---|"]
    for name, stats in report["summary"].items():
        steps = f"{LEARNERS[name][1]:,} steps" if name in LEARNERS else "—"
        per = ", ".join(f"{s:.2f}" for s in report["scores"][name])
        lines.append(f"| {name} | {steps} | {stats['iqm']:.2f} [{stats['iqm_ci95'][0]:.2f}, "
                     f"{stats['iqm_ci95'][1]:.2f}] | {stats['mean']:.2f} "
                     f"[{stats['mean_ci95'][0]:.2f}, {stats['mean_ci95'][1]:.2f}] | {per} |")
    lines += ["", "Score: mean return (clicks per session) over the same users for every "
              "policy; the oracles read the hidden user and bound what is possible."]
    for claim, holds in report["checks"].items():
        lines.append(f"- {claim}: **{'yes' if holds else 'no'}**")
    return "\n".join(lines) + "\n"


def separated(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """``a``'s IQM CI lies wholly above ``b``'s."""
    return bool(a["iqm_ci95"][0] > b["iqm_ci95"][1])


def figure(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["summary"])
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for i, name in enumerate(names):
        s = report["summary"][name]
        ax.barh(i, s["iqm"], color="tab:blue" if name in LEARNERS else "tab:gray")
        ax.errorbar(s["iqm"], i, xerr=[[s["iqm"] - s["iqm_ci95"][0]],
                                      [s["iqm_ci95"][1] - s["iqm"]]], color="black", capsize=3)
        ax.scatter(report["scores"][name], [i] * len(report["scores"][name]), s=10,
                   color="black", zorder=3)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("clicks per session (IQM over seeds, 95% CI; dots: seeds)")
    ax.set_title("nacre/Recommender-v0: slates of 20 from 10,000 items", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--figure-only", action="store_true")
    args = p.parse_args()
    out = HERE / "results" / "recsys_learning"
    if args.figure_only:
        figure(json.loads(out.with_suffix(".json").read_text()), out.with_suffix(".png"))
        return
    users = range(USER_SEED, USER_SEED + args.users)
    runs = []
    for seed in range(args.seeds):
        for name in LEARNERS:
            runs.append(train(name, seed, users))
            log(f"{name} seed {seed}: {runs[-1]['score']:.2f} ({runs[-1]['wall_s']:.0f} s)")
    scores = {name: [r["score"] for r in runs if r["learner"] == name] for name in LEARNERS}
    for i, name in enumerate(FIXED):  # disjoint user sets stand in for seeds
        scores[name] = [float(np.mean(serve_fixed(name, range(
            USER_SEED + (s + 1) * 1000 * (i + 1), USER_SEED + (s + 1) * 1000 * (i + 1)
            + args.users)))) for s in range(args.seeds)]
        log(f"{name}: {np.mean(scores[name]):.2f}")
    summary = {name: summarize_returns(values) for name, values in scores.items()}
    checks = {
        "two-tower DQN above random and most popular (IQM CIs separated)":
            separated(summary["two-tower DQN"], summary["random"])
            and separated(summary["two-tower DQN"], summary["most popular"]),
        "masked PPO above random and most popular (IQM CIs separated)":
            separated(summary["masked PPO"], summary["random"])
            and separated(summary["masked PPO"], summary["most popular"]),
        "a sequential learner above the myopic bandit (IQM CIs separated)":
            separated(summary["two-tower DQN"], summary["myopic bandit"])
            or separated(summary["masked PPO"], summary["myopic bandit"]),
    }
    report = {"benchmark": "recsys_learning",
              "command": f"python benchmarks/recsys_learning.py --seeds {args.seeds} "
                         f"--users {args.users}",
              "seeds": args.seeds, "users": args.users, "runs": runs, "scores": scores,
              "summary": summary, "checks": checks, "machine": machine(),
              "versions": versions(), "date": time.strftime("%Y-%m-%d")}
    write_json(out.with_suffix(".json"), report)
    out.with_suffix(".md").write_text(markdown(report))
    figure(report, out.with_suffix(".png"))
    print(markdown(report))


if __name__ == "__main__":
    main()
