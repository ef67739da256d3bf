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
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import nacre
from nacre.eval.stats import summarize_returns

HERE = Path(__file__).resolve().parent
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
    summary = {v: summarize_returns([r["success"] for r in runs if r["variant"] == v])
               for v in VARIANTS}
    out = {"benchmark": "her_bitflip", "n_bits": N, "steps": args.steps,
           "seeds": list(range(args.seeds)), "runs": runs, "summary": summary,
           "machine": {"python": platform.python_version(), "torch": torch.__version__,
                       "cpus": torch.get_num_threads(), "processor": platform.processor()},
           "nacre": nacre.__version__, "date": time.strftime("%Y-%m-%d")}
    results = HERE / "results"
    (results / "her_bitflip.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [f"### DQN ± hindsight replay on {N}-bit flipping ({args.steps:,} steps, "
             f"{args.seeds} seeds)", "",
             "| | goals reached, IQM [95% CI] | mean [95% CI] | per seed |", "|---|---:|---:|---|"]
    for v, s in summary.items():
        per_seed = ", ".join(f"{r['success']:.2f}" for r in runs if r["variant"] == v)
        lines.append(f"| {v} | {s['iqm']:.2f} [{s['iqm_ci95'][0]:.2f}, {s['iqm_ci95'][1]:.2f}] "
                     f"| {s['mean']:.2f} [{s['mean_ci95'][0]:.2f}, {s['mean_ci95'][1]:.2f}] "
                     f"| {per_seed} |")
    (results / "her_bitflip.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
