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

Writes benchmarks/results/po_cartpole.json and po_cartpole.md.
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=50_000)
    args = p.parse_args()
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


if __name__ == "__main__":
    main()
