"""DQN on partially observed CartPole with and without a history summarizer (issue #13's
acceptance: "PO-CartPole (velocities hidden): LSTM-DQN and stacking-DQN reach ≥ 475 IQM,
vanilla DQN stays far below").

`nacre/CartPole-PO-v0` shows the cart position and the pole angle only. For each seed the
`cartpole-po-stack-dqn` preset (RL-Zoo's CartPole DQN settings, the last 4 observations
stacked) and the same run on single observations (`history: identity`), alternating. Scores:
the final greedy return (10 episodes) and the best periodic one; seeds aggregated with the IQM
and mean and their 95 % stratified-bootstrap intervals.

    python benchmarks/po_cartpole.py [--seeds 5] [--steps 50000]

Writes benchmarks/results/po_cartpole.json and po_cartpole.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nacre

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import report_variants  # noqa: E402

VARIANTS = {"stacking (k = 4)": [], "no history": ["history=identity"]}


def run(variant: str, seed: int, steps: int) -> dict[str, Any]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = nacre.train("cartpole-po-stack-dqn", steps=steps, seed=seed,
                             out=Path(tmp) / "run", progress=False, overrides=VARIANTS[variant])
    s = result.summary
    return {"variant": variant, "seed": seed, "final": s["final_eval_return_mean"],
            "best": s["best_eval_return_mean"], "wall_s": time.perf_counter() - started}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=50_000)
    args = p.parse_args()
    runs = []
    for seed in range(args.seeds):
        for variant in VARIANTS:
            runs.append(run(variant, seed, args.steps))
            r = runs[-1]
            print(f"  {variant:17s} seed {seed}: final {r['final']:.1f}, best {r['best']:.1f}, "
                  f"{r['wall_s']:.1f} s", flush=True)
    title = f"DQN on partially observed CartPole ({args.steps:,} steps, {args.seeds} seeds)"
    print(report_variants("po_cartpole", title, runs,
                          {"final": "final return", "best": "best evaluation"},
                          {"env": "nacre/CartPole-PO-v0", "steps": args.steps,
                           "seeds": list(range(args.seeds))}, digits=1))


if __name__ == "__main__":
    main()
