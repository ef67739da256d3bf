"""Off-policy estimators side by side with Open Bandit Pipeline (obp 0.5), and the coverage of
nacre's bootstrap intervals against a known true value.

The simulator (this file's own): a fixed pool of 10,000 contexts ``x ~ N(0, I_5)``, 10
actions, Bernoulli rewards with ``q(x, a) = σ(x·θ_a + b_a)``; the behaviour policy mixes a
uniform choice (half) with a softmax of a random linear score (so ``π_b ≥ 0.05`` and every
weight ≤ 20), the evaluation policy is a softmax of ``2 (x·θ_a + b_a)`` (it prefers the better
actions, so the two differ). The true value ``mean_pool Σ_a π_e(a|x) q(x, a)`` is exact: the
contexts are drawn uniformly from the pool. The ridge model is linear and ``q`` is not, so DM
is biased here on purpose (as reward models are).

Each of ``--logs`` logs (seeds 0, 1, …) has ``--n`` rows. A ridge regression per action on
``[x, 1]``, fitted on the first half, gives ``q̂``; the estimators run on the second half, so
the reward model is independent of the rows evaluated (the bootstrap holds it fixed).

1. Parity: obp's ``InverseProbabilityWeighting`` (also with ``lambda_``),
   ``SelfNormalizedInverseProbabilityWeighting``, ``DirectMethod``, ``DoublyRobust`` (also with
   ``lambda_``) and ``SwitchDoublyRobust`` run on the same arrays in obp's own interpreter
   (``--obp-python``; obp pins old packages, so it lives in a venv of its own) through a
   subprocess; reported is the largest relative difference per estimator over all logs.
2. Coverage: per estimator, the fraction of logs whose 95 % percentile-bootstrap interval
   (2,000 resamples of rows) holds the true value, and the mean interval width. A stress test:
   the misspecified model biases DM and switch-DR, which no interval around them can repair.
   The acceptance study of coverage, on nacre's own ``bandit/synthetic-linear`` env and with a
   bootstrap that also refits the reward model per resample, is ``ope_coverage.py``.

    python benchmarks/ope_vs_obp.py [--logs 100] [--n 4000] [--obp-python PATH]

Writes benchmarks/results/ope_vs_obp.json and .md. Without obp's interpreter the parity part
is skipped (and said so); coverage still runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HERE, log, machine, versions, write_json  # noqa: E402

DIM, ACTIONS, POOL = 5, 10, 10_000
CLIP, TAU, RIDGE = 15.0, 15.0, 1.0
UNIFORM_SHARE, TARGET_SHARPNESS = 0.5, 2.0
# name → (nacre estimator, its keyword); the parity set also has the clipped forms
ESTIMATORS: dict[str, tuple[str, dict[str, float]]] = {
    "ips": ("ips", {}), "ips_clip": ("ips", {"clip": CLIP}), "snips": ("snips", {}),
    "dm": ("dm", {}), "dr": ("dr", {}), "dr_clip": ("dr", {"clip": CLIP}),
    "switch_dr": ("switch_dr", {"tau": TAU}),
}

OBP_WORKER = """
import json, sys, warnings
import numpy as np
warnings.filterwarnings("ignore")
import obp
from obp.ope import (DirectMethod, DoublyRobust, InverseProbabilityWeighting,
                     SelfNormalizedInverseProbabilityWeighting, SwitchDoublyRobust)
clip, tau = float(sys.argv[3]), float(sys.argv[4])
make = {"ips": InverseProbabilityWeighting, "ips_clip": lambda: InverseProbabilityWeighting(
            lambda_=clip), "snips": SelfNormalizedInverseProbabilityWeighting,
        "dm": DirectMethod, "dr": DoublyRobust, "dr_clip": lambda: DoublyRobust(lambda_=clip),
        "switch_dr": lambda: SwitchDoublyRobust(lambda_=tau)}
data = np.load(sys.argv[1])
out = {name: [] for name in make}
for k in range(int(data["logs"])):
    n = data[f"reward_{k}"].shape[0]
    args = dict(reward=data[f"reward_{k}"], action=data[f"action_{k}"],
                pscore=data[f"propensity_{k}"], action_dist=data[f"target_{k}"][:, :, None],
                estimated_rewards_by_reg_model=data[f"q_hat_{k}"][:, :, None],
                position=np.zeros(n, dtype=int))
    for name, build in make.items():
        out[name].append(float(build().estimate_policy_value(**args)))
json.dump({"values": out, "obp": obp.__version__, "numpy": np.__version__,
           "python": sys.version.split()[0]}, open(sys.argv[2], "w"))
"""


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def simulator(seed: int) -> dict[str, np.ndarray | float]:
    """The context pool, expected rewards, both policies on the pool and the true value."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(POOL, DIM))
    logits = x @ rng.normal(size=(DIM, ACTIONS)) * 0.7 + rng.normal(size=ACTIONS) * 0.5
    q = 1 / (1 + np.exp(-logits))
    behaviour = (UNIFORM_SHARE / ACTIONS
                 + (1 - UNIFORM_SHARE) * softmax(x @ rng.normal(size=(DIM, ACTIONS)) * 0.5))
    target = softmax(TARGET_SHARPNESS * logits)
    return {"x": x, "q": q, "behaviour": behaviour, "target": target,
            "truth": float((target * q).sum(axis=1).mean())}


def ridge_q_hat(x: np.ndarray, action: np.ndarray, reward: np.ndarray,
                x_eval: np.ndarray) -> np.ndarray:
    """``[len(x_eval), ACTIONS]`` predictions of one ridge regression per action on [x, 1]."""
    feats = np.hstack([x, np.ones((len(x), 1))])
    feats_eval = np.hstack([x_eval, np.ones((len(x_eval), 1))])
    q_hat = np.empty((len(x_eval), ACTIONS))
    for a in range(ACTIONS):
        f, r = feats[action == a], reward[action == a]
        w = np.linalg.solve(f.T @ f + RIDGE * np.eye(DIM + 1), f.T @ r)
        q_hat[:, a] = feats_eval @ w
    return q_hat


def logged(sim: dict[str, Any], n: int, seed: int) -> dict[str, np.ndarray]:
    """One log: ``n`` rows; q̂ fitted on the first half, the arrays of the second half."""
    rng = np.random.default_rng(10_000 + seed)
    ctx = rng.integers(0, POOL, size=n)
    pb = sim["behaviour"][ctx]
    action = (pb.cumsum(axis=1) > rng.uniform(size=(n, 1))).argmax(axis=1)
    reward = rng.binomial(1, sim["q"][ctx, action]).astype(np.float64)
    half = n // 2
    q_hat = ridge_q_hat(sim["x"][ctx[:half]], action[:half], reward[:half],
                        sim["x"][ctx[half:]])
    return {"reward": reward[half:], "action": action[half:],
            "propensity": pb[np.arange(half, n), action[half:]],
            "target": sim["target"][ctx[half:]],
            "q_hat": q_hat}


def nacre_estimates(data: dict[str, np.ndarray], resamples: int) -> dict[str, dict[str, Any]]:
    from nacre.eval import ope

    out = {}
    for name, (estimator, kw) in ESTIMATORS.items():
        est = ope.bootstrap_bandit(estimator, data["reward"], data["action"],  # type: ignore[arg-type]
                                   data["propensity"], data["target"], data["q_hat"],
                                   resamples=resamples, seed=0, **kw)
        out[name] = est.to_dict()
    return out


def run_obp(obp_python: Path, logs: list[dict[str, np.ndarray]]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="nacre-obp-") as tmp:
        arrays: dict[str, Any] = {"logs": len(logs)}
        for k, data in enumerate(logs):
            arrays.update({f"{key}_{k}": value for key, value in data.items()})
        np.savez(Path(tmp) / "logs.npz", **arrays)
        t0 = time.perf_counter()
        proc = subprocess.run([str(obp_python), "-c", OBP_WORKER, str(Path(tmp) / "logs.npz"),
                               str(Path(tmp) / "obp.json"), str(CLIP), str(TAU)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout + proc.stderr)
            raise SystemExit(f"obp worker failed ({proc.returncode})")
        out: dict[str, Any] = json.loads((Path(tmp) / "obp.json").read_text())
        out["wall_s"] = time.perf_counter() - t0
    return out


def markdown(rep: dict[str, Any]) -> str:
    lines = [f"### Off-policy estimators: nacre vs Open Bandit Pipeline "
             f"{rep['versions'].get('obp', '(obp skipped)')}", "",
             f"`{rep['command']}` · {rep['logs']} logs of {rep['n']} rows (q̂ fitted on half, "
             f"estimates on the other {rep['n'] // 2}) · true value {rep['truth']:.4f} · "
             f"{rep['date']}", "",
             "| estimator | max rel. diff vs obp | 95% CI coverage | mean CI width | "
             "mean estimate − truth |", "|---|---:|---:|---:|---:|"]
    for name in ESTIMATORS:
        cov = rep["coverage"][name]
        diff = rep["parity"]["max_rel_diff"].get(name) if rep["parity"] else None
        lines.append(f"| {name} | {'skipped' if diff is None else f'{diff:.1e}'} | "
                     f"{cov['coverage']:.0%} | {cov['mean_width']:.4f} | {cov['bias']:+.4f} |")
    lines += ["", f"clip = {CLIP:g} (obp `lambda_`), switch-DR τ = {TAU:g}. Coverage: the "
              "fraction of logs whose interval holds the true value; the intervals resample "
              "rows with q̂ held fixed, so they leave out the reward model's own error, and the "
              "linear q̂ of logistic rewards biases DM and switch-DR. Coverage on nacre's "
              "`bandit/synthetic-linear`, also with q̂ refitted per resample: ope_coverage.md."]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--logs", type=int, default=100)
    p.add_argument("--n", type=int, default=4000, help="rows per log (half fit q̂)")
    p.add_argument("--resamples", type=int, default=2000)
    p.add_argument("--sim-seed", type=int, default=0)
    p.add_argument("--obp-python", type=Path, default=HERE.parent / ".venvs/obp/bin/python",
                   help="obp's interpreter (default: .venvs/obp in the repo, gitignored)")
    args = p.parse_args()
    t_start = time.perf_counter()
    sim = simulator(args.sim_seed)
    logs = [logged(sim, args.n, seed) for seed in range(args.logs)]
    weights = np.concatenate([d["target"][np.arange(len(d["action"])), d["action"]]
                              / d["propensity"] for d in logs])
    log(f"true value {sim['truth']:.4f}; importance weights: mean {weights.mean():.2f}, "
        f"max {weights.max():.1f}")
    t0 = time.perf_counter()
    ours = [nacre_estimates(d, args.resamples) for d in logs]
    nacre_wall = time.perf_counter() - t0
    log(f"nacre: {len(logs)} logs x {len(ESTIMATORS)} estimators with {args.resamples} "
        f"bootstrap resamples in {nacre_wall:.1f} s")
    truth = sim["truth"]
    coverage = {}
    for name in ESTIMATORS:
        est = [o[name] for o in ours]
        coverage[name] = {
            "coverage": float(np.mean([e["low"] <= truth <= e["high"] for e in est])),
            "mean_width": float(np.mean([e["high"] - e["low"] for e in est])),
            "bias": float(np.mean([e["value"] for e in est]) - truth),
            "rmse": float(np.sqrt(np.mean([(e["value"] - truth) ** 2 for e in est])))}
    parity: dict[str, Any] | None = None
    vers = versions(("nacre", "numpy"))
    if args.obp_python.exists():
        theirs = run_obp(args.obp_python, logs)
        vers.update({"obp": theirs["obp"], "obp_numpy": theirs["numpy"],
                     "obp_python": theirs["python"]})
        rel = {name: [abs(o[name]["value"] - t) / max(abs(t), 1e-12)
                      for o, t in zip(ours, theirs["values"][name], strict=True)]
               for name in ESTIMATORS}
        parity = {"max_rel_diff": {name: float(max(r)) for name, r in rel.items()},
                  "obp_values": theirs["values"], "obp_wall_s": theirs["wall_s"],
                  "target": 1e-6, "all_within_target": all(max(r) <= 1e-6 for r in rel.values())}
    else:
        log(f"obp's interpreter {args.obp_python} is missing: parity with obp SKIPPED "
            "(python3 -m venv .venvs/obp; obp 0.5.7 pins Python < 3.11 and torch 1.12: install "
            "numpy<2 scipy<1.14 scikit-learn<1.6 pandas<2.3 matplotlib seaborn tqdm pyyaml "
            "torch==2.13.0 first, then `pip install --no-deps --ignore-requires-python "
            "obp==0.5.7`)")
    report = {
        "benchmark": "ope_vs_obp",
        "command": " ".join(["python", "benchmarks/ope_vs_obp.py", *sys.argv[1:]]),
        "logs": args.logs, "n": args.n, "resamples": args.resamples, "confidence": 0.95,
        "sim_seed": args.sim_seed, "log_seeds": list(range(args.logs)), "truth": truth,
        "clip": CLIP, "tau": TAU, "ridge": RIDGE, "dim": DIM, "actions": ACTIONS, "pool": POOL,
        "behaviour_uniform_share": UNIFORM_SHARE, "target_sharpness": TARGET_SHARPNESS,
        "importance_weights": {"mean": float(weights.mean()), "max": float(weights.max())},
        "parity": parity, "parity_skipped": parity is None, "coverage": coverage,
        "coverage_target": 0.9, "nacre_wall_s": nacre_wall, "nacre": ours,
        "machine": machine(), "versions": vers, "date": time.strftime("%Y-%m-%d"),
        "duration_s": time.perf_counter() - t_start,
    }
    out = HERE / "results" / "ope_vs_obp"
    write_json(out.with_suffix(".json"), report)
    table = markdown(report)
    out.with_suffix(".md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
