"""Risk-sensitive acting from a learned return distribution (issue #14's acceptance: "with high
β the agent settles on the low-variance action in ≥ 95 % of late decisions, with low β on the
high-mean one (Pearl Fig. 6c), 5 seeds").

`nacre/MeanVarianceBandit-v0` has two arms, N(6, 1) and N(10, 9) (mean, variance). The
`meanvar-bandit-qrdqn` preset (QR-DQN, 20 quantiles, ε-greedy 1 → 0.01) acts on
``E[Z] − β·Var[Z]`` of its learned distribution; the low-variance arm is worth more once
β > 0.5 (6 − β > 10 − 9β). Per β and seed: every arm the agent pulls during training is
recorded (a wrapper around the env), and scored is the fraction of the late decisions (the last
quarter of the run) that took the low-variance arm. Runs are not timed.

    python benchmarks/meanvar_bandit.py [--seeds 5] [--steps 4000]

Writes benchmarks/results/meanvar_bandit.json, .md and .png (``--figure-only`` redraws it).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import nacre
from nacre.envs import MeanVarianceBanditEnv

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import log, machine, versions, write_json  # noqa: E402

BETAS = (0.0, 0.25, 1.0, 2.0)
RESULTS = Path(__file__).resolve().parent / "results"


class RecordArms(gym.Wrapper[np.ndarray, np.int64, np.ndarray, np.int64]):
    """Keeps every arm pulled (the training env only: evaluation envs are copies)."""

    def __init__(self, env: gym.Env[np.ndarray, np.int64]) -> None:
        super().__init__(env)
        self.arms: list[int] = []

    def step(self, action: np.int64) -> Any:
        self.arms.append(int(action))
        return self.env.step(action)


def run(beta: float, seed: int, steps: int) -> dict[str, Any]:
    env = RecordArms(MeanVarianceBanditEnv())
    with tempfile.TemporaryDirectory() as tmp:
        result = nacre.train("meanvar-bandit-qrdqn", env=env, steps=steps, seed=seed,
                             out=Path(tmp) / "run", progress=False,
                             overrides=[f"safety.beta={beta}"])
    arms = np.array(env.arms[:steps])
    late = arms[-steps // 4:]
    # the greedy arm at the end: the low-variance arm's mean return is 6, the other's 10
    return {"beta": beta, "seed": seed, "late_low_variance": float(np.mean(late == 0)),
            "final_greedy_return": result.summary["final_eval_return_mean"],
            "low_variance_by_500": [float(np.mean(arms[i:i + 500] == 0))
                                    for i in range(0, steps, 500)]}


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "### Mean-variance bandit: QR-DQN acting on E[Z] − β·Var[Z]",
        "",
        f"`{report['command']}` · {report['seeds']} seeds × {report['steps']:,} decisions · "
        f"torch {report['versions']['torch']}, nacre {report['versions']['nacre']} · "
        f"{report['date']}",
        "",
        "Arms N(6, 1) and N(10, 9); the low-variance arm is worth more under the measure once "
        "β > 0.5. Late decisions: the last quarter of training (ε = 0.01 there).",
        "",
        "| β | late decisions on the low-variance arm, per seed | mean | seeds ≥ 95 % on the "
        "arm β prefers | final greedy return, mean |",
        "|---:|---|---:|---:|---:|",
    ]
    for beta in report["betas"]:
        rows = [r for r in report["runs"] if r["beta"] == beta]
        fractions = [r["late_low_variance"] for r in rows]
        wanted = [f if beta > 0.5 else 1 - f for f in fractions]
        lines.append(
            f"| {beta:g} | {', '.join(f'{f:.1%}' for f in fractions)} | "
            f"{np.mean(fractions):.1%} | {sum(w >= 0.95 for w in wanted)}/{len(rows)} | "
            f"{np.mean([r['final_greedy_return'] for r in rows]):.2f} |")
    return "\n".join(lines) + "\n"


def figure(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for beta in report["betas"]:
        curves = np.array([r["low_variance_by_500"] for r in report["runs"] if r["beta"] == beta])
        x = np.arange(curves.shape[1]) * 500 + 500
        ax.plot(x, curves.mean(0), marker="o", label=f"β = {beta:g}")
        ax.fill_between(x, curves.min(0), curves.max(0), alpha=0.15)
    ax.set_xlabel("decisions")
    ax.set_ylabel("share of the low-variance arm\n(per 500 decisions)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("QR-DQN + mean-variance safety: N(6, 1) vs N(10, 9)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--figure-only", action="store_true")
    args = parser.parse_args()
    if args.figure_only:
        report = json.loads((RESULTS / "meanvar_bandit.json").read_text())
    else:
        runs = []
        for beta in BETAS:
            for seed in range(args.seeds):
                runs.append(run(beta, seed, args.steps))
                log(f"β {beta:g} seed {seed}: {runs[-1]['late_low_variance']:.1%} low-variance")
        report = {"command": " ".join(["python", *sys.argv]), "seeds": args.seeds,
                  "steps": args.steps, "betas": list(BETAS), "runs": runs,
                  "versions": versions(), "machine": machine(),
                  "date": date.today().isoformat()}
        write_json(RESULTS / "meanvar_bandit.json", report)
        (RESULTS / "meanvar_bandit.md").write_text(markdown(report))
    figure(report, RESULTS / "meanvar_bandit.png")
    print(markdown(report))


if __name__ == "__main__":
    main()
