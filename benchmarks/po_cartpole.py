"""DQN on partially observed CartPole with and without a history summarizer (issue #13's
acceptance: "PO-CartPole (velocities hidden): LSTM-DQN and stacking-DQN reach ≥ 475 IQM,
vanilla DQN stays far below; transformer reported").

`nacre/CartPole-PO-v0` shows the cart position and the pole angle only. Per seed: the
`cartpole-po-lstm-dqn` preset (an LSTM over the last 8 observations), `cartpole-po-stack-dqn`
(the last 4 stacked), the LSTM preset with a transformer over the same windows, and the
stacking preset on single observations (`history: identity`); the same settings otherwise.
Scores: the best greedy evaluation (10 episodes, every 5,000 steps: what a run reaches) and the
final one; seeds aggregated with the IQM and mean and their 95 % stratified-bootstrap intervals.
Two runs at a time (returns only: nothing here is timed).

    python benchmarks/po_cartpole.py [--seeds 5] [--steps 50000]

Writes benchmarks/results/po_cartpole.json, po_cartpole.md and po_cartpole.png
(``--figure-only`` redraws the figure from the JSON).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import nacre

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import report_variants  # noqa: E402

VARIANTS = {
    "LSTM (L = 8)": ("cartpole-po-lstm-dqn", []),
    "stacking (k = 4)": ("cartpole-po-stack-dqn", []),
    "transformer (L = 8)": ("cartpole-po-lstm-dqn",
                            ["history={name: transformer, length: 8, hidden: 64}"]),
    "no history": ("cartpole-po-stack-dqn", ["history=identity"]),
}


def run(variant: str, seed: int, steps: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    preset, overrides = VARIANTS[variant]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = nacre.train(preset, steps=steps, seed=seed, out=Path(tmp) / "run",
                             progress=False, overrides=[*overrides, "train.learn_threads=1"])
    s = result.summary
    return {"variant": variant, "seed": seed, "final": s["final_eval_return_mean"],
            "best": s["best_eval_return_mean"], "wall_s": time.perf_counter() - started}


def figure(results: Path, path: Path) -> None:
    """Per variant: each seed's best and final return, and their IQM with its 95 % CI."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.loads(results.read_text())
    variants = list(data["summary"])
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for i, v in enumerate(variants):
        for dx, key, color in ((-0.15, "best", "C0"), (0.15, "final", "C1")):
            seeds = [r[key] for r in data["runs"] if r["variant"] == v]
            s = data["summary"][v][key]
            low, high = s["iqm_ci95"]
            ax.scatter([i + dx] * len(seeds), seeds, s=12, color=color, alpha=0.5)
            ax.errorbar(i + dx, s["iqm"], yerr=[[s["iqm"] - low], [high - s["iqm"]]], fmt="_",
                        color=color, markersize=18, capsize=4,
                        label=("best evaluation" if key == "best" else "final return")
                        if i == 0 else None)
    ax.axhline(475, color="grey", linestyle=":", linewidth=1)
    ax.set_xticks(range(len(variants)), variants)
    ax.set_ylabel("return (IQM, 95% CI; dots: seeds)")
    ax.set_title(f"Double DQN, nacre/CartPole-PO-v0, {data['steps']:,} steps, "
                 f"{len(data['seeds'])} seeds", fontsize=10)
    ax.legend(loc="center right", fontsize=8)
    ax.set_ylim(0, 520)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=50_000)
    p.add_argument("--figure-only", action="store_true")
    args = p.parse_args()
    results = Path(__file__).resolve().parent / "results" / "po_cartpole.json"
    picture = results.with_suffix(".png")
    if args.figure_only:
        figure(results, picture)
        return
    jobs = [(variant, seed) for seed in range(args.seeds) for variant in VARIANTS]
    runs = []
    with ProcessPoolExecutor(max_workers=2) as pool:
        for r in pool.map(run, *zip(*jobs, strict=True), [args.steps] * len(jobs)):
            runs.append(r)
            print(f"  {r['variant']:19s} seed {r['seed']}: best {r['best']:.1f}, final "
                  f"{r['final']:.1f}, {r['wall_s']:.1f} s", flush=True)
    title = (f"Double DQN on partially observed CartPole ({args.steps:,} steps, {args.seeds} "
             "seeds)")
    print(report_variants("po_cartpole", title, runs,
                          {"best": "best evaluation", "final": "final return"},
                          {"env": "nacre/CartPole-PO-v0", "steps": args.steps,
                           "seeds": list(range(args.seeds))}, digits=1))
    figure(results, picture)


if __name__ == "__main__":
    main()
