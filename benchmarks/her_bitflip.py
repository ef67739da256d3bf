"""DQN with and without hindsight experience replay on 15-bit flipping (issue #13's acceptance:
"DQN + HER (future) solves ≥ 90 % of goals, DQN without HER ≈ 0 %").

The `bitflip-her-dqn` preset (40k steps; Andrychowicz et al. 2017, §3.1) for each seed, and the
same run with uniform replay (`buffer: {name: replay}`), alternating, each in this process. The
score of a run is the share of 100 greedy evaluation episodes that reach their goal; seeds are
aggregated with the IQM and mean and their 95 % stratified-bootstrap intervals.

    python benchmarks/her_bitflip.py [--seeds 5] [--steps 40000]

Writes benchmarks/results/her_bitflip.json and her_bitflip.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import nacre

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import report_variants  # noqa: E402

N = 15
VARIANTS = {"her": [], "uniform": ["buffer={name: replay, capacity: 100000}"]}


def run(variant: str, seed: int, steps: int) -> dict[str, Any]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = nacre.train("bitflip-her-dqn", steps=steps, seed=seed, out=Path(tmp) / "run",
                             progress=False, overrides=VARIANTS[variant])
    returns = np.array(result.summary["final_eval_returns"])
    return {"variant": variant, "seed": seed, "success": float((returns > -N).mean()),
            "wall_s": time.perf_counter() - started}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=40_000)
    args = p.parse_args()
    runs = []
    for seed in range(args.seeds):
        for variant in VARIANTS:
            runs.append(run(variant, seed, args.steps))
            print(f"  {variant:8s} seed {seed}: {runs[-1]['success']:.2f} of goals reached, "
                  f"{runs[-1]['wall_s']:.1f} s", flush=True)
    title = f"DQN ± hindsight replay on {N}-bit flipping ({args.steps:,} steps, {args.seeds} seeds)"
    print(report_variants("her_bitflip", title, runs, {"success": "goals reached"},
                          {"n_bits": N, "steps": args.steps, "seeds": list(range(args.seeds))}))


if __name__ == "__main__":
    main()
