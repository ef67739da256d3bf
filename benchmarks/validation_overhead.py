"""What the input validation of the public boundary costs on the acting path, side by side.

The acting worker of ``dqn_cartpole.py`` (``agent.act()`` + ``agent.observe(result)`` at B = 1,
one thread, env.step excluded) runs from two source trees in alternation, each in a fresh
interpreter: this checkout and a baseline checkout of an earlier commit (before the validation
layer), e.g. ``git worktree add /tmp/base 2cc7bca``. The report gives the median per-step cost
of each over the rounds and their ratio (target: within 5 %).

    python benchmarks/validation_overhead.py --baseline /tmp/base [--rounds 5] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import harness

HERE = Path(__file__).resolve().parent
MODES = ("greedy", "epsilon_greedy")


def acting(tree: Path, tmp: Path, quick: bool) -> dict[str, Any]:
    """The acting worker of ``tree``'s own benchmark script, importing ``tree``'s nacre."""
    out = tmp / f"acting-{len(list(tmp.iterdir()))}.json"
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    cmd = [sys.executable, str(tree / "benchmarks" / "dqn_cartpole.py"), "--worker", "acting",
           "--out", str(out), *(["--quick"] if quick else [])]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"the acting worker of {tree} failed ({proc.returncode})")
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def commit_of(tree: Path) -> str:
    return subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()


def markdown(rep: dict[str, Any]) -> str:
    rows = ["| | baseline | this checkout | ratio (this / baseline) |", "|---|---:|---:|---:|"]
    for mode in MODES:
        m = rep["modes"][mode]
        rows.append(f"| `act` + `observe`, {mode.replace('_', '-')} (median µs/step) | "
                    f"{m['baseline_us']:.1f} | {m['current_us']:.1f} | **{m['ratio']:.3f}** "
                    f"(rounds {min(m['ratios']):.3f}–{max(m['ratios']):.3f}) |")
    return (f"**Validation overhead on the acting path** (baseline {rep['baseline_commit']}, "
            f"this checkout {rep['current_commit']}; {rep['rounds']} alternating rounds of "
            f"{rep['steps_per_mode']:,} steps per mode, fresh interpreters)\n\n"
            + "\n".join(rows) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline", required=True, type=Path, help="checkout of the earlier commit")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="3,000 steps per mode instead of 20,000")
    p.add_argument("--out-dir", type=Path, default=HERE / "results")
    args = p.parse_args()
    current = HERE.parent
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "current": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            # alternate which goes first, so that drift in the machine's speed cancels
            order = ("baseline", "current") if r % 2 == 0 else ("current", "baseline")
            for name in order:
                tree = args.baseline if name == "baseline" else current
                runs[name].append(acting(tree.resolve(), Path(tmp), args.quick))
                harness.log(f"round {r + 1}/{args.rounds} {name}: greedy "
                            f"{runs[name][-1]['greedy']['act_observe_s'] * 1e6:.1f} µs")
    modes = {}
    for mode in MODES:
        base = [x[mode]["act_observe_s"] for x in runs["baseline"]]
        cur = [x[mode]["act_observe_s"] for x in runs["current"]]
        modes[mode] = {"baseline_us": statistics.median(base) * 1e6,
                       "current_us": statistics.median(cur) * 1e6,
                       "ratio": statistics.median(cur) / statistics.median(base),
                       "ratios": [c / b for c, b in zip(cur, base, strict=True)]}
    report = {"benchmark": "validation_overhead", "command": " ".join(sys.argv),
              "started_utc": started, "rounds": args.rounds,
              "steps_per_mode": runs["current"][0]["steps_per_mode"],
              "baseline_commit": commit_of(args.baseline), "current_commit": commit_of(current),
              "modes": modes, "runs": runs, "machine": harness.machine(),
              "versions": harness.versions()}
    report["markdown"] = markdown(report)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = "validation_overhead" + ("_quick" if args.quick else "")
    harness.write_json(args.out_dir / f"{stem}.json", report)
    (args.out_dir / f"{stem}.md").write_text(report["markdown"])
    print(report["markdown"])


if __name__ == "__main__":
    main()
