"""Replay memory per transition with and without a history summarizer (issue #13's acceptance:
"RSS growth per 1M transitions with LSTM (L = 20) ≤ 1.2× the same buffer without history").

Each variant runs in a fresh interpreter: a replay buffer of 1,000,000 transitions of
partially observed CartPole (2 observation features, Discrete(2) actions, 100 envs × 10,000
steps, episodes of 10–300 steps) is filled, then 256-transition batches are drawn. Reported:
the growth of the process's resident memory from before the buffer was made to after the
draws, per transition, and the median time to draw a batch. With the LSTM summarizer
(``history: {name: lstm, length: 20}``) the buffer is the same ring (``window = 20``,
``marked``): each observation is stored once and the windows are cut when a batch is drawn.
For scale, the bytes a per-transition copy of both windows would need (Pearl stores the history
in each transition) are computed, not measured.

    python benchmarks/history_memory.py [--transitions 1000000]

Writes benchmarks/results/history_memory.json and history_memory.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HERE, log, machine, rss_bytes, spawn, versions, write_json  # noqa: E402

LENGTH = 20
OBS_DIM = 2
ENVS = 100
VARIANTS = {"no history": {"window": 1, "marked": False},
            f"LSTM, L = {LENGTH}": {"window": LENGTH, "marked": True}}


def worker(variant: str, transitions: int) -> dict[str, Any]:
    import torch

    from nacre.data import ReplayBuffer, StepBatch

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    steps = transitions // ENVS
    before = rss_bytes()
    buf = ReplayBuffer(transitions, seed=0, **VARIANTS[variant])
    left = rng.integers(10, 300, ENVS)  # steps until each env's episode ends
    obs = rng.standard_normal((ENVS, OBS_DIM)).astype(np.float32)
    for _ in range(steps):
        nxt = rng.standard_normal((ENVS, OBS_DIM)).astype(np.float32)
        left -= 1
        done = left <= 0
        buf.add(StepBatch(obs, rng.integers(0, 2, ENVS), np.ones(ENVS, np.float32), nxt,
                          done, np.zeros(ENVS, bool)))
        left[done] = rng.integers(10, 300, int(done.sum()))
        obs = nxt
    draws = []
    for _ in range(50):
        t0 = time.perf_counter()
        batch = buf.sample(256)
        draws.append(time.perf_counter() - t0)
    grown = rss_bytes() - before
    return {"variant": variant, "transitions": len(buf), "rss_growth_bytes": grown,
            "bytes_per_transition": grown / len(buf), "sample_ms": 1e3 * float(np.median(draws)),
            "obs_shape": list(batch.obs.shape[1:])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--transitions", type=int, default=1_000_000)
    p.add_argument("--worker")
    p.add_argument("--out")
    args = p.parse_args()
    if args.worker:
        Path(args.out).write_text(json.dumps(worker(args.worker, args.transitions)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        rows = [spawn(__file__, v, Path(tmp), "--transitions", str(args.transitions))
                for v in VARIANTS]
    for r in rows:
        log(f"{r['variant']}: {r['bytes_per_transition']:.1f} B per transition, "
            f"{r['sample_ms']:.2f} ms per 256-batch")
    base, lstm = rows
    ratio = lstm["rss_growth_bytes"] / base["rss_growth_bytes"]
    stored_windows = 2 * LENGTH * (OBS_DIM + 1) * 4  # obs and next_obs windows, float32, marked
    write_json(HERE / "results" / "history_memory.json",
               {"benchmark": "history_memory", "rows": rows, "ratio": ratio,
                "per_transition_windows_bytes": stored_windows, "machine": machine(),
                "versions": versions(), "date": time.strftime("%Y-%m-%d")})
    lines = [f"### Replay memory, {base['transitions']:,} transitions of PO-CartPole", "",
             "| buffer | resident memory growth | per transition | draw a 256-batch (median) |",
             "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['variant']} (samples {r['obs_shape']}) | "
                     f"{r['rss_growth_bytes'] / 2**20:.1f} MiB | "
                     f"{r['bytes_per_transition']:.1f} B | {r['sample_ms']:.2f} ms |")
    lines += ["", f"LSTM / no history: **{ratio:.3f}×** resident memory (target ≤ 1.2×). Storing "
              f"both windows with every transition would add {stored_windows} B per transition "
              f"(computed)."]
    table = "\n".join(lines) + "\n"
    (HERE / "results" / "history_memory.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
