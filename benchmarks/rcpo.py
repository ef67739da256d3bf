"""Reward-constrained learning (issue #14's acceptance: "on a MuJoCo env with cost ‖a‖², for α
in {0.05, 0.1, 0.2}, the final discounted cost is ≤ α (+ CI) while the unconstrained learner
exceeds it; return reported for each α").

The `halfcheetah-cost-rctd3` preset (RCTD3: TD3 with a cost critic and a Lagrange multiplier,
``safety: reward_constrained``) on `nacre/HalfCheetah-Cost-v5`, whose steps cost ``‖a‖²``, is
trained per seed with each threshold α and once with ``safety: none`` (plain TD3 on the same
env). Each final policy then runs ``--episodes`` greedy episodes (no exploration noise), seeded
apart from training, and is scored by its episode return and its discounted cost rate
``(1 − γ) Σ_t γᵗ ‖a_t‖²`` (γ the learner's, 0.99) — the quantity the constraint bounds. Per α:
IQM and mean over seeds with 95% stratified-bootstrap CIs. Returns-only runs, two at a time
(one thread each); nothing is timed.

    python benchmarks/rcpo.py [--seeds 5] [--steps 50000] [--thresholds 0.05 0.1 0.2]
    python benchmarks/rcpo.py --preset pendulum-cost-rctd3 --steps 20000 --thresholds 0.5

``--resume`` keeps the runs of a stopped sweep (``.partial.json``); ``--unconstrained-from
REPORT`` takes the unconstrained (``safety: none``) runs of an earlier report of the same preset
and steps instead of training them again, for a change that leaves plain TD3 as it was — the
report names the file and its commit.

Writes benchmarks/results/rcpo.json, .md and .png (``--figure-only`` redraws the figure); the
other presets write ``rcpo-<preset>.*``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import nacre
from nacre.eval import summarize_returns
from nacre.safety import RewardConstraint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import log, machine, versions, write_json  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PRESET = "halfcheetah-cost-rctd3"


def score(agent: nacre.Agent, env_id: str, episodes: int, gamma: float, seed: int
          ) -> dict[str, float]:
    """Mean return, discounted cost rate and cost per step of greedy episodes."""
    env = gym.make(env_id)
    returns, rates, per_step = [], [], []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        total, discounted, costs, t, done = 0.0, 0.0, [], 0, False
        while not done:
            action = agent.predict(obs)
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            discounted += gamma ** t * info["cost"]
            costs.append(info["cost"])
            t, done = t + 1, terminated or truncated
        returns.append(total)
        rates.append((1 - gamma) * discounted)
        per_step.append(float(np.mean(costs)))
    env.close()
    return {"return": float(np.mean(returns)), "cost_rate": float(np.mean(rates)),
            "cost_per_step": float(np.mean(per_step))}


def run(preset: str, threshold: float | None, seed: int, steps: int, episodes: int
        ) -> dict[str, Any]:
    import torch
    torch.set_num_threads(1)
    # the preset's constraint (its λ step and cost-critic rate) with this budget
    safety = "safety={name: none}" if threshold is None else f"safety.threshold={threshold}"
    config = nacre.load_preset(preset)
    with tempfile.TemporaryDirectory() as tmp:
        result = nacre.train(preset, steps=steps, seed=seed, out=Path(tmp) / "run",
                             progress=False, overrides=[safety, "train.learn_threads=1",
                                                        "train.eval_every=1000000000"])
    learner = result.agent.learner
    gamma = float(learner.gamma or 0.99)
    out: dict[str, Any] = {"threshold": threshold, "seed": seed, "steps": steps,
                           **score(result.agent, config.env.id, episodes, gamma,
                                   seed=10_000 + 100 * seed)}
    lagrange = result.agent.safety
    if isinstance(lagrange, RewardConstraint):
        out["lagrange"] = float(lagrange.lagrange)
    return out


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for threshold in sorted({r["threshold"] for r in runs}, key=lambda t: -1 if t is None else t):
        group = [r for r in runs if r["threshold"] == threshold]
        rows.append({"threshold": threshold, "seeds": len(group),
                     "cost_rate": summarize_returns([r["cost_rate"] for r in group]),
                     "cost_per_step": summarize_returns([r["cost_per_step"] for r in group]),
                     "return": summarize_returns([r["return"] for r in group]),
                     "cost_rates": [r["cost_rate"] for r in group],
                     "returns": [r["return"] for r in group],
                     "lagrange": [r.get("lagrange") for r in group]})
    return rows


def table(report: dict[str, Any]) -> str:
    lines = [f"# Reward-constrained TD3: `{report['preset']}`, {report['steps']} steps, "
             f"{report['seeds']} seeds ({report['date']})", "",
             f"`{report['command']}`", "",
             "Per final policy: greedy episodes from reset; cost rate = (1 − γ) Σ γᵗ ‖a_t‖² "
             "(the constrained quantity); cost per step = mean ‖a_t‖² over the episode. IQM "
             "[95% CI] over seeds.", "",
             "| α (threshold) | cost rate IQM [CI] | ≤ α? | cost per step IQM [CI] | "
             "return IQM [CI] | final λ |",
             "|---|---|---|---|---|---|"]
    if "unconstrained_from" in report:
        source = report["unconstrained_from"]
        lines[4:4] = [f"The unconstrained runs are those of {source['report']} (nacre "
                      f"{source['nacre_git']}).", ""]
    for row in report["rows"]:
        c, r, p = row["cost_rate"], row["return"], row["cost_per_step"]
        alpha = row["threshold"]
        label = "none (TD3)" if alpha is None else f"{alpha}"
        held = ("—" if alpha is None else "yes" if c["iqm"] <= alpha
                else "within the CI" if c["iqm_ci95"][0] <= alpha else "no")
        lam = ("—" if alpha is None else
               " ".join(f"{v:.2f}" for v in row["lagrange"] if v is not None))
        lines.append(f"| {label} | {c['iqm']:.3f} [{c['iqm_ci95'][0]:.3f}, "
                     f"{c['iqm_ci95'][1]:.3f}] | {held} | {p['iqm']:.3f} "
                     f"[{p['iqm_ci95'][0]:.3f}, {p['iqm_ci95'][1]:.3f}] | {r['iqm']:.0f} "
                     f"[{r['iqm_ci95'][0]:.0f}, {r['iqm_ci95'][1]:.0f}] | {lam} |")
    return "\n".join(lines) + "\n"


def figure(report: dict[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = report["rows"]
    labels = ["none" if r["threshold"] is None else str(r["threshold"]) for r in rows]
    fig, (ax_c, ax_r) = plt.subplots(1, 2, figsize=(9, 3.6))
    for i, row in enumerate(rows):
        ax_c.scatter([i] * len(row["cost_rates"]), row["cost_rates"], color="C0", s=14)
        ax_r.scatter([i] * len(row["returns"]), row["returns"], color="C1", s=14)
        if row["threshold"] is not None:
            ax_c.hlines(row["threshold"], i - 0.3, i + 0.3, color="C3")
    ax_c.set_yscale("log")
    for ax, title in ((ax_c, "discounted cost rate (red: α)"), (ax_r, "episode return")):
        ax.set_xticks(range(len(rows)), labels)
        ax.set_xlabel("threshold α")
        ax.set_title(title)
    fig.suptitle(f"{report['preset']}, {report['steps']} steps, {report['seeds']} seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def earlier_runs(args: argparse.Namespace, out: Path
                 ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The runs not to train again: a stopped sweep's (``--resume``) and an earlier report's
    unconstrained ones (``--unconstrained-from``), with what the report should say of them."""
    runs: list[dict[str, Any]] = []
    partial = out.with_suffix(".partial.json")
    if args.resume and partial.exists():
        runs = [r for r in json.loads(partial.read_text()) if r["steps"] == args.steps]
    if args.unconstrained_from is None:
        return runs, {}
    earlier = json.loads(args.unconstrained_from.read_text())
    if (earlier["preset"], earlier["steps"]) != (args.preset, args.steps):
        raise SystemExit(f"{args.unconstrained_from} is of {earlier['preset']} at "
                         f"{earlier['steps']} steps, not {args.preset} at {args.steps}")
    plain = [r for r in earlier["runs"] if r["threshold"] is None and r["seed"] < args.seeds]
    runs = [r for r in runs if r["threshold"] is not None] + plain
    return runs, {"unconstrained_from": {"report": args.unconstrained_from.name,
                                         "nacre_git": earlier["versions"].get("nacre_git")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=PRESET)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    parser.add_argument("--figure-only", action="store_true")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--unconstrained-from", type=Path)
    args = parser.parse_args()
    name = "rcpo" if args.preset == PRESET else f"rcpo-{args.preset}"
    out = RESULTS / name
    if not args.figure_only:
        thresholds: list[float | None] = [None, *args.thresholds]
        runs, borrowed = earlier_runs(args, out)
        done = {(r["threshold"], r["seed"]) for r in runs}
        # threshold by threshold, in the order given: a sweep stopped early has whole rows
        jobs = [(args.preset, t, seed, args.steps, args.episodes)
                for t in thresholds for seed in range(args.seeds) if (t, seed) not in done]
        with ProcessPoolExecutor(2) as pool:
            for result in pool.map(run, *zip(*jobs, strict=True)):
                runs.append(result)
                write_json(out.with_suffix(".partial.json"), runs)  # kept if the sweep stops
                log(f"alpha {result['threshold']} seed {result['seed']}: cost rate "
                    f"{result['cost_rate']:.3f}, return {result['return']:.0f}, "
                    f"lambda {result.get('lagrange')}")
        report = {"command": " ".join(["python", *sys.argv]), "preset": args.preset,
                  "steps": args.steps, "seeds": args.seeds, "episodes": args.episodes,
                  "date": date.today().isoformat(), "machine": machine(),
                  "versions": versions(("nacre", "torch", "gymnasium", "mujoco")),
                  "runs": runs, "rows": summarize(runs), **borrowed}
        write_json(out.with_suffix(".json"), report)
        out.with_suffix(".partial.json").unlink()
        out.with_suffix(".md").write_text(table(report))
    report = json.loads(out.with_suffix(".json").read_text())
    report["rows"] = summarize(report["runs"])  # (re)computed from the runs
    write_json(out.with_suffix(".json"), report)
    out.with_suffix(".md").write_text(table(report))
    figure(report, out.with_suffix(".png"))
    print(table(report))


if __name__ == "__main__":
    main()
