"""Contextual bandits side by side with Vowpal Wabbit on identical streams.

    python benchmarks/bandits_vw.py            # 3 streams x 5 seeds, every explorer (~10 min)
    python benchmarks/bandits_vw.py --quick    # 1 seed, 2,000 decisions per stream

Streams: the digits and wine classification bandits (scikit-learn's sets, reward 1 for the right
label; Bietti, Agarwal & Langford 2021) and the synthetic linear bandit (d = 16, 10 arms, Gaussian
noise 0.1, known regret). Each run makes ``T`` decisions one at a time (B = 1); nacre and VW see
the same contexts in the same order (the environment draws contexts from their own seeded
stream, independent of the actions), and every nacre and VW explorer runs on every seed.

Reported per stream and explorer: the average reward over the ``T`` decisions (progressive
validation: every reward counts, exploration included) as IQM and mean with 95% bootstrap CIs
over seeds, the average regret on the synthetic stream, and decisions+updates per second — with
the environment (same env for both) and without it (the env's own time subtracted, measured in
the same loop). Then LinUCB's throughput (d = 64, 10 arms: the digits stream) at B = 1 and
batched at B = 256, and the VW ratio.

Hyper-parameters are fixed across streams (no per-stream tuning, for either library): VW's
explorers are the bake-off's best fixed configurations or VW's defaults (see ``vw_peer.py``);
nacre's UCB α and Thompson scale were chosen on seeds 100-102 of the digits stream — other
orders of the same 1,797 rows, so nacre was tuned on the digits data set, VW was not.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import log, write_report  # noqa: E402
from vw_peer import VWAgent  # noqa: E402

from nacre.eval import stats  # noqa: E402

STREAMS: dict[str, dict[str, Any]] = {
    "digits": {"id": "bandit/digits", "steps": 1797 * 5},  # 5 passes
    "wine": {"id": "bandit/wine", "steps": 10_000},  # 178 rows: ~56 passes
    "synthetic": {"id": "bandit/synthetic-linear", "steps": 10_000},
}

# nacre explorers, all over the same per-arm ridge models except the neural-linear one.
_DISJOINT: dict[str, Any] = {"name": "disjoint_linear_bandit", "l2": 1.0}
NACRE: dict[str, dict[str, Any]] = {
    "linucb": {"learner": _DISJOINT, "exploration": {"name": "ucb", "alpha": 0.2}},
    "lints": {"learner": _DISJOINT, "exploration": {"name": "thompson", "scale": 0.05}},
    "squarecb": {"learner": _DISJOINT, "exploration": {"name": "squarecb"}},
    "epsilon": {"learner": _DISJOINT,
                "exploration": {"name": "epsilon_greedy", "start": 0.05, "end": 0.05}},
    "neural-lints": {"learner": {"name": "neural_linear_bandit", "hidden": [64], "lr": 0.001,
                                 "discount": 0.9999},
                     "exploration": {"name": "thompson", "scale": 0.3},
                     "buffer": {"name": "replay", "capacity": 10_000},
                     "train": {"batch_size": 32, "learning_starts": 64}},
}
VW = ("epsilon", "squarecb", "bag", "cover")


def nacre_config(stream: str, explorer: str, seed: int, num_envs: int = 1) -> Any:
    import nacre

    spec = NACRE[explorer]
    train = {"steps": STREAMS[stream]["steps"], "learning_starts": 0, "batch_size": num_envs,
             **spec.get("train", {})}
    return nacre.RunConfig.from_dict({
        "seed": seed, "env": {"id": STREAMS[stream]["id"], "num_envs": num_envs},
        "learner": spec["learner"], "exploration": spec["exploration"],
        "buffer": spec.get("buffer", {"name": "online"}), "train": train,
    })


def run_nacre(stream: str, explorer: str, seed: int, steps: int,
              num_envs: int = 1) -> dict[str, Any]:
    """``steps`` decisions through the Agent API (act → env.step → observe → learn)."""
    import nacre
    from nacre.threads import configure_threads

    configure_threads(1, 1)
    cfg = nacre_config(stream, explorer, seed, num_envs)
    run = nacre.build(cfg)
    env, agent = run.env, run.agent
    batch, starts = cfg.train.batch_size, cfg.train.learning_starts
    obs = env.reset(seed=seed)
    agent.reset(obs, env.action_space, env.available)
    rewards = np.empty(steps)
    regrets = np.empty(steps)
    env_s = 0.0
    rounds = steps // num_envs
    pc = time.perf_counter
    t0 = pc()
    for i in range(rounds):
        action = agent.act()
        e0 = pc()
        result = env.step(action)
        env_s += pc() - e0
        agent.observe(result)
        if agent.env_steps > starts:
            agent.learn(batch)
        rewards[i * num_envs:(i + 1) * num_envs] = result.reward
        regrets[i * num_envs:(i + 1) * num_envs] = result.regret
    wall = pc() - t0
    return _summary(rewards[: rounds * num_envs], regrets[: rounds * num_envs], wall, env_s)


def run_vw(stream: str, explorer: str, seed: int, steps: int) -> dict[str, Any]:
    """The same stream through VW, one decision and one update at a time."""
    import torch

    from nacre.envs.make import make_bandit_env

    env = make_bandit_env(STREAMS[stream]["id"], 1)
    obs = env.reset(seed=seed)
    agent = VWAgent(explorer, env.action_space.n, seed)  # type: ignore[union-attr]
    rewards = np.empty(steps)
    regrets = np.empty(steps)
    env_s = 0.0
    pc = time.perf_counter
    t0 = pc()
    for i in range(steps):
        context = obs[0]
        action, prob, _ = agent.act(context)
        chosen = torch.tensor([action])  # the same argument type as nacre's: same env path
        e0 = pc()
        result = env.step(chosen)
        env_s += pc() - e0
        reward = float(result.reward[0])
        agent.learn(context, action, reward, prob)
        rewards[i] = reward
        regrets[i] = float(result.regret[0])  # type: ignore[index]
        obs = result.obs
    wall = pc() - t0
    agent.close()
    return _summary(rewards, regrets, wall, env_s)


def _summary(rewards: np.ndarray, regrets: np.ndarray, wall: float,
             env_s: float) -> dict[str, Any]:
    n = rewards.shape[0]
    # the running average at 50 points, for the learning curves
    marks = np.unique(np.linspace(1, n, 50).astype(int))
    running = np.cumsum(rewards)[marks - 1] / marks
    return {"average_reward": float(rewards.mean()), "average_regret": float(regrets.mean()),
            "decisions": n, "wall_s": wall, "env_s": env_s,
            "per_s": n / wall, "per_s_without_env": n / max(wall - env_s, 1e-9),
            "curve_t": marks.tolist(), "curve": running.tolist()}


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("average_reward", "average_regret"):
        x = np.array([r[key] for r in runs])
        point, low, high = stats.stratified_bootstrap_ci(x, stats.iqm)
        m, m_low, m_high = stats.stratified_bootstrap_ci(x, stats.mean)
        out[key] = {"iqm": point, "iqm_ci": [low, high], "mean": m, "mean_ci": [m_low, m_high],
                    "runs": x.tolist()}
    for key in ("per_s", "per_s_without_env"):
        out[key] = float(np.median([r[key] for r in runs]))
    return out


def run_streams(seeds: Sequence[int], steps_cap: int | None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for stream, spec in STREAMS.items():
        steps = spec["steps"] if steps_cap is None else min(spec["steps"], steps_cap)
        per: dict[str, list[dict[str, Any]]] = {}
        for seed in seeds:  # alternate the libraries within each seed: drift hits both alike
            for explorer in NACRE:
                per.setdefault(f"nacre/{explorer}", []).append(
                    run_nacre(stream, explorer, seed, steps))
            for explorer in VW:
                per.setdefault(f"vw/{explorer}", []).append(run_vw(stream, explorer, seed, steps))
            log(f"{stream} seed {seed}: " + ", ".join(
                f"{k} {v[-1]['average_reward']:.3f}" for k, v in per.items()))
        table = {k: aggregate(v) for k, v in per.items()}
        best = {lib: max((k for k in table if k.startswith(lib + "/")),
                         key=lambda k: table[k]["average_reward"]["iqm"])
                for lib in ("nacre", "vw")}
        nacre_best = table[best["nacre"]]["average_reward"]
        vw_best = table[best["vw"]]["average_reward"]
        results[stream] = {
            "steps": steps, "runs": per, "table": table, "best": best,
            "nacre_best_within_or_above_vw_ci": nacre_best["iqm"] >= vw_best["iqm_ci"][0],
            "ratio_best_linucb_per_s_vs_vw_best": (
                table["nacre/linucb"]["per_s"] / table[best["vw"]]["per_s"]),
        }
    return results


def throughput(seeds: Sequence[int], steps: int) -> dict[str, Any]:
    """LinUCB on the digits stream (d = 64, 10 arms): B = 1, B = 256, and VW's explorers."""
    out: dict[str, Any] = {"steps": steps}
    rows: dict[str, list[float]] = {}
    for seed in seeds:
        b1 = run_nacre("digits", "linucb", seed, steps)
        b256 = run_nacre("digits", "linucb", seed, steps, num_envs=256)
        for key, res in (("nacre_linucb_b1", b1), ("nacre_linucb_b256", b256)):
            rows.setdefault(key, []).append(res["per_s"])
            rows.setdefault(key + "_without_env", []).append(res["per_s_without_env"])
        for explorer in VW:
            res = run_vw("digits", explorer, seed, steps)
            rows.setdefault(f"vw_{explorer}", []).append(res["per_s"])
            rows.setdefault(f"vw_{explorer}_without_env", []).append(res["per_s_without_env"])
    out["per_s"] = {k: float(np.median(v)) for k, v in rows.items()}
    out["raw"] = rows
    vw_fastest = max(out["per_s"][f"vw_{e}"] for e in VW)
    out["ratio_b1_vs_fastest_vw"] = out["per_s"]["nacre_linucb_b1"] / vw_fastest
    out["ratio_b256_vs_fastest_vw"] = out["per_s"]["nacre_linucb_b256"] / vw_fastest
    return out


def _ci(entry: dict[str, Any], digits: int = 3) -> str:
    low, high = entry["iqm_ci"]
    return f"{entry['iqm']:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def markdown(rep: dict[str, Any]) -> str:
    lines = [f"# Contextual bandits: nacre vs Vowpal Wabbit ({rep['seeds']} seeds, B = 1)", ""]
    for stream, res in rep["streams"].items():
        synthetic = stream == "synthetic"
        lines += [f"## {stream} (T = {res['steps']:,})", "",
                  "| explorer | average reward, IQM [95% CI] | mean"
                  + (" | average regret, IQM" if synthetic else "")
                  + " | decisions+updates/s | without env |",
                  "|---|---|---|" + ("---|" if synthetic else "") + "---|---|"]
        for name, row in res["table"].items():
            mark = " **(best)**" if name in res["best"].values() else ""
            lines.append(f"| {name}{mark} | {_ci(row['average_reward'])} | "
                         f"{row['average_reward']['mean']:.3f} | "
                         + (f"{_ci(row['average_regret'])} | " if synthetic else "")
                         + f"{row['per_s']:,.0f} | {row['per_s_without_env']:,.0f} |")
        verdict = "yes" if res["nacre_best_within_or_above_vw_ci"] else "NO"
        lines += ["", f"nacre's best ({res['best']['nacre']}) at or above the low end of VW's "
                  f"best ({res['best']['vw']}) CI: **{verdict}**", ""]
    thr = rep["throughput"]
    p = thr["per_s"]
    lines += ["## Throughput: LinUCB, d = 64, 10 arms (digits), decisions+updates per second", "",
              "| who | with env | without env |", "|---|---|---|",
              f"| nacre LinUCB, B = 1 | {p['nacre_linucb_b1']:,.0f} | "
              f"{p['nacre_linucb_b1_without_env']:,.0f} |",
              f"| nacre LinUCB, B = 256 | {p['nacre_linucb_b256']:,.0f} | "
              f"{p['nacre_linucb_b256_without_env']:,.0f} |"]
    lines += [f"| VW {e}, B = 1 | {p[f'vw_{e}']:,.0f} | {p[f'vw_{e}_without_env']:,.0f} |"
              for e in VW]
    lines += ["", f"Ratio nacre LinUCB / fastest VW explorer: B = 1 "
              f"{thr['ratio_b1_vs_fastest_vw']:.2f}x, "
              f"B = 256 {thr['ratio_b256_vs_fastest_vw']:.2f}x (medians of {rep['seeds']} runs "
              f"of {thr['steps']:,} decisions).", ""]
    return "\n".join(lines)


def plot(rep: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    streams = rep["streams"]
    fig, axes = plt.subplots(1, len(streams), figsize=(5 * len(streams), 4))
    for ax, (stream, res) in zip(np.atleast_1d(axes), streams.items(), strict=True):
        for name, runs in res["runs"].items():
            t = np.array(runs[0]["curve_t"])
            curves = np.array([r["curve"] for r in runs])
            mean = curves.mean(0)
            low, high = np.percentile(curves, [2.5, 97.5], axis=0)
            style = "-" if name.startswith("nacre") else "--"
            ax.plot(t, mean, style, label=name, lw=1.2)
            ax.fill_between(t, low, high, alpha=0.12)
        ax.set_title(f"{stream}: running average reward")
        ax.set_xlabel("decisions")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 seed, 2,000 decisions per stream")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = p.parse_args(argv)
    seeds = list(range(1 if args.quick else args.seeds))
    cap = 2_000 if args.quick else None
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    rep: dict[str, Any] = {"seeds": len(seeds), "nacre_explorers": NACRE, "vw_explorers": VW}
    rep["streams"] = run_streams(seeds, cap)
    rep["throughput"] = throughput(seeds, 2_000 if args.quick else 1797 * 5)
    write_report(rep, "bandits_vw", args.quick, args.out, markdown, plot,
                 {"vw": "vowpalwabbit 9.11.9 --cb_explore_adf (benchmarks/vw_peer.py)"},
                 started, t0)


if __name__ == "__main__":
    main()

