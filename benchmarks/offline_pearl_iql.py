"""IQL on medium-replay data, next to Pearl's Table 2 (issue #16's acceptance: "IQL on
medium-replay-style data (100k transitions from a SAC agent's replay buffer), normalized scores
reported next to Pearl's 0.62 / 0.52 / 0.31").

Pearl (Zhu et al. 2023, Table 2) trains IQL on datasets it made itself: the replay buffer of a
SAC agent, 100k transitions, for HalfCheetah, Walker2d and Hopper, and reports normalized scores
0.62, 0.52 and 0.31 (its own normalization with random and expert returns). Here IQL trains on
the ``*-medium-replay`` datasets of benchmarks/make_offline_datasets.py (a SAC run's whole
replay up to the step its greedy return reached a third of the expert's: sizes in
benchmarks/results/offline_datasets.json), normalized with D4RL's reference returns, for
``--updates`` gradient updates (IQL's hyper-parameters as in benchmarks/offline_vs_d3rlpy.py,
rewards scaled by 1000 / (max − min episode return)), ``--seeds`` seeds, 10 greedy episodes at
the end. Pearl's column is a paper figure, not measured here.

    python benchmarks/offline_pearl_iql.py [--seeds 5] [--updates 20000] [--data datasets]

Writes benchmarks/results/offline_pearl_iql.json and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from nacre.eval.stats import summarize_returns

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HERE, log, machine, versions, write_json  # noqa: E402
from offline_vs_d3rlpy import nacre_config, prepared, run_nacre  # noqa: E402

PEARL = {"halfcheetah": 0.62, "walker2d": 0.52, "hopper": 0.31}  # Pearl paper, Table 2
RESULTS = HERE / "results" / "offline_pearl_iql.json"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--envs", nargs="+", default=list(PEARL), choices=list(PEARL))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--updates", type=int, default=20_000)
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--data", default="datasets")
    p.add_argument("--name", default="offline_pearl_iql",
                   help="results file name (one per concurrent invocation)")
    args = p.parse_args()
    global RESULTS
    RESULTS = HERE / "results" / f"{args.name}.json"
    report: dict[str, Any] = (json.loads(RESULTS.read_text()) if RESULTS.exists() else
                              {"runs": []})
    report.update(machine=machine(), versions=versions(("nacre", "torch")),
                  updates=args.updates, pearl_table_2=PEARL)
    done = {(r["env"], r["seed"]) for r in report["runs"] if r["updates"] == args.updates}
    sizes = json.loads((HERE / "results" / "offline_datasets.json").read_text())["envs"]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for env in args.envs:
            folder, _, info = prepared(f"{env}-medium-replay", Path(args.data), "iql", tmp)
            for seed in range(args.seeds):
                if (env, seed) in done:
                    continue
                log(f"{env}-medium-replay iql seed {seed}")
                out = run_nacre(nacre_config("iql", folder, info.env_id, args.updates,
                                             args.episodes, seed), tmp)
                report["runs"].append({"env": env, "seed": seed, "updates": args.updates,
                                       "transitions": sizes[env]["medium-replay"]["transitions"],
                                       **out})
                write_json(RESULTS, report)
    summary = {}
    for env in PEARL:  # every task measured so far at this budget, not only this call's
        rows = [r for r in report["runs"] if r["env"] == env and r["updates"] == args.updates]
        if rows:
            summary[env] = {"normalized": summarize_returns([r["normalized"] for r in rows]),
                            "transitions": rows[0]["transitions"], "pearl": PEARL[env],
                            "updates_per_s_median": float(np.median(
                                [r["updates_per_s"] for r in rows]))}
    report["summary"] = summary
    write_json(RESULTS, report)
    lines = ["| task | dataset (transitions) | nacre IQL normalized, IQM [95% CI] | mean | "
             "Pearl Table 2 (paper) |", "|---|---|---|---:|---:|"]
    for env, e in summary.items():
        s = e["normalized"]
        lines.append(f"| {env} | medium-replay ({e['transitions']:,}) | {s['iqm']:.2f} "
                     f"[{s['iqm_ci95'][0]:.2f}, {s['iqm_ci95'][1]:.2f}] | {s['mean']:.2f} | "
                     f"{e['pearl']:.2f} |")
    RESULTS.with_suffix(".md").write_text("\n".join(lines) + "\n")
    log(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
