"""Memory and per-update cost of LinUCB over 1M decisions+updates: both must stay flat.

    python benchmarks/bandit_memory.py            # 1,000,000 decisions (~1 min)
    python benchmarks/bandit_memory.py --quick    # 100,000

Disjoint LinUCB (d = 64 context features, 10 arms) on the synthetic linear bandit, B = 1, through
the Agent API (act → env.step → observe → learn with the online buffer). Every block of
``decisions / 20`` decisions records the wall time per decision and the process's resident
memory. Incremental ridge updates keep ``A⁻¹`` (float64, 10 × 65 × 65) and never store the
decisions, so neither may grow: reported are the median time per decision of the last quarter of
blocks over the first quarter's (after the warm-up block; medians, so that one preempted block
does not decide), the last block over the second, the least-squares slope of time per decision
against decisions, and the resident-memory growth from the second block to the last.
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

from harness import log, rss_bytes, write_report  # noqa: E402


def measure(decisions: int, blocks: int = 20, seed: int = 0) -> dict[str, Any]:
    import nacre
    from nacre.threads import configure_threads

    configure_threads(1, 1)
    cfg = nacre.RunConfig.from_dict({
        "seed": seed,
        "env": {"id": "bandit/synthetic-linear", "kwargs": {"context_dim": 64, "n_actions": 10}},
        "learner": {"name": "disjoint_linear_bandit", "l2": 1.0},
        "exploration": {"name": "ucb", "alpha": 0.2},
        "buffer": {"name": "online"},
        "train": {"steps": decisions, "learning_starts": 0, "batch_size": 1},
    })
    run = nacre.build(cfg)
    env, agent = run.env, run.agent
    obs = env.reset(seed=seed)
    agent.reset(obs, env.action_space)
    per_block = decisions // blocks
    rows = []
    regret = 0.0
    for block in range(blocks):
        t0 = time.perf_counter()
        for _ in range(per_block):
            result = env.step(agent.act())
            agent.observe(result)
            agent.learn(1)
            regret += float(result.regret[0])  # type: ignore[index]
        dt = time.perf_counter() - t0
        rows.append({"decisions": (block + 1) * per_block, "us_per_decision": dt / per_block * 1e6,
                     "rss_mib": rss_bytes() / 2**20})
        log(f"{rows[-1]['decisions']:>9,} decisions: {rows[-1]['us_per_decision']:.1f} µs, "
            f"RSS {rows[-1]['rss_mib']:.1f} MiB")
    learner_bytes = sum(t.numel() * t.element_size() for t in agent.learner.state_dict().values())
    steady = rows[1:]  # the first block includes warm-up (allocator, caches)
    x = np.array([r["decisions"] for r in steady], dtype=np.float64)
    y = np.array([r["us_per_decision"] for r in steady])
    slope = float(np.polyfit(x / 1e6, y, 1)[0])
    quarter = max(1, len(y) // 4)  # medians of quarters: one preempted block moves neither
    return {
        "decisions": per_block * blocks, "blocks": rows, "learner_state_bytes": learner_bytes,
        "last_over_first_time": steady[-1]["us_per_decision"] / steady[0]["us_per_decision"],
        "last_over_first_quarter_time": float(np.median(y[-quarter:]) / np.median(y[:quarter])),
        "median_us_per_decision": float(np.median(y)),
        "time_slope_us_per_million": slope,
        "rss_growth_mib": steady[-1]["rss_mib"] - steady[0]["rss_mib"],
        "average_regret": regret / (per_block * blocks),
    }


def markdown(rep: dict[str, Any]) -> str:
    m = rep["result"]
    return "\n".join([
        f"# LinUCB over {m['decisions']:,} decisions+updates (d = 64, 10 arms, B = 1)", "",
        "| measure | value |", "|---|---|",
        f"| median time per decision+update | {m['median_us_per_decision']:.1f} µs |",
        f"| median time of the last quarter of blocks / of the first (after warm-up) | "
        f"{m['last_over_first_quarter_time']:.3f} |",
        f"| last block / second block (time; the first holds warm-up) | "
        f"{m['last_over_first_time']:.3f} |",
        f"| slope of time per decision | {m['time_slope_us_per_million']:+.2f} µs per million |",
        f"| resident memory growth, second → last block | {m['rss_growth_mib']:+.2f} MiB |",
        f"| learner state | {m['learner_state_bytes']:,} bytes |",
        f"| average regret | {m['average_regret']:.4f} |", ""])


def plot(rep: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = rep["result"]["blocks"]
    x = [r["decisions"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
    a.plot(x, [r["us_per_decision"] for r in rows], "o-")
    a.set_ylabel("µs per decision+update")
    a.set_ylim(bottom=0)
    b.plot(x, [r["rss_mib"] for r in rows], "o-")
    b.set_ylabel("resident memory (MiB)")
    b.set_ylim(bottom=0)
    for ax in (a, b):
        ax.set_xlabel("decisions")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="100,000 decisions")
    p.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = p.parse_args(argv)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    rep = {"result": measure(100_000 if args.quick else 1_000_000)}
    write_report(rep, "bandit_memory", args.quick, args.out, markdown, plot, None, started, t0)


if __name__ == "__main__":
    main()
