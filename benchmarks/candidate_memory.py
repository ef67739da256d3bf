"""Replay memory with dynamic action sets (issue #15's acceptance: "RSS growth for 1M transitions
with 100 candidates of 32 features drawn from a 100k catalogue ≤ 1.2× the raw bytes of what is
stored; report Pearl's padded layout for the same setting computed from its tensor shapes").

One fresh interpreter fills a replay buffer with 1,000,000 transitions (100 envs × 10,000
steps, 16 observation features, Discrete(100) slot actions); every step offers each env 100
candidates drawn from a catalogue of 100,000 items with 32 float32 features (the catalogue is
made before the measurement starts: it is held once, by the action space, whatever the
buffer). Then 256-transition batches are drawn and their candidates looked up in the catalogue,
as the agent does before a learner reads them. Reported: the growth of the process's resident
memory from before the buffer was made to after the draws, against the bytes the buffer's
arrays hold (``ReplayBuffer.nbytes``: observations, actions, rewards, flags, propensities, the
candidate ids as int32 and masks, once per row), and the median time to draw and represent a
batch.

Pearl's padded layout is computed, not measured: its replay buffer keeps, per transition, the
current and the next available-action tensors padded to ``max_number_actions × action_dim``
float32 and two boolean masks ``[max_number_actions]`` (plus the same observations).

    python benchmarks/candidate_memory.py [--transitions 1000000]

Writes benchmarks/results/candidate_memory.json and candidate_memory.md.
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

ENVS, OBS_DIM, K, D, CATALOGUE = 100, 16, 100, 32, 100_000


def worker(transitions: int) -> dict[str, Any]:
    import torch

    from nacre.actions import CandidateBatches, IdentityActionRepresentation
    from nacre.data import ReplayBuffer, StepBatch
    from nacre.spaces import AvailableActions, DiscreteActionSpace

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    space = DiscreteActionSpace(K, catalogue=torch.randn(CATALOGUE, D))
    prepare = CandidateBatches(IdentityActionRepresentation().represent)
    prepare.space = space
    # each step's sets, drawn ahead from a pool so that drawing does not dominate the fill
    pool_items = torch.from_numpy(rng.integers(0, CATALOGUE, (64, ENVS, K)))
    pool_masks = torch.from_numpy(rng.random((64, ENVS, K)) < 0.9)
    obs = rng.standard_normal((ENVS, OBS_DIM)).astype(np.float32)
    steps = transitions // ENVS
    before = rss_bytes()
    buf = ReplayBuffer(transitions, seed=0, action_space=space)
    available = AvailableActions(pool_masks[0], items=pool_items[0])
    for t in range(steps):
        following = AvailableActions(pool_masks[(t + 1) % 64], items=pool_items[(t + 1) % 64])
        nxt = rng.standard_normal((ENVS, OBS_DIM)).astype(np.float32)
        action = rng.integers(0, K, ENVS)
        buf.add(StepBatch(obs, action, np.ones(ENVS, np.float32), nxt,
                          rng.random(ENVS) < 0.02, np.zeros(ENVS, bool),
                          available=available, next_available=following))
        obs, available = nxt, following
    draws = []
    for _ in range(50):
        t0 = time.perf_counter()
        batch = prepare(buf.sample(256))
        draws.append(time.perf_counter() - t0)
    grown = rss_bytes() - before
    assert batch.candidates is not None and batch.next_candidates is not None
    return {"transitions": len(buf), "rss_growth_bytes": grown, "stored_bytes": buf.nbytes,
            "ratio": grown / buf.nbytes, "bytes_per_transition": grown / len(buf),
            "stored_per_transition": buf.nbytes / len(buf),
            "sample_ms": 1e3 * float(np.median(draws)),
            "batch_candidates_shape": list(batch.candidates.shape)}


def pearl_bytes(transitions: int) -> dict[str, int]:
    """Pearl's per-transition tensors for the same setting (float32 observations as ours)."""
    padded = 2 * transitions * K * D * 4  # current and next available actions, float32
    masks = 2 * transitions * K  # current and next action masks, bool
    observations = 2 * transitions * OBS_DIM * 4
    return {"padded_actions": padded, "masks": masks, "observations": observations,
            "total": padded + masks + observations}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--transitions", type=int, default=1_000_000)
    p.add_argument("--worker")
    p.add_argument("--out")
    args = p.parse_args()
    if args.worker:
        Path(args.out).write_text(json.dumps(worker(args.transitions)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        row = spawn(__file__, "fill", Path(tmp), "--transitions", str(args.transitions))
    pearl = pearl_bytes(row["transitions"])
    log(f"{row['bytes_per_transition']:.1f} B per transition resident, "
        f"{row['stored_per_transition']:.1f} B stored, ratio {row['ratio']:.3f}")
    write_json(HERE / "results" / "candidate_memory.json",
               {"benchmark": "candidate_memory", "row": row, "pearl_computed": pearl,
                "setting": {"envs": ENVS, "obs_dim": OBS_DIM, "candidates": K,
                            "features": D, "catalogue": CATALOGUE},
                "machine": machine(), "versions": versions(), "date": time.strftime("%Y-%m-%d")})
    n = row["transitions"]
    lines = [f"### Replay memory with dynamic action sets, {n:,} transitions", "",
             f"{K} candidates per step from a {CATALOGUE:,}-item catalogue of {D} float32 "
             f"features; {OBS_DIM} observation features; {ENVS} envs.", "",
             "| layout | bytes | per transition |", "|---|---:|---:|",
             f"| nacre: stored (`ReplayBuffer.nbytes`) | {row['stored_bytes'] / 2**20:,.1f} MiB | "
             f"{row['stored_per_transition']:.1f} B |",
             f"| nacre: resident memory growth (measured) | {row['rss_growth_bytes'] / 2**20:,.1f}"
             f" MiB | {row['bytes_per_transition']:.1f} B |",
             f"| Pearl's padded layout (computed from its tensor shapes) | "
             f"{pearl['total'] / 2**20:,.1f} MiB | {pearl['total'] / n:,.1f} B |", "",
             f"Resident growth / stored bytes: **{row['ratio']:.3f}×** (target ≤ 1.2×). "
             f"Pearl's layout / nacre's resident growth: "
             f"**{pearl['total'] / row['rss_growth_bytes']:.1f}×**. "
             f"Drawing a 256-batch and looking up its candidates' features "
             f"({row['batch_candidates_shape']}, current and next): "
             f"{row['sample_ms']:.2f} ms (median of 50)."]
    table = "\n".join(lines) + "\n"
    (HERE / "results" / "candidate_memory.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
