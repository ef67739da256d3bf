"""Is the OPE gate right? Simulated promotions whose truth is known (issue #17's acceptance: "a
candidate truly better is promoted and one truly worse is not, over 20 seeds >= 18 correct each
way").

Each seed builds a synthetic linear bandit and two SquareCB agents that differ only in how much
data they learned from (:mod:`nacre.testing.promotion`): the weak one from ``--weak-rows``
random decisions, the strong one from ``--strong-rows``. One is production, the other the
candidate in shadow. Production serves ``--shadow-rows`` decisions through the real service
path (decision service, SQLite log, registry), rewards are drawn from the bandit, and
``nacre.serve.decide_promotion`` promotes or rejects on the doubly robust estimate of the
difference (paired bootstrap, reward model refitted per resample, lower end > margin). "Correct"
compares the decision with the truth: the exploring policies' exact expected rewards on 20,000
fresh contexts.

    python benchmarks/promotion_simulation.py [--seeds 20] [--shadow-rows 2000]

Writes benchmarks/results/promotion_simulation.json and .md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HERE, log, machine, versions, write_json  # noqa: E402

from nacre.testing.promotion import simulate  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--shadow-rows", type=int, default=2000)
    p.add_argument("--weak-rows", type=int, default=40)
    p.add_argument("--strong-rows", type=int, default=2000)
    p.add_argument("--resamples", type=int, default=500)
    p.add_argument("--margin", type=float, default=0.0)
    p.add_argument("--name", default="promotion_simulation")
    args = p.parse_args()
    runs: list[dict[str, Any]] = []
    started = time.perf_counter()
    for better in (True, False):
        for seed in range(args.seeds):
            with tempfile.TemporaryDirectory() as tmp:
                r = simulate(seed, better, tmp, weak_rows=args.weak_rows,
                             strong_rows=args.strong_rows, shadow_rows=args.shadow_rows,
                             margin=args.margin, resamples=args.resamples)
            diff = r.pop("estimated_difference")
            runs.append({**r, "estimate": diff["value"], "ci95": [diff["low"], diff["high"]],
                         "true_difference": r["true_candidate"] - r["true_production"]})
            log(f"better={better} seed={seed}: promoted={r['promoted']} "
                f"correct={r['correct']} estimate {diff['value']:+.4f} "
                f"[{diff['low']:+.4f}, {diff['high']:+.4f}] truth "
                f"{runs[-1]['true_difference']:+.4f}")
    summary = {}
    for label, better in (("candidate better", True), ("candidate worse", False)):
        rows = [r for r in runs if r["candidate_better"] == better]
        summary[label] = {
            "correct": sum(r["correct"] for r in rows), "of": len(rows),
            "promoted": sum(r["promoted"] for r in rows),
            "truly_better": sum(r["true_difference"] > args.margin for r in rows),
            "median_true_difference": statistics.median(r["true_difference"] for r in rows),
            "interval_covers_truth": sum(r["ci95"][0] <= r["true_difference"] <= r["ci95"][1]
                                         for r in rows)}
    command = "python benchmarks/promotion_simulation.py " + " ".join(sys.argv[1:])
    write_json(HERE / "results" / f"{args.name}.json", {
        "benchmark": args.name, "settings": vars(args), "summary": summary, "runs": runs,
        "seconds": time.perf_counter() - started, "machine": machine(),
        "versions": versions(("nacre", "torch", "numpy")), "date": time.strftime("%Y-%m-%d"),
        "command": command.strip()})
    lines = [f"### OPE-gated promotion, {args.seeds} seeds each way "
             f"({args.shadow_rows} shadow decisions, margin {args.margin})", "",
             "| case | correct | promoted | truly better | 95% CI covers the true difference |",
             "|---|---:|---:|---:|---:|"]
    for label, s in summary.items():
        lines.append(f"| {label} | **{s['correct']}/{s['of']}** | {s['promoted']} | "
                     f"{s['truly_better']} | {s['interval_covers_truth']}/{s['of']} |")
    lines += ["", f"`{command.strip()}`"]
    (HERE / "results" / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
