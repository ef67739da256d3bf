"""Env-bound training scaled out with Ray collectors (issue #17's acceptance: "with a 2 ms env
step, 2 collectors give >= 1.6x the env-steps/s of 1").

The workload is DQN (the ``cartpole-dqn`` preset: RL-Zoo schedule, 256-256 network, one learning
thread) on ``nacre/SlowCartPole-v0``, CartPole whose every step first spends 2 ms
(:class:`nacre.envs.slow.SlowCartPole`). The main case *busy-waits* those 2 ms: a simulator
computing its next state holds a core, so it is the honest CPU-bound case, and the one where
collectors on more cores must pay off. ``time.sleep`` (``--sleep`` cases, on by default) is the
I/O-bound case — an env waiting on a remote service or a robot — shown for contrast: its waits
would overlap even on one core.

Variants, alternating within each repeat, in one process with one local Ray instance
(``num_cpus=2``, the machine's cores; each collector reserves one):

- ``in-process``: the ordinary loop (``train.sync_every: 0``), the baseline;
- ``ray x1`` / ``ray x2``: ``train.backend: ray`` with 1 or 2 collectors, weights synced
  every ``--sync-every`` env steps.

Each run's env-steps/s is measured in its steady part: from the first log row at or after
``--warm`` steps (learning has started; Ray actors are up) to the last. Within that window the
time the learner spends waiting for collectors (``collect``) and the rest (``learner``: storing
steps, training rounds, logging — serial in this synchronous design) are recorded, which gives
how it would scale past 2 cores (Amdahl, from the ``ray x1`` runs): with ``N`` collectors on
``N`` cores, ``speedup(N) = (c + d) / (c / N + d)`` where ``c`` and ``d`` are the collection and
learner seconds per env step with one collector.

    python benchmarks/ray_scaling.py [--steps 6000] [--repeats 3] [--no-sleep]

Writes benchmarks/results/ray_scaling.json and ray_scaling.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import log, write_json  # noqa: E402

import nacre  # noqa: E402
import nacre.distributed.driver as driver  # noqa: E402
from nacre.data.batch import StepChunk  # noqa: E402
from nacre.loop_types import CollectorGroup  # noqa: E402

HERE = Path(__file__).resolve().parent
STEP_COST_S = 0.002


class TimedGroup:
    """A collector group that counts the seconds the learner waits in ``collect``."""

    def __init__(self, group: CollectorGroup) -> None:
        self.group, self.num_envs = group, group.num_envs
        self.collect_s = 0.0
        self.chunks = 0

    def start(self, env_steps: int) -> None:
        self.group.start(env_steps)

    def collect(self, weights: dict[str, Any] | None, env_steps: int,
                steps: int) -> list[StepChunk]:
        start = time.perf_counter()
        chunks = self.group.collect(weights, env_steps, steps)
        self.collect_s += time.perf_counter() - start
        self.chunks += 1
        return chunks

    def close(self) -> None:
        self.group.close()


TIMED: list[TimedGroup] = []
_make = driver.make_collectors


def timed_collectors(*args: Any) -> TimedGroup:
    TIMED.append(TimedGroup(_make(*args)))
    return TIMED[-1]


driver.make_collectors = timed_collectors  # type: ignore[assignment]  # instrumentation only


class Window(nacre.Callback):
    """(env_steps, time, collect seconds, learning seconds) at every log row."""

    def __init__(self) -> None:
        self.marks: list[tuple[int, float, float, float]] = []
        self.learn_s = 0.0
        self.round_start = 0.0

    def on_rollout_end(self, training: Any) -> None:
        self.round_start = time.perf_counter()

    def on_train(self, training: Any, metrics: Any) -> None:
        self.learn_s += time.perf_counter() - self.round_start

    def on_log(self, training: Any, row: dict[str, Any]) -> None:
        collect = TIMED[-1].collect_s if training.config.collectors and TIMED else 0.0
        self.marks.append((training.env_steps, time.perf_counter(), collect, self.learn_s))


def config(args: argparse.Namespace, collectors: int, busy: bool) -> nacre.RunConfig:
    overrides = [
        "env.id=nacre/SlowCartPole-v0", f"env.kwargs={{step_cost_s: {STEP_COST_S}, "
        f"busy: {'true' if busy else 'false'}}}",
        f"train.steps={args.steps}", f"train.log_every={args.log_every}", "train.eval_every=0",
        "train.eval_episodes=1", "train.learn_threads=1", "train.checkpoint_interval_s=0",
        "train.checkpoint_fraction=0",
    ]
    if collectors:
        overrides += ["train.backend=ray", f"train.num_collectors={collectors}",
                      f"train.sync_every={args.sync_every}"]
    return nacre.load_preset("cartpole-dqn").with_overrides(overrides)


def run_once(args: argparse.Namespace, name: str, collectors: int, busy: bool) -> dict[str, Any]:
    window = Window()
    busy0, wall0, load = harness.busy_cpu_s(), time.perf_counter(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        result = nacre.train(config(args, collectors, busy), out=Path(tmp) / "run",
                             progress=False, callbacks=[window])
    wall = time.perf_counter() - wall0
    marks = [m for m in window.marks if m[0] >= args.warm]
    (s0, t0, c0, l0), (s1, t1, c1, l1) = marks[0], marks[-1]
    steps, seconds = s1 - s0, t1 - t0
    row = {
        "variant": name, "collectors": collectors, "busy": busy,
        "env_steps_per_s": steps / seconds,
        "window_env_steps": steps, "window_s": seconds,
        "collect_s_per_step": (c1 - c0) / steps if collectors else None,
        "learner_s_per_step": (seconds - (c1 - c0)) / steps if collectors else None,
        "learning_rounds_s_per_step": (l1 - l0) / steps,
        "chunks": TIMED[-1].chunks if collectors else 0,
        "whole_call_s": wall, "grad_steps": result.summary["grad_steps"],
        "machine_busy_cores": (harness.busy_cpu_s() - busy0) / wall,
        "load_average_before": load,
    }
    log(f"{name:>22}: {row['env_steps_per_s']:7.1f} env-steps/s  (busy cores "
        f"{row['machine_busy_cores']:.2f}, load before {load:.2f})")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--warm", type=int, default=1500)
    parser.add_argument("--log-every", type=int, default=500)
    parser.add_argument("--sync-every", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-sleep", action="store_true", help="skip the time.sleep cases")
    args = parser.parse_args()
    import ray

    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             logging_level="ERROR", log_to_driver=False)
    variants = [("in-process (busy)", 0, True), ("ray x1 (busy)", 1, True),
                ("ray x2 (busy)", 2, True)]
    if not args.no_sleep:
        variants += [("ray x1 (sleep)", 1, False), ("ray x2 (sleep)", 2, False)]
    runs: list[dict[str, Any]] = []
    try:
        for repeat in range(args.repeats):
            log(f"repeat {repeat + 1}/{args.repeats}")
            for name, collectors, busy in variants:
                runs.append({"repeat": repeat, **run_once(args, name, collectors, busy)})
    finally:
        ray.shutdown()
    summary = summarize(runs, [v[0] for v in variants])
    meta = {"benchmark": "ray_scaling", "workload": workload(args), "summary": summary,
            "runs": runs, "machine": harness.machine(),
            "versions": harness.versions(("nacre", "torch", "ray", "gymnasium", "numpy")),
            "date": time.strftime("%Y-%m-%d"),
            "command": "python benchmarks/ray_scaling.py " + " ".join(sys.argv[1:])}
    out = HERE / "results"
    write_json(out / "ray_scaling.json", meta)
    table = report(summary)
    (out / "ray_scaling.md").write_text(table)
    print(table)


def workload(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "preset": "cartpole-dqn", "env": "nacre/SlowCartPole-v0",
        "step_cost_s": STEP_COST_S,
        "busy": "busy-wait on time.perf_counter (CPU-bound, a computing simulator)",
        "sleep": "time.sleep (I/O-bound, for contrast)",
        "steps": args.steps, "warm_steps": args.warm, "sync_every": args.sync_every,
        "learn_threads": 1, "ray_num_cpus": 2, "repeats": args.repeats,
        "measured": "env-steps/s between the first log row at or after warm_steps and the "
                    "last (median over repeats); learner/collect split within that window",
    }


def summarize(runs: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    median = {name: statistics.median(r["env_steps_per_s"] for r in runs if r["variant"] == name)
              for name in names}
    out: dict[str, Any] = {"median_env_steps_per_s": median}
    for kind in ("busy", "sleep"):
        one, two = f"ray x1 ({kind})", f"ray x2 ({kind})"
        if one not in median:
            continue
        out[f"ratio_2_over_1_{kind}"] = median[two] / median[one]
        singles = [r for r in runs if r["variant"] == one]
        c = statistics.median(r["collect_s_per_step"] for r in singles)
        d = statistics.median(r["learner_s_per_step"] for r in singles)
        out[f"amdahl_{kind}"] = {
            "collect_s_per_step_1": c, "learner_s_per_step_1": d,
            "serial_fraction": d / (c + d),
            "predicted_speedup": {n: (c + d) / (c / n + d) for n in (2, 4, 8, 16, 32)},
            "limit": (c + d) / d,
        }
    out["ratio_ray2_over_in_process_busy"] = (median["ray x2 (busy)"]
                                              / median["in-process (busy)"])
    return out


def report(summary: dict[str, Any]) -> str:
    median = summary["median_env_steps_per_s"]
    lines = ["### Env-bound DQN (2 ms per step) with Ray collectors, 2 cores", "",
             "| variant | env-steps/s (median) |", "|---|---:|"]
    lines += [f"| {name} | {value:.0f} |" for name, value in median.items()]
    lines += ["", f"2 collectors / 1 (busy): **{summary['ratio_2_over_1_busy']:.2f}x**"]
    if "ratio_2_over_1_sleep" in summary:
        lines.append(f"2 collectors / 1 (sleep): {summary['ratio_2_over_1_sleep']:.2f}x")
    amdahl = summary["amdahl_busy"]
    predicted = ", ".join(f"{n}: {s:.1f}x" for n, s in amdahl["predicted_speedup"].items())
    lines += ["", f"On paper (Amdahl, busy, from 1 collector: collection "
              f"{amdahl['collect_s_per_step_1'] * 1e3:.2f} ms and learner "
              f"{amdahl['learner_s_per_step_1'] * 1e3:.3f} ms per env step, serial fraction "
              f"{amdahl['serial_fraction']:.3f}): N collectors on N cores — {predicted}; "
              f"limit {amdahl['limit']:.0f}x.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
