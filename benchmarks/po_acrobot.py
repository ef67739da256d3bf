"""DQN on partially observed Acrobot with an LSTM, with stacking and without history (issue
#13's acceptance: "PO-Acrobot (angles only, observation every 2 steps — Pearl paper Fig. 6a,
where the vanilla agent makes no progress): LSTM-DQN clearly learns; vanilla does not").

`nacre/Acrobot-PO-v0` shows the cosines and sines of the two angles on every second step and
zeros between. Per seed: the `acrobot-po-lstm-dqn` preset (an LSTM over the last 8 steps that
also learns to predict the next 3 observations), the same run with the last 8
observations stacked (`history: {name: stacking, k: 8}`) and on single observations
(`history: identity`). Acrobot returns −500 when the tip never swings up in an
episode, about −80 when it does so quickly. Scores: the best greedy evaluation (10 episodes,
every 10,000 steps) and the final one. Two runs at a time (nothing here is timed).

    python benchmarks/po_acrobot.py [--seeds 5] [--steps 100000]

Writes benchmarks/results/po_acrobot.json and po_acrobot.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import nacre

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import report_variants  # noqa: E402

VARIANTS = {"LSTM (L = 8, predict 3)": [], "stacking (k = 8)": ["history={name: stacking, k: 8}"],
            "no history": ["history=identity"]}


def run(variant: str, seed: int, steps: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        result = nacre.train("acrobot-po-lstm-dqn", steps=steps, seed=seed,
                             out=Path(tmp) / "run", progress=False,
                             overrides=[*VARIANTS[variant], "train.learn_threads=1"])
    s = result.summary
    return {"variant": variant, "seed": seed, "best": s["best_eval_return_mean"],
            "final": s["final_eval_return_mean"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=100_000)
    args = p.parse_args()
    jobs = [(variant, seed) for seed in range(args.seeds) for variant in VARIANTS]
    runs = []
    with ProcessPoolExecutor(max_workers=2) as pool:
        for r in pool.map(run, *zip(*jobs, strict=True), [args.steps] * len(jobs)):
            runs.append(r)
            print(f"  {r['variant']:24s} seed {r['seed']}: best {r['best']:.1f}, final "
                  f"{r['final']:.1f}", flush=True)
    title = (f"Double DQN on partially observed Acrobot ({args.steps:,} steps, {args.seeds} "
             "seeds)")
    print(report_variants("po_acrobot", title, runs,
                          {"best": "best evaluation", "final": "final return"},
                          {"env": "nacre/Acrobot-PO-v0", "steps": args.steps,
                           "seeds": list(range(args.seeds))}, digits=1))


if __name__ == "__main__":
    main()
