"""torch.compile as a general alternative to hand-derived kernels, for learners without one.

Usage::

    python benchmarks/torch_compile.py            # ~5-10 min on 2 cores (compilation dominates)
    python benchmarks/torch_compile.py --quick    # fewer timed updates

For three learners no kernel of nacre.accel covers — DQN with a dueling head (CartPole sizes),
DDPG (Pendulum sizes, 400-300) and discrete SAC (256-256) — and, as a reference, plain DQN (which
has a kernel), each in a fresh process, one update's time is measured (median of timed blocks
after warm-up, 2 threads) for:

* ``eager``: the readable update as it runs with ``train.accelerate: off`` (every cell times
  its variant against it, in the same process, alternating);
* ``compiled networks``: the same update with every network wrapped in ``torch.compile``
  (inductor, default mode) — the general, learner-agnostic way to apply it (it compiles a
  module's ``forward``; methods such as discrete SAC's ``logits`` stay eager);
* ``compiled update``: ``torch.compile`` of the learner's whole ``learn_batch`` (graph breaks
  where it must), where it runs at all;
* ``kernel``: nacre's hand-derived kernel, where one covers the learner.

The first call's time (compilation) is reported separately. Results:
``benchmarks/results/torch_compile.{json,md}``; the conclusion is in
docs/design/torch-compile.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import log, write_json  # noqa: E402

HERE = Path(__file__).resolve().parent
CASES = ("dqn", "dqn_dueling", "ddpg", "sac_discrete")
MODES = ("compiled_networks", "compiled_update", "kernel")


def build(case: str) -> tuple[Any, Any]:
    """``(learner, batch maker)`` at the sizes of the matching preset."""
    import torch

    from nacre.learners import DDPG, DQN, DiscreteSAC, DiscreteSACConfig
    from nacre.learners.policy.ddpg import DDPGConfig
    from nacre.learners.value.dqn import DQNConfig
    from nacre.networks import (
        CategoricalActorTwinQ,
        DeterministicActor,
        DuelingQHead,
        FlattenEncoder,
        QNetwork,
        TwinQCritic,
        VanillaQHead,
    )
    from nacre.testing import random_batch

    torch.manual_seed(0)
    if case in ("dqn", "dqn_dueling"):
        head = (DuelingQHead if case == "dqn_dueling" else VanillaQHead)(4, 2, (256, 256), "relu")
        learner: Any = DQN(QNetwork(FlattenEncoder((4,)), head), DQNConfig(lr=2.3e-3))
        return learner, lambda g: random_batch(4, 2, 64, generator=g)
    if case == "ddpg":
        actor = DeterministicActor(FlattenEncoder((3,)), 1, (400, 300))
        critic = TwinQCritic(FlattenEncoder((3,)), 1, (400, 300), n_critics=1)
        learner = DDPG(actor, critic, DDPGConfig())
        return learner, lambda g: random_batch(3, 1, 256, generator=g, continuous=True)
    net = CategoricalActorTwinQ(FlattenEncoder((4,)), 2, (256, 256), (256, 256))
    learner = DiscreteSAC(net, DiscreteSACConfig())
    return learner, lambda g: random_batch(4, 2, 256, generator=g)


def compile_networks(learner: Any) -> list[str]:
    """Wrap every network module the learner calls in torch.compile (in place); the names."""
    import torch

    names = []
    for name in ("q", "target", "actor", "critic", "actor_target", "critic_target", "net"):
        module = vars(learner).get(name)
        if isinstance(module, torch.nn.Module):
            setattr(learner, name, torch.compile(module))
            names.append(name)
    return names


def time_blocks(steps: dict[str, Any], batch: Any, updates: int) -> dict[str, list[float]]:
    """Seconds per update of each step function, in alternating blocks (the machine drifts)."""
    import torch

    g = torch.Generator().manual_seed(2)
    out: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(5):
        for name, step in steps.items():
            data = [batch(g) for _ in range(updates)]
            t0 = time.perf_counter()
            for b in data:
                step(b)
            out[name].append((time.perf_counter() - t0) / updates)
    return out


def worker(case: str, mode: str, updates: int) -> dict[str, Any]:
    """``mode`` against eager, both in this process, alternating."""
    import torch

    from nacre.accel import apply_process_settings, kernel_for
    from nacre.threads import configure_threads

    configure_threads(1, 2)
    torch.set_num_threads(2)
    eager, batch = build(case)
    other, _ = build(case)  # the same initial parameters
    step: Any = other.learn_batch
    note = ""
    if mode == "kernel":
        apply_process_settings()
        kernel = kernel_for(other)
        if kernel is None:
            return {"case": case, "mode": mode, "skipped": "no kernel covers this learner"}
        step = lambda b: kernel.learn_batches(b, len(b))  # noqa: E731
    elif mode == "compiled_networks":
        note = "compiled: " + ", ".join(compile_networks(other)) + " (their forward only)"
    elif mode == "compiled_update":
        step = torch.compile(other.learn_batch)
    g = torch.Generator().manual_seed(1)
    try:
        t0 = time.perf_counter()
        step(batch(g))
        first = time.perf_counter() - t0
        for _ in range(20):
            step(batch(g))
            eager.learn_batch(batch(g))
        blocks = time_blocks({"eager": eager.learn_batch, mode: step}, batch, updates)
    except Exception as exc:  # report what failed rather than stop the benchmark
        return {"case": case, "mode": mode, "failed": f"{type(exc).__name__}: {exc}"[:400]}
    return {"case": case, "mode": mode, "first_call_s": first, "note": note,
            "update_s_median": float(np.median(blocks[mode])),
            "eager_update_s_median": float(np.median(blocks["eager"])),
            "blocks": blocks, "threads": torch.get_num_threads()}


def markdown(rep: dict[str, Any]) -> str:
    rows = {(r["case"], r["mode"]): r for r in rep["results"]}

    def cell(case: str, mode: str) -> str:
        r = rows[(case, mode)]
        if "skipped" in r:
            return "—"
        if "failed" in r:
            return "fails"
        ratio = r["eager_update_s_median"] / r["update_s_median"]
        return (f"{r['update_s_median'] * 1e6:,.0f} µs vs {r['eager_update_s_median'] * 1e6:,.0f}"
                f" µs (**{ratio:.2f}×**); first call {r['first_call_s']:.1f} s")

    lines = [
        "### torch.compile against the readable update and nacre's kernels",
        "",
        f"One update of each learner at its preset's sizes; each cell times the variant against "
        f"the readable eager update in the same process, in 5 alternating blocks of "
        f"{rep['config']['updates']} updates after 20 warm-up updates, 2 threads; (×) is the "
        f"speed-up over eager (median of blocks). `{rep['command']}`, "
        f"{rep['started_utc'][:10]}, torch {rep['versions'].get('torch')}.",
        "",
        "| learner | compiled networks vs eager | compiled `learn_batch` | nacre kernel vs eager |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {case} | {cell(case, 'compiled_networks')} | "
              f"{cell(case, 'compiled_update')} | {cell(case, 'kernel')} |" for case in CASES]
    notes = [f"- {r['case']}: {r['note']}" for r in rep["results"] if r.get("note")]
    failures = [f"- {r['case']}, {r['mode']}: {r['failed'].splitlines()[0]}"
                for r in rep["results"] if "failed" in r]
    return "\n".join([*lines, "", *notes, "", *(["Failures:", "", *failures, ""]
                                                if failures else [])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out-dir", default=str(HERE / "results"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--updates", type=int, default=100, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        write_json(args.out, worker(args.worker, args.mode, args.updates))
        return
    updates = 20 if args.quick else 100
    started = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    t_start = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="compile-bench-") as tmp:
        for case in CASES:
            for mode in MODES:
                r = harness.spawn(__file__, case, Path(tmp), "--mode", mode,
                                  "--updates", str(updates))
                log(f"  {case:13s} {mode:18s} " + (
                    f"{r['update_s_median'] * 1e6:8.0f} µs vs eager "
                    f"{r['eager_update_s_median'] * 1e6:8.0f} µs, first {r['first_call_s']:.1f} s"
                    if "update_s_median" in r else r.get("failed", r.get("skipped", ""))[:120]))
                results.append(r)
    report = {"config": {"updates": updates, "cases": CASES, "modes": MODES},
              "results": results}

    def no_plot(rep: dict[str, Any], path: Path) -> None:
        pass

    harness.write_report(report, "torch_compile", args.quick, args.out_dir, markdown, no_plot,
                         [], started, t_start)


if __name__ == "__main__":
    main()
