"""Coverage of nacre's bootstrap intervals for bandit off-policy estimates on nacre's own bandit
env, with the reward model held fixed and refitted per resample (issue #16's acceptance: "on
100 simulated logs with known ground truth (nacre's bandit envs), the 95 % intervals cover the
true value in ≥ 90 % of logs").

Env: ``bandit/synthetic-linear`` (:func:`nacre.envs.make.make_bandit_env`, its registered
problem: 10 actions, 16-D contexts ``x ~ N(0, I/16)``, expected rewards ``μ_a(x) = w_a·x`` of
unit variance over contexts, Gaussian reward noise ``noise_std``). A log of ``--n`` rows is one
step of the env with ``num_envs = n``: ``env.reset(seed=log)`` shows ``n`` contexts, the
behaviour policy picks ``n`` actions, ``env.step`` returns their rewards. Log seeds 0…99.

* Behaviour policy (propensities known exactly): ``π_b = ε/K + (1 − ε) softmax(x·W̃ᵀ)`` with
  ``W̃ = W + N(0, 1)`` a noisy copy of the env's weights and ``ε = 0.3`` (so every weight is
  at most ``K/ε ≈ 33``).
* Evaluation policy: ``π_e = softmax(2 μ(x))`` over the env's expected rewards
  (``env.mean_rewards()``): it prefers the better actions, which ``π_b`` only roughly does.
* True value ``E_x Σ_a π_e(a|x) μ_a(x)``: averaged over 1,000,000 contexts from the env (seeds
  apart from the logs'); its Monte Carlo standard error is reported (far below the widths).
* Reward model: a ridge regression per action on ``[x, 1]`` (:func:`nacre.eval.ridge_q`, the
  model of ``nacre ope``) with penalty ``ridge``, cross-fitted on two folds
  (:func:`nacre.eval.cross_fit`).
* Intervals: 95 % percentile bootstrap with ``--resamples`` resamples, *fixed*
  (:func:`nacre.eval.bootstrap_bandit`: rows redrawn, ``q̂`` held) and *refit*
  (:func:`nacre.eval.bootstrap_bandit_refit`: ``q̂`` refitted, cross-fitted, on every resample;
  for DM, DR and switch-DR, the estimators that use it). switch-DR's ``τ`` = 10 (``nacre ope``'s).

Settings (``noise_std`` / ``ridge``): 0.1 / 0.01 is the registered env's noise; 1.0 / 0.01
makes the reward model's own estimation error matter; 0.1 / 1.0 is ``nacre ope``'s default
penalty, heavy next to these small-scale contexts, so that DM is biased (no interval can fix
that).

    python benchmarks/ope_coverage.py [--logs 100] [--n 2000] [--resamples 1000]

Writes benchmarks/results/ope_coverage.json, .md and .png (``--figure-only`` redraws them).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from nacre.envs.bandits import SyntheticLinearBandit
from nacre.envs.make import make_bandit_env
from nacre.eval import bootstrap_bandit, bootstrap_bandit_refit, cross_fit, ridge_q

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HERE, log, machine, versions, write_json  # noqa: E402

ENV_ID = "bandit/synthetic-linear"
ESTIMATORS = ("ips", "snips", "dm", "dr", "switch_dr")
MODEL_BASED = ("dm", "dr", "switch_dr")
SETTINGS = ((0.1, 0.01), (1.0, 0.01), (0.1, 1.0))  # (noise_std, ridge penalty)
EPSILON, TARGET_SHARPNESS, TAU = 0.3, 2.0, 10.0
TRUTH_CONTEXTS, TRUTH_BATCH = 1_000_000, 250_000
RESULTS = HERE / "results"


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def make(num_envs: int, noise_std: float) -> SyntheticLinearBandit:
    env = make_bandit_env(ENV_ID, num_envs, noise_std=noise_std)
    assert isinstance(env, SyntheticLinearBandit)
    return env


class Policies:
    """The behaviour and evaluation policies' action distributions of contexts."""

    def __init__(self, weights: np.ndarray) -> None:
        self.w = weights
        self.w_noisy = weights + np.random.default_rng(1234).standard_normal(weights.shape)

    def behaviour(self, x: np.ndarray) -> np.ndarray:
        k = self.w.shape[0]
        return EPSILON / k + (1 - EPSILON) * softmax(x @ self.w_noisy.T)

    def target(self, mu: np.ndarray) -> np.ndarray:
        return softmax(TARGET_SHARPNESS * mu)


def true_value(policies: Policies) -> tuple[float, float]:
    """``(value, Monte Carlo standard error)`` over ``TRUTH_CONTEXTS`` contexts of the env."""
    env = make(TRUTH_BATCH, 0.0)
    per_context = []
    for k in range(TRUTH_CONTEXTS // TRUTH_BATCH):
        env.reset(seed=1_000_000 + k)
        mu = env.mean_rewards()
        per_context.append((policies.target(mu) * mu).sum(axis=1))
    v = np.concatenate(per_context)
    return float(v.mean()), float(v.std() / np.sqrt(len(v)))


def collect(env: SyntheticLinearBandit, policies: Policies, seed: int) -> dict[str, np.ndarray]:
    """One log: contexts, actions drawn from π_b, their propensities, rewards, and π_e."""
    x = env.reset(seed=seed)
    mu = env.mean_rewards()
    pb = policies.behaviour(x.astype(np.float64))
    rng = np.random.default_rng(10_000 + seed)  # the same actions in every setting
    action = (pb.cumsum(axis=1) > rng.uniform(size=(len(x), 1))).argmax(axis=1)
    reward = env.step(action).reward.astype(np.float64)
    rows = np.arange(len(x))
    return {"obs": x, "action": action, "reward": reward, "propensity": pb[rows, action],
            "target": policies.target(mu)}


def estimate(data: dict[str, np.ndarray], ridge: float, resamples: int,
             seed: int) -> tuple[dict[str, Any], dict[str, Any], float, float]:
    """``(fixed, refit, seconds fixed, seconds refit)``: estimates by name."""
    log_arrays = (data["reward"], data["action"], data["propensity"], data["target"])
    fit = ridge_q(data["target"].shape[1], ridge)
    q_hat = cross_fit(data["obs"], data["action"], data["reward"], fit)
    t0 = time.perf_counter()
    fixed = {name: bootstrap_bandit(name, *log_arrays, q_hat, tau=TAU,  # type: ignore[arg-type]
                                    resamples=resamples, seed=seed).to_dict()
             for name in ESTIMATORS}
    t1 = time.perf_counter()
    refit = bootstrap_bandit_refit(MODEL_BASED, *log_arrays, data["obs"], fit, q_hat, tau=TAU,
                                   resamples=resamples, seed=seed)
    t2 = time.perf_counter()
    return fixed, {k: e.to_dict() for k, e in refit.items()}, t1 - t0, t2 - t1


def summary(estimates: list[dict[str, Any]], truth: float) -> dict[str, float]:
    values = np.array([e["value"] for e in estimates])
    return {"coverage": float(np.mean([e["low"] <= truth <= e["high"] for e in estimates])),
            "mean_width": float(np.mean([e["high"] - e["low"] for e in estimates])),
            "bias": float(values.mean() - truth), "sd": float(values.std(ddof=1)),
            "rmse": float(np.sqrt(np.mean((values - truth) ** 2)))}


def run_setting(noise: float, ridge: float, args: argparse.Namespace, policies: Policies,
                truth: float) -> dict[str, Any]:
    env = make(args.n, noise)
    fixed, refit, wall_fixed, wall_refit = [], [], 0.0, 0.0
    weights = []
    for seed in range(args.logs):
        data = collect(env, policies, seed)
        weights.append(data["target"][np.arange(args.n), data["action"]] / data["propensity"])
        f, r, tf, tr = estimate(data, ridge, args.resamples, seed)
        fixed.append(f)
        refit.append(r)
        wall_fixed, wall_refit = wall_fixed + tf, wall_refit + tr
    w = np.concatenate(weights)
    out = {"noise_std": noise, "ridge": ridge,
           "importance_weights": {"mean": float(w.mean()), "max": float(w.max())},
           "fixed": {name: summary([f[name] for f in fixed], truth) for name in ESTIMATORS},
           "refit": {name: summary([r[name] for r in refit], truth) for name in MODEL_BASED},
           "wall_s": {"fixed": wall_fixed, "refit": wall_refit},
           "per_log": {method: {name: {k: [e[name][k] for e in logs] for k in ("value", "low",
                                                                                "high")}
                                for name in logs[0]}
                       for method, logs in (("fixed", fixed), ("refit", refit))}}
    log(f"noise {noise:g}, ridge {ridge:g}: fixed bootstraps {wall_fixed:.1f} s, refit "
        f"{wall_refit:.1f} s; coverage fixed/refit " + ", ".join(
            f"{n} {out['fixed'][n]['coverage']:.0%}"
            + (f"/{out['refit'][n]['coverage']:.0%}" if n in MODEL_BASED else "")
            for n in ESTIMATORS))
    return out


def miss_chance(rep: dict[str, Any]) -> float:
    """P(an interval of exact 95 % coverage covers in at most the target share of the logs)."""
    n, k = rep["logs"], int(np.floor(rep["coverage_target"] * rep["logs"] + 1e-9))
    return sum(math.comb(n, i) * 0.95 ** i * 0.05 ** (n - i) for i in range(k + 1))


def markdown(rep: dict[str, Any]) -> str:
    lines = [f"### Bootstrap coverage of off-policy estimates on `{rep['env']}`: reward model "
             "fixed vs refitted per resample", "",
             f"`{rep['command']}` · {rep['logs']} logs of {rep['n']:,} rows per setting · "
             f"{rep['resamples']} resamples · true value {rep['truth']:.4f} (± "
             f"{rep['truth_se']:.1e} MC s.e.) · {rep['duration_s']:.0f} s · {rep['date']}", "",
             "| noise / ridge | estimator | coverage fixed | coverage refit | width fixed | "
             "width refit | estimate − truth | sd of estimates |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for s in rep["settings"]:
        for name in ESTIMATORS:
            f, r = s["fixed"][name], s["refit"].get(name)
            lines.append(
                f"| {s['noise_std']:g} / {s['ridge']:g} | {name} | {f['coverage']:.0%} | "
                f"{'—' if r is None else format(r['coverage'], '.0%')} | "
                f"{f['mean_width']:.4f} | {'—' if r is None else format(r['mean_width'], '.4f')}"
                f" | {f['bias']:+.4f} | {f['sd']:.4f} |")
    lines += ["", "Coverage: the fraction of logs whose 95 % interval holds the true value "
              f"(target ≥ {rep['coverage_target']:.0%}; with {rep['logs']} logs an interval "
              f"that truly covers 95 % reads ≤ 90 % with probability {miss_chance(rep):.0%}). "
              "*Fixed*: "
              "`bootstrap_bandit`, rows redrawn with the cross-fitted q̂ held; *refit*: "
              "`bootstrap_bandit_refit`, q̂ cross-fitted again on every resample (IPS and SNIPS "
              "do not use it). A well-calibrated 95 % interval is about 3.9 sd of the "
              "estimates wide. ε = 0.3 (weights ≤ 33), switch-DR τ = 10. Wall time of the "
              "bootstraps per setting (fixed / refit): " + "; ".join(
                  f"{s['noise_std']:g}/{s['ridge']:g}: {s['wall_s']['fixed']:.1f} s / "
                  f"{s['wall_s']['refit']:.1f} s" for s in rep["settings"]) + "."]
    return "\n".join(lines) + "\n"


def figure(rep: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = rep["settings"]
    fig, axes = plt.subplots(len(settings), 2, figsize=(9.6, 2.6 * len(settings)), sharex=True,
                             squeeze=False)
    x = np.arange(len(ESTIMATORS))
    for row, s in zip(axes, settings, strict=True):
        for offset, method, color in ((-0.2, "fixed", "tab:gray"), (0.2, "refit", "tab:blue")):
            cov = [s[method][n]["coverage"] if n in s[method] else np.nan for n in ESTIMATORS]
            wid = [s[method][n]["mean_width"] if n in s[method] else np.nan for n in ESTIMATORS]
            label = "q̂ fixed" if method == "fixed" else "q̂ refitted per resample"
            bars = row[0].bar(x + offset, cov, 0.4, color=color, label=label)
            row[0].bar_label(bars, [f"{c:.0%}" if c == c else "" for c in cov], fontsize=6,
                             padding=1)
            row[1].bar(x + offset, wid, 0.4, color=color, label=label)
        ideal = [3.92 * s["fixed"][n]["sd"] for n in ESTIMATORS]
        row[1].scatter(x, ideal, marker="_", s=400, color="black", zorder=3,
                       label="3.92 × sd of the estimates")
        row[0].axhline(rep["coverage_target"], color="tab:red", ls="--", lw=1,
                       label=f"target {rep['coverage_target']:.0%}")
        row[0].axhline(0.95, color="black", ls=":", lw=1, label="nominal 95%")
        row[0].set_ylim(0, 1.12)
        row[0].set_ylabel(f"noise {s['noise_std']:g}, ridge {s['ridge']:g}\ncoverage")
        row[1].set_ylabel("mean interval width")
    axes[0][0].set_title(f"95% interval coverage, {rep['logs']} logs")
    axes[0][1].set_title("interval width")
    axes[0][0].legend(fontsize=6, loc="lower left", framealpha=0.9)
    axes[0][1].legend(fontsize=7, loc="upper right")
    for ax in axes[-1]:
        ax.set_xticks(x, ESTIMATORS)
    fig.suptitle(f"{rep['env']}: {rep['n']:,} rows per log, true value {rep['truth']:.3f}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--logs", type=int, default=100)
    p.add_argument("--n", type=int, default=2000, help="rows per log")
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--figure-only", action="store_true")
    args = p.parse_args()
    out = RESULTS / "ope_coverage"
    if args.figure_only:
        report = json.loads(out.with_suffix(".json").read_text())
    else:
        t_start = time.perf_counter()
        policies = Policies(make(1, 0.0).weights)
        truth, truth_se = true_value(policies)
        log(f"true value {truth:.4f} ± {truth_se:.1e}")
        settings = [run_setting(noise, ridge, args, policies, truth) for noise, ridge in SETTINGS]
        report = {
            "benchmark": "ope_coverage",
            "command": " ".join(["python", "benchmarks/ope_coverage.py", *sys.argv[1:]]),
            "env": ENV_ID, "logs": args.logs, "n": args.n, "resamples": args.resamples,
            "confidence": 0.95, "coverage_target": 0.9, "log_seeds": list(range(args.logs)),
            "truth": truth, "truth_se": truth_se, "truth_contexts": TRUTH_CONTEXTS,
            "epsilon": EPSILON, "target_sharpness": TARGET_SHARPNESS, "tau": TAU, "folds": 2,
            "settings": settings, "machine": machine(),
            "versions": versions(("nacre", "numpy", "matplotlib")),
            "date": time.strftime("%Y-%m-%d"), "duration_s": time.perf_counter() - t_start,
        }
        write_json(out.with_suffix(".json"), report)
        out.with_suffix(".md").write_text(markdown(report))
    figure(report, out.with_suffix(".png"))
    print(markdown(report))


if __name__ == "__main__":
    main()
