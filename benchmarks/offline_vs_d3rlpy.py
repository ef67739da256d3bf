"""Offline CQL and IQL, nacre vs d3rlpy, side by side on the same generated datasets with the
same hyper-parameters (issue #16's acceptance: normalized score not worse — CI overlap at least
— and gradient updates/s ≥ 2× d3rlpy's).

Datasets come from benchmarks/make_offline_datasets.py (``--data``). For each dataset, algorithm
and seed, nacre (``nacre train`` of a config with ``dataset:``) and d3rlpy
(benchmarks/d3rlpy_worker.py in d3rlpy's own virtual environment, ``--d3rlpy-python``) run one
after the other, each in a fresh process on one thread, for ``--updates`` gradient updates at
batch 256 with 256-256 networks; then each policy plays ``--episodes`` greedy episodes seeded
alike. Updates/s count learning alone (sampling and updates; d3rlpy: its ``fit``).

Shared hyper-parameters (d3rlpy's defaults, which follow the papers): CQL — critic lr 3e-4,
actor and temperature lr 1e-4, initial temperature 1, conservative weight 5 (fixed: d3rlpy's
Lagrange multiplier off, ``alpha_learning_rate=0``), 10 action samples per source; IQL — lr
3e-4, expectile 0.7, β = 3, weights clipped at 100, rewards scaled by 1000 / (max − min
episode return of the dataset) as Kostrikov et al. do for locomotion (both libraries read the
same scaled copy). γ 0.99, τ 0.005, no observation normalization.

    python benchmarks/offline_vs_d3rlpy.py [--datasets hopper-medium halfcheetah-medium]
        [--algos cql iql] [--seeds 5] [--updates 10000] [--data datasets]

Writes benchmarks/results/offline_vs_d3rlpy.json (every run; rerunning skips the runs already
there), .md and .png.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import nacre
from nacre.eval.stats import summarize_returns

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HERE, log, machine, versions, write_json  # noqa: E402

HP: dict[str, dict[str, Any]] = {
    "cql": {"critic_lr": 3e-4, "actor_lr": 1e-4, "conservative_weight": 5.0,
            "n_action_samples": 10, "batch_size": 256, "gamma": 0.99, "tau": 0.005},
    "iql": {"lr": 3e-4, "expectile": 0.7, "beta": 3.0, "max_weight": 100.0, "batch_size": 256,
            "gamma": 0.99, "tau": 0.005},
}
RESULTS = HERE / "results" / "offline_vs_d3rlpy.json"  # --name changes it


def nacre_config(algo: str, data: Path, env_id: str, updates: int, episodes: int,
                 seed: int) -> dict[str, Any]:
    hp = HP[algo]
    if algo == "cql":
        learner = {"name": "cql", "lr": hp["critic_lr"], "actor_lr": hp["actor_lr"],
                   "conservative_weight": hp["conservative_weight"],
                   "n_action_samples": hp["n_action_samples"], "init_alpha": 1.0}
    else:
        learner = {"name": "iql", "lr": hp["lr"], "expectile": hp["expectile"],
                   "beta": hp["beta"], "max_weight": hp["max_weight"]}
    learner.update(gamma=hp["gamma"], tau=hp["tau"])
    return {"seed": seed, "env": {"id": env_id}, "learner": learner,
            "network": {"name": "squashed_gaussian", "actor_hidden": [256, 256],
                        "critic_hidden": [256, 256]},
            "exploration": "squashed", "dataset": {"path": str(data)},
            "train": {"steps": updates, "batch_size": hp["batch_size"], "eval_every": 0,
                      "eval_episodes": episodes, "log_every": max(1, updates // 10),
                      "torch_threads": 1, "learn_threads": 1}}


def run_nacre(config: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """``nacre train`` in a fresh process (as d3rlpy gets one)."""
    data = Path(config["dataset"]["path"]).name  # one folder per dataset, algorithm and seed
    path = tmp / f"nacre-{data}-{config['seed']}.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    out = tmp / f"run-{path.stem}"
    proc = subprocess.run([sys.executable, "-m", "nacre", "train", str(path), "--out", str(out),
                           "--quiet"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"nacre train {path} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    return {"updates_per_s": summary["updates_per_s"],
            "return_mean": summary["final_eval_return_mean"],
            "normalized": summary["final_normalized_score"]}


def run_d3rlpy(python: str, algo: str, npz: Path, env_id: str, updates: int, episodes: int,
               seed: int) -> dict[str, Any]:
    proc = subprocess.run([python, str(HERE / "d3rlpy_worker.py"), "--data", str(npz),
                           "--algo", algo, "--env", env_id, "--updates", str(updates),
                           "--seed", str(seed), "--episodes", str(episodes),
                           "--hp", json.dumps(HP[algo])],
                          capture_output=True, text=True, check=True)
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def prepared(name: str, data_dir: Path, algo: str, tmp: Path) -> tuple[Path, Path, Any]:
    """The dataset as both libraries read it (rewards scaled for IQL): a nacre folder and an
    .npz for d3rlpy."""
    data = nacre.Dataset.load(data_dir / name)
    cols = data.arrays()
    if algo == "iql":
        returns = data.episode_returns()
        cols["reward"] = cols["reward"] * (1000.0 / (returns.max() - returns.min()))
    folder, npz = tmp / f"{name}-{algo}", tmp / f"{name}-{algo}.npz"
    if not folder.exists():
        nacre.Dataset.from_arrays(**cols, info=data.info).save(folder)
        np.savez(npz, **cols)
    return folder, npz, data.info


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=["hopper-medium", "halfcheetah-medium"])
    p.add_argument("--algos", nargs="+", default=["cql", "iql"], choices=list(HP))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--updates", type=int, default=10_000)
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--data", default="datasets")
    p.add_argument("--d3rlpy-python", default=str(HERE.parent / ".venvs/d3rlpy/bin/python"),
                   help="d3rlpy's interpreter (default: .venvs/d3rlpy in the repo, gitignored; "
                   'python3 -m venv .venvs/d3rlpy && .venvs/d3rlpy/bin/pip install torch==2.13.0 '
                   'd3rlpy==2.8.1 "gymnasium[mujoco]==1.0.0")')
    p.add_argument("--name", default="offline_vs_d3rlpy",
                   help="results file name (e.g. a short speed-only run of its own)")
    args = p.parse_args()
    global RESULTS
    RESULTS = HERE / "results" / f"{args.name}.json"
    report: dict[str, Any] = (json.loads(RESULTS.read_text()) if RESULTS.exists() else
                              {"runs": []})
    report.update(machine=machine(), versions=versions(("nacre", "torch")), hp=HP,
                  updates=args.updates, episodes=args.episodes)
    done = {(r["dataset"], r["algo"], r["seed"], r["library"]) for r in report["runs"]
            if r["updates"] == args.updates}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for name in args.datasets:
            for algo in args.algos:
                folder, npz, info = prepared(name, Path(args.data), algo, tmp)
                for seed in range(args.seeds):
                    for library in ("nacre", "d3rlpy"):
                        if (name, algo, seed, library) in done:
                            continue
                        log(f"{name} {algo} seed {seed}: {library}")
                        if library == "nacre":
                            out = run_nacre(nacre_config(algo, folder, info.env_id,
                                                         args.updates, args.episodes, seed),
                                            tmp)
                        else:
                            out = run_d3rlpy(args.d3rlpy_python, algo, npz, info.env_id,
                                             args.updates, args.episodes, seed)
                            out["normalized"] = info.normalized_score(
                                float(np.mean(out["returns"])))
                            out["return_mean"] = float(np.mean(out["returns"]))
                        report["runs"].append({"dataset": name, "algo": algo, "seed": seed,
                                               "library": library, "updates": args.updates,
                                               **out})
                        write_json(RESULTS, report)
    report["summary"] = summarize(report["runs"], args.updates)
    write_json(RESULTS, report)
    write_markdown(report)
    plot(report)
    log(f"wrote {RESULTS}")


def summarize(runs: list[dict[str, Any]], updates: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pairs = sorted({(r["dataset"], r["algo"]) for r in runs if r["updates"] == updates})
    for name, algo in pairs:
        rows = [r for r in runs if (r["dataset"], r["algo"], r["updates"]) == (name, algo,
                                                                                updates)]
        by = {lib: {r["seed"]: r for r in rows if r["library"] == lib}
              for lib in ("nacre", "d3rlpy")}
        seeds = sorted(set(by["nacre"]) & set(by["d3rlpy"]))
        if not seeds:
            continue
        ratios = [by["nacre"][s]["updates_per_s"] / by["d3rlpy"][s]["updates_per_s"]
                  for s in seeds]
        entry: dict[str, Any] = {"seeds": seeds, "speed_ratio_median": float(np.median(ratios)),
                                 "speed_ratios": ratios}
        for lib in ("nacre", "d3rlpy"):
            scores = [by[lib][s]["normalized"] for s in seeds]
            entry[lib] = {"normalized": summarize_returns(scores),
                          "updates_per_s_median": float(np.median(
                              [by[lib][s]["updates_per_s"] for s in seeds]))}
        out[f"{name}/{algo}"] = entry
    return out


def write_markdown(report: dict[str, Any]) -> None:
    lines = ["| dataset | algo | nacre normalized IQM [95% CI] | d3rlpy normalized IQM [95% CI] "
             "| nacre updates/s | d3rlpy updates/s | nacre / d3rlpy (median) |",
             "|---|---|---|---|---:|---:|---:|"]
    for key, e in report["summary"].items():
        name, algo = key.split("/")
        cells = []
        for lib in ("nacre", "d3rlpy"):
            s = e[lib]["normalized"]
            cells.append(f"{s['iqm']:.3f} [{s['iqm_ci95'][0]:.3f}, {s['iqm_ci95'][1]:.3f}]")
        lines.append(f"| {name} | {algo} | {cells[0]} | {cells[1]} | "
                     f"{e['nacre']['updates_per_s_median']:.0f} | "
                     f"{e['d3rlpy']['updates_per_s_median']:.0f} | "
                     f"**{e['speed_ratio_median']:.2f}×** |")
    RESULTS.with_suffix(".md").write_text("\n".join(lines) + "\n")


def plot(report: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(report["summary"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(len(keys))
    for i, lib in enumerate(("nacre", "d3rlpy")):
        s = [report["summary"][k][lib]["normalized"] for k in keys]
        iqm = np.array([v["iqm"] for v in s])
        err = np.array([[v["iqm"] - v["iqm_ci95"][0], v["iqm_ci95"][1] - v["iqm"]] for v in s])
        ax1.bar(x + (i - 0.5) * 0.4, iqm, 0.4, yerr=err.T, capsize=3, label=lib)
        ax2.bar(x + (i - 0.5) * 0.4, [report["summary"][k][lib]["updates_per_s_median"]
                                      for k in keys], 0.4, label=lib)
    for ax, title in ((ax1, "normalized score, IQM [95% CI]"), (ax2, "gradient updates/s")):
        ax.set_xticks(x, keys, rotation=20, ha="right", fontsize=8)
        ax.set_title(title)
        ax.legend()
    fig.suptitle(f"offline RL after {report['updates']:,} updates, nacre vs d3rlpy")
    fig.tight_layout()
    fig.savefig(RESULTS.with_suffix(".png"), dpi=120)


if __name__ == "__main__":
    main()
