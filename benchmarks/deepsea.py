"""Deep exploration on DeepSea (issue #14's acceptance: "Bootstrapped DQN finds the optimal
policy for N = 10, 20 and 30 in ≥ 4/5 seeds each, and episodes-to-solve grows roughly linearly
in N (plot committed); ε-greedy DQN fails at N ≥ 10 within the same budget. Report the ensemble
update cost per batch vs a single DQN (target: ≤ 1.5× for 10 members)").

`nacre/DeepSea-v0` (bsuite's deterministic DeepSea, action mapping seed 0): the treasure at the
bottom-right corner pays 1 after N "right" moves in a row, each costing 0.01/N; random play
finds it once in 2^N episodes. Per size N and seed, with a budget of 100·N episodes:

* `deepsea-bootstrapped-dqn` (10 heads on a shared torso, random priors, one head followed per
  episode);
* ε-greedy DQN with the same settings otherwise: one linear Q-head on the same torso (`mlp`,
  hidden [64, 64]), uniform replay, ε from 1 to 0.05 over the first half of the budget.

Every 5 episodes one greedy episode is run (the ensemble's mean for Bootstrapped DQN). A run
*solves* the task when 10 such evaluations in a row reach the treasure (then it stops); its
episodes-to-solve are the episodes before the first of them. Returns-only runs, two at a time.
Then, alone, the cost of one update (batch 128, N = 20 observations): Bootstrapped DQN with 10
heads (with and without priors), one DQN of the same torso and one head, and 10 such DQNs
updated one after another (what a Python loop over members costs).

    python benchmarks/deepsea.py [--seeds 5] [--sizes 10 20 30]

Writes benchmarks/results/deepsea.json, .md and .png (``--figure-only`` redraws the figure).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

import nacre

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import best_per_call, log, machine, versions, write_json  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
EVERY, STREAK = 5, 10  # a greedy episode every 5 episodes; 10 in a row reaching the treasure
DQN = ["learner={name: dqn, lr: 0.001, gamma: 0.99, tau: 1.0, loss: mse}",
       "network={name: mlp, hidden: [64, 64]}", "buffer={name: replay, capacity: 10000}"]


class Solved(nacre.Callback):
    """Records when the greedy policy first reaches the treasure ``STREAK`` evaluations in a
    row, and stops the run there."""

    def __init__(self, size: int) -> None:
        self.size, self.streak, self.first, self.solved_at = size, 0, 0, None
        self.evals: list[tuple[int, float]] = []

    def on_eval(self, training: Any, returns: list[float]) -> None:
        steps = int(training.env_steps)
        self.evals.append((steps, float(returns[0])))
        if returns[0] > 0.5:
            self.first = steps if self.streak == 0 else self.first
            self.streak += 1
            if self.streak == STREAK:
                self.solved_at = self.first // self.size
                training.stop("solved")
        else:
            self.streak = 0


def run(learner: str, size: int, seed: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    budget = 100 * size  # episodes
    overrides = [f"env.kwargs={{size: {size}}}", f"train.eval_every={EVERY * size}",
                 "train.eval_episodes=1", "train.learn_threads=1", "train.log_every=100000"]
    if learner == "dqn":
        overrides += [*DQN, "exploration={name: epsilon_greedy, start: 1.0, end: 0.05, "
                      "decay_fraction: 0.5}"]
    solved = Solved(size)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = nacre.train("deepsea-bootstrapped-dqn", steps=budget * size, seed=seed,
                             out=Path(tmp) / "run", progress=False, overrides=overrides,
                             callbacks=[solved])
    return {"learner": learner, "size": size, "seed": seed, "budget_episodes": budget,
            "episodes_to_solve": solved.solved_at,
            "episodes_run": result.summary["env_steps"] // size,
            "wall_s": time.perf_counter() - started}


def update_costs(size: int = 20, batch: int = 128) -> dict[str, float]:
    """Seconds per update at batch ``batch`` on DeepSea-``size`` observations, each measured
    alone on one thread (the fastest of 5 blocks)."""
    import torch

    from nacre.data import TransitionBatch

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    obs = torch.zeros(batch, size * size).scatter_(1, torch.randint(size * size, (batch, 1),
                                                                    generator=g), 1.0)
    data = TransitionBatch(obs, torch.randint(2, (batch,), generator=g), torch.rand(batch),
                           obs.roll(1, 0), torch.zeros(batch),
                           bootstrap=(torch.rand(batch, 10, generator=g) < 0.5).float())
    single = TransitionBatch(data.obs, data.action, data.reward, data.next_obs, data.terminated)

    def learner(*overrides: str) -> Any:
        cfg = nacre.load_preset("deepsea-bootstrapped-dqn").with_overrides(
            [f"env.kwargs={{size: {size}}}", *overrides])
        return nacre.build(cfg).agent.learner

    boot_prior = learner("network.prior_scale=3.0")
    boot_plain = learner("network.prior_scale=0.0")
    dqns = [learner(*DQN, "exploration={name: epsilon_greedy}") for _ in range(10)]
    costs = {
        "bootstrapped_10_heads_prior": best_per_call(lambda: boot_prior.learn_batch(data), 200),
        "bootstrapped_10_heads_no_prior": best_per_call(lambda: boot_plain.learn_batch(data),
                                                        200),
        "dqn_one_head": best_per_call(lambda: dqns[0].learn_batch(single), 200),
        "dqn_x10_python_loop": best_per_call(
            lambda: [d.learn_batch(single) for d in dqns], 40, warmup=20),
    }
    return costs


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "### DeepSea: Bootstrapped DQN vs ε-greedy DQN",
        "",
        f"`{report['command']}` · {report['seeds']} seeds per size · budget 100·N episodes · "
        f"torch {report['versions']['torch']}, nacre {report['versions']['nacre']} · "
        f"{report['date']}",
        "",
        "Solved: 10 greedy episodes in a row (one every 5 training episodes) reach the "
        "treasure; episodes-to-solve counts the training episodes before the first of them.",
        "",
        "| N | learner | seeds solved | episodes to solve, per seed | median |",
        "|---:|---|---:|---|---:|",
    ]
    for size in report["sizes"]:
        for learner in ("bootstrapped", "dqn"):
            rows = [r for r in report["runs"] if r["size"] == size and r["learner"] == learner]
            if not rows:
                continue
            got = [r["episodes_to_solve"] for r in rows if r["episodes_to_solve"] is not None]
            cells = ", ".join("—" if r["episodes_to_solve"] is None else
                              str(r["episodes_to_solve"]) for r in rows)
            median = f"{np.median(got):.0f}" if got else "—"
            name = "Bootstrapped DQN" if learner == "bootstrapped" else "ε-greedy DQN"
            lines.append(f"| {size} | {name} | {len(got)}/{len(rows)} | {cells} | {median} |")
    fit = report.get("fit")
    if fit:
        lines += ["", f"Median episodes-to-solve against N: a line fits with slope "
                  f"{fit['slope']:.1f} episodes per unit of N (R² {fit['r2_linear']:.3f}); a "
                  f"power law gives exponent {fit['exponent']:.2f}."]
    costs = report.get("update_costs")
    if costs:
        one = costs["dqn_one_head"]
        lines += ["", "Update cost, batch 128, DeepSea N = 20 observations, one thread "
                  "(fastest of 5 blocks):", "",
                  "| update | µs | vs one DQN |", "|---|---:|---:|"]
        for key, label in (("dqn_one_head", "DQN: the same torso [64, 64], one linear head"),
                           ("bootstrapped_10_heads_no_prior",
                            "Bootstrapped DQN: torso [64, 64], 10 linear heads, one pass"),
                           ("bootstrapped_10_heads_prior", "… with linear random priors (scale 3)"),
                           ("dqn_x10_python_loop", "10 DQNs updated in a Python loop")):
            lines.append(f"| {label} | {costs[key] * 1e6:,.0f} | {costs[key] / one:.2f}× |")
    return "\n".join(lines) + "\n"


def figure(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    sizes = report["sizes"]
    for learner, color, label in (("bootstrapped", "tab:blue", "Bootstrapped DQN"),
                                  ("dqn", "tab:orange", "ε-greedy DQN")):
        for size in sizes:
            rows = [r for r in report["runs"] if r["size"] == size and r["learner"] == learner]
            solved = [r["episodes_to_solve"] for r in rows if r["episodes_to_solve"] is not None]
            failed = len(rows) - len(solved)
            ax.scatter([size] * len(solved), solved, color=color, s=18, alpha=0.7)
            if failed:
                ax.scatter([size], [100 * size], color=color, marker="x", s=60)
                ax.annotate(f"{failed} not solved", (size, 100 * size), fontsize=7,
                            xytext=(4, 4), textcoords="offset points", color=color)
        medians = [np.median([r["episodes_to_solve"] for r in report["runs"]
                              if r["size"] == s and r["learner"] == learner
                              and r["episodes_to_solve"] is not None] or [np.nan])
                   for s in sizes]
        ax.plot(sizes, medians, color=color, marker="o", label=f"{label} (median)")
    ax.plot(sizes, [100 * s for s in sizes], color="grey", ls="--", lw=1, label="budget")
    ax.set_xlabel("DeepSea size N")
    ax.set_ylabel("episodes to solve")
    ax.set_xticks(sizes)
    ax.set_title("DeepSea: episodes until the greedy policy finds the treasure")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def fit(report: dict[str, Any]) -> dict[str, float] | None:
    sizes, medians = [], []
    for size in report["sizes"]:
        got = [r["episodes_to_solve"] for r in report["runs"] if r["size"] == size
               and r["learner"] == "bootstrapped" and r["episodes_to_solve"] is not None]
        if got:
            sizes.append(size)
            medians.append(float(np.median(got)))
    if len(sizes) < 2:
        return None
    x, y = np.array(sizes, float), np.array(medians)
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    r2 = 1.0 - float(residual @ residual) / float(((y - y.mean()) ** 2).sum() or 1.0)
    exponent = float(np.polyfit(np.log(x), np.log(np.maximum(y, 1.0)), 1)[0])
    return {"slope": float(slope), "intercept": float(intercept), "r2_linear": r2,
            "exponent": exponent}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 30])
    parser.add_argument("--figure-only", action="store_true")
    args = parser.parse_args()
    if args.figure_only:
        report = json.loads((RESULTS / "deepsea.json").read_text())
    else:
        jobs = [(learner, size, seed) for size in args.sizes for seed in range(args.seeds)
                for learner in ("bootstrapped", "dqn")]
        runs = []
        with ProcessPoolExecutor(2) as pool:
            for result in pool.map(run, *zip(*jobs, strict=True)):
                runs.append(result)
                log(f"{result['learner']:12s} N {result['size']:2d} seed {result['seed']}: "
                    f"{result['episodes_to_solve']} episodes to solve, {result['wall_s']:.0f} s")
        log("update costs (alone) ...")
        report = {"command": " ".join(["python", *sys.argv]), "seeds": args.seeds,
                  "sizes": args.sizes, "runs": runs, "update_costs": update_costs(),
                  "versions": versions(), "machine": machine(), "date": date.today().isoformat()}
        report["fit"] = fit(report)
        write_json(RESULTS / "deepsea.json", report)
        (RESULTS / "deepsea.md").write_text(markdown(report))
    figure(report, RESULTS / "deepsea.png")
    print(markdown(report))


if __name__ == "__main__":
    main()
