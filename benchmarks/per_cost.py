"""What prioritized replay costs per batch, next to uniform sampling (issue #13's acceptance:
"sum-tree sample+update cost per batch reported vs uniform sampling").

For each capacity, a :class:`~nacre.data.PrioritizedReplayBuffer` and a uniform
:class:`~nacre.data.ReplayBuffer` are filled with the same CartPole-sized transitions (4 float32
observations) and the prioritized one is given random priorities, as after training. Timed, one
thread, median over the repeats:

- ``uniform``: ``ReplayBuffer.sample(batch)``;
- ``per_sample``: ``PrioritizedReplayBuffer.sample(batch)`` (stratified sum-tree descent, the
  same gather, importance weights);
- ``per_update``: ``update_priorities(batch.index, td_error)``;
- ``per_total``: the two together — what one gradient step of prioritized replay adds to its
  update, against ``uniform``.

    python benchmarks/per_cost.py [--batch 64] [--repeats 300] [--capacities 100000 1000000]

Writes benchmarks/results/per_cost.json and per_cost.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nacre.data import PrioritizedReplayBuffer, ReplayBuffer, StepBatch

HERE = Path(__file__).resolve().parent
FILL_ENVS = 1000  # rows of 1,000 transitions: a 1e6 buffer fills in a second


def fill(buf: ReplayBuffer, capacity: int, rng: np.random.Generator) -> None:
    for _ in range(capacity // FILL_ENVS):
        obs = rng.standard_normal((FILL_ENVS, 4), dtype=np.float32)
        buf.add(StepBatch(obs, rng.integers(0, 2, FILL_ENVS), np.ones(FILL_ENVS, np.float32),
                          obs + 0.1, np.zeros(FILL_ENVS, bool), np.zeros(FILL_ENVS, bool)))


def median_us(fn: Callable[[], Any], repeats: int) -> float:
    for _ in range(10):  # warm up
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def measure(capacity: int, batch: int, repeats: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    uniform = ReplayBuffer(capacity, seed=0)
    per = PrioritizedReplayBuffer(capacity, seed=0)
    fill(uniform, capacity, rng)
    fill(per, capacity, np.random.default_rng(0))
    per.update_priorities(torch.arange(capacity), torch.from_numpy(rng.exponential(size=capacity)))
    td = torch.from_numpy(rng.standard_normal(batch).astype(np.float32))
    last = per.sample(batch)

    def per_sample() -> None:
        nonlocal last
        last = per.sample(batch)

    def per_update() -> None:
        assert last.index is not None
        per.update_priorities(last.index, td)

    def per_total() -> None:
        b = per.sample(batch)
        assert b.index is not None
        per.update_priorities(b.index, td)

    row = {
        "capacity": capacity,
        "batch": batch,
        "uniform_us": median_us(lambda: uniform.sample(batch), repeats),
        "per_sample_us": median_us(per_sample, repeats),
        "per_update_us": median_us(per_update, repeats),
        "per_total_us": median_us(per_total, repeats),
        "tree_depth": per.tree.depth,
        "tree_mib": (per.tree.sums.nbytes + per.tree.mins.nbytes) / 2**20,
    }
    row["ratio"] = row["per_total_us"] / row["uniform_us"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--capacities", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [measure(c, args.batch, args.repeats) for c in args.capacities]
    head = ("| capacity | uniform sample | PER sample | PER update | PER sample+update | ratio |"
            "\n|---:|---:|---:|---:|---:|---:|")
    lines = [f"| {r['capacity']:,} | {r['uniform_us']:.0f} µs | {r['per_sample_us']:.0f} µs | "
             f"{r['per_update_us']:.0f} µs | {r['per_total_us']:.0f} µs | {r['ratio']:.1f}x |"
             for r in rows]
    table = "\n".join([head, *lines])
    print(table)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    meta = {"batch": args.batch, "repeats": args.repeats, "threads": 1,
            "machine": platform.processor() or platform.machine(),
            "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__}
    (out / "per_cost.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    (out / "per_cost.md").write_text(
        f"# Prioritized replay: cost per batch of {args.batch} vs uniform sampling\n\n"
        f"Medians of {args.repeats} repeats, one thread, CartPole-sized transitions "
        "(`benchmarks/per_cost.py`). PER sample+update is what one gradient step of "
        "prioritized replay costs in the buffer, against a uniform sample.\n\n" + table + "\n")


if __name__ == "__main__":
    main()
