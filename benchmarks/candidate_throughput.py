"""What a step costs with 1,000 candidates instead of 10 (issue #15's acceptance: "acting and
learning cost per step with 1,000 candidates per step reported vs 10 candidates; two-tower
scoring of 1,000 candidates for a batch of 64 states in one call").

Per slate size K (10, then 1,000), the `recsys-two-tower-dqn` agent runs on
`nacre/Recommender-v0` with a 100,000-item catalogue and slates of K items: 300 steps fill the
replay buffer, then 500 steps are timed phase by phase — the environment's step (the adapter
reading the slate included), ``agent.act()`` (the catalogue lookup of the slate, the two-tower
scores, ε-greedy), ``agent.observe()`` (storing the step with its slate as ids) and one
``agent.learn(128)`` update (sampling, looking up the sampled slates, the Double DQN update over
K candidates at ``s`` and ``s'``). Each phase is reported in µs per step; the ratio K = 1,000 /
K = 10 says how the cost grows with the slate.

Then the head alone: one call scoring K candidates for 64 states, two-tower (``f(s) · g(x)``,
one batched matrix product) against a state–action MLP over ``[φ(s) ⊕ x_a]`` of the same
widths, for per-row candidate features ``[64, K, 17]`` (best of 5 blocks).

    python benchmarks/candidate_throughput.py [--steps 500]

Writes benchmarks/results/candidate_throughput.json and candidate_throughput.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

import nacre
from nacre.networks.q import StateActionQHead
from nacre.networks.towers import TwoTowerHead

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HERE, best_per_call, log, machine, versions, write_json  # noqa: E402

SIZES = (10, 1000)
ITEMS = 100_000


def agent_phases(k: int, steps: int, fill: int = 300) -> dict[str, float]:
    """µs per step of each phase of the training step with slates of ``k`` items."""
    cfg = nacre.load_preset("recsys-two-tower-dqn")
    run = nacre.build(cfg.with_overrides([f"env.kwargs={{n_items: {ITEMS}, k: {k}}}",
                                          "train.learn_threads=1"]))
    env, agent = run.env, run.agent
    torch.set_num_threads(1)
    obs = env.reset(seed=0)
    agent.reset(obs, env.action_space, env.available)
    totals = dict.fromkeys(("env_step", "act", "observe", "learn"), 0.0)
    clock = time.perf_counter
    for t in range(fill + steps):
        timed = t >= fill
        t0 = clock()
        action = agent.act()
        t1 = clock()
        result = env.step(action)
        t2 = clock()
        agent.observe(result)
        t3 = clock()
        if t >= 200:
            agent.learn(128, 1)
        t4 = clock()
        if timed:
            for key, dt in (("act", t1 - t0), ("env_step", t2 - t1), ("observe", t3 - t2),
                            ("learn", t4 - t3)):
                totals[key] += dt
    env.close()
    return {key: 1e6 * total / steps for key, total in totals.items()}


def head_call_us(k: int) -> dict[str, float]:
    """µs per call scoring ``k`` candidates for 64 states: each state with its own candidates
    (``[64, k, 17]``), and one candidate set shared by the 64 (``[k, 17]``, a retrieval call)."""
    torch.manual_seed(0)
    state, own, shared = torch.randn(64, 32), torch.randn(64, k, 17), torch.randn(k, 17)
    two_tower = TwoTowerHead(32, 17, (64,), 32)
    mlp = StateActionQHead(32, 17, (64,), "relu")
    out = {}
    with torch.inference_mode():
        for name, head in (("two_tower", two_tower), ("state_action_mlp", mlp)):
            for where, feats in (("own", own), ("shared", shared)):
                out[f"{name}/{where}"] = 1e6 * best_per_call(lambda h=head, f=feats: h(state, f),
                                                             20, warmup=5)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=500)
    args = p.parse_args()
    torch.set_num_threads(1)
    phases = {k: agent_phases(k, args.steps) for k in SIZES}
    heads = {k: head_call_us(k) for k in SIZES}
    for k in SIZES:
        log(f"K={k}: " + ", ".join(f"{n} {v:.0f} µs" for n, v in phases[k].items()))
    write_json(HERE / "results" / "candidate_throughput.json",
               {"benchmark": "candidate_throughput", "phases_us": phases, "heads_us": heads,
                "steps": args.steps, "catalogue": ITEMS, "machine": machine(),
                "versions": versions(), "date": time.strftime("%Y-%m-%d")})
    small, large = SIZES
    lines = [f"### Cost per step with {large:,} candidates vs {small} (two-tower Double DQN, "
             f"{ITEMS:,}-item catalogue, one thread)", "",
             f"| phase | K = {small} | K = {large:,} | ratio |", "|---|---:|---:|---:|"]
    for name in ("env_step", "act", "observe", "learn"):
        a, b = phases[small][name], phases[large][name]
        lines.append(f"| {name} | {a:,.0f} µs | {b:,.0f} µs | {b / a:.1f}× |")
    total = {k: sum(phases[k].values()) for k in SIZES}
    agent_only = {k: total[k] - phases[k]["env_step"] for k in SIZES}
    lines += [f"| **step, all phases** | {total[small]:,.0f} µs | {total[large]:,.0f} µs | "
              f"{total[large] / total[small]:.1f}× |",
              f"| agent (act + observe + learn) | {agent_only[small]:,.0f} µs | "
              f"{agent_only[large]:,.0f} µs | {agent_only[large] / agent_only[small]:.1f}× |", "",
              "One call scoring K candidates for 64 states (17 features per candidate, 64-wide "
              "hidden layers, 32-wide towers): each state with its own K candidates "
              "([64, K, 17]), or one set of K shared by the 64 ([K, 17]):", "",
              f"| head | own, K = {small} | own, K = {large:,} | shared, K = {small} | "
              f"shared, K = {large:,} |", "|---|---:|---:|---:|---:|"]
    for name in ("two_tower", "state_action_mlp"):
        cells = [f"{heads[k][f'{name}/{where}']:,.0f} µs" for where in ("own", "shared")
                 for k in SIZES]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    shared = {n: heads[large][f"{n}/shared"] for n in ("two_tower", "state_action_mlp")}
    lines += ["", f"Two-tower scores 64 states × {large:,} shared candidates in one call in "
              f"{shared['two_tower'] / 1e3:.2f} ms, "
              f"{shared['state_action_mlp'] / shared['two_tower']:.0f}× faster than the "
              "state–action MLP, which runs its hidden layer once per (state, candidate) pair; "
              "with a different slate per state both run the action side once per pair."]
    table = "\n".join(lines) + "\n"
    (HERE / "results" / "candidate_throughput.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
