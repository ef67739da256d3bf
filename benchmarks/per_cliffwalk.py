"""Prioritized against uniform replay where prioritization is known to help (issue #13's
acceptance: "PER: on one task where it is known to help (e.g. a sparse-reward chain), ≥ 5 seeds
vs uniform").

Schaul et al. 2016's blind cliffwalk experiment (§3.1, Fig. 1), with nacre's DQN: a chain of
`n` states (`nacre/BlindCliffwalk-v0`) where only `n` right actions in a row pay, so the few
transitions that carry the reward are rare among those a random policy collects. Per seed the
replay buffer is filled once, with random-policy episodes until the first rewarded one (about
`2^n` episodes), and the same transitions go into a uniform and a prioritized buffer
(α 0.6, β 0.4 → 1). Then DQN learns from the buffer alone (batches of 32, target copied every
100 updates); every 50 updates the greedy action of every state is checked. Scored: updates
until the greedy policy walks the whole chain (the budget when it never does). This isolates
what replay decides (which transitions are learned from) from exploration. Runs are not timed.

    python benchmarks/per_cliffwalk.py [--seeds 10] [--n 10] [--updates 10000]

Writes benchmarks/results/per_cliffwalk.json and per_cliffwalk.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

import nacre
from nacre.data import StepBatch
from nacre.envs import BlindCliffwalkEnv

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import log, report_variants  # noqa: E402

EVERY = 50
TARGET_EVERY = 100
BUFFERS = {"uniform": "{name: replay, capacity: 100000}",
           "prioritized": "{name: prioritized, capacity: 100000, alpha: 0.6, beta0: 0.4}"}


def random_episodes(n: int, seed: int) -> list[tuple[int, int, float, int, bool, bool]]:
    """Transitions ``(s, a, r, s', terminated, truncated)`` of random episodes, up to and with
    the first one that reaches the reward."""
    env, rng = BlindCliffwalkEnv(n), np.random.default_rng(seed)
    steps = []
    while True:
        obs, _ = env.reset()
        done = False
        while not done:
            action = int(rng.integers(2))
            nxt, reward, terminated, truncated, _ = env.step(np.int64(action))
            steps.append((int(obs), action, float(reward), int(nxt), terminated, truncated))
            obs, done = nxt, terminated or truncated
        if steps[-1][2] > 0:
            return steps


def run(variant: str, seed: int, n: int, updates: int,
        steps: list[tuple[int, int, float, int, bool, bool]]) -> dict[str, Any]:
    config = nacre.RunConfig.from_dict({
        "seed": seed,
        "env": {"id": "nacre/BlindCliffwalk-v0", "kwargs": {"n": n}},
        "learner": {"name": "dqn", "lr": 0.0005, "gamma": 0.99},
        "network": {"name": "mlp", "hidden": [64]},
    }).with_overrides([f"buffer={BUFFERS[variant]}"])
    built = nacre.build(config)
    agent, env = built.agent, built.env
    agent.reset(env.reset(seed=seed), env.action_space)
    assert agent.buffer is not None
    for s, a, r, s2, term, trunc in steps:
        agent.buffer.add(StepBatch(np.array([s]), np.array([a]), np.array([r], np.float32),
                                   np.array([s2]), np.array([term]), np.array([trunc])))
    states, right = np.arange(n), np.arange(n) % 2
    solved_at = updates
    for u in range(1, updates + 1):
        agent.learn(32, progress=u / updates)
        if u % TARGET_EVERY == 0:
            agent.learner.update_target()
        if u % EVERY == 0 and np.array_equal(agent.predict(states), right):
            solved_at = u
            break
    env.close()
    return {"variant": variant, "seed": seed, "updates_to_solve": solved_at,
            "solved": float(solved_at < updates), "transitions": len(steps)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--n", type=int, default=10)
    p.add_argument("--updates", type=int, default=10_000)
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    runs = []
    for seed in range(args.seeds):
        steps = random_episodes(args.n, seed)
        for variant in BUFFERS:
            runs.append(run(variant, seed, args.n, args.updates, steps))
            r = runs[-1]
            log(f"  {variant:12s} seed {seed}: {r['transitions']:,} transitions, solved after "
                f"{r['updates_to_solve']:,} updates")
    title = (f"DQN learning the blind cliffwalk (n = {args.n}) from a fixed replay of random "
             f"episodes, {args.seeds} seeds: uniform and prioritized replay")
    print(report_variants("per_cliffwalk", title, runs,
                          {"updates_to_solve": f"updates until solved (budget {args.updates:,})",
                           "solved": "share solved"},
                          {"env": "nacre/BlindCliffwalk-v0", "n": args.n,
                           "updates": args.updates, "eval_every": EVERY,
                           "target_every": TARGET_EVERY, "seeds": list(range(args.seeds))},
                          digits=0))


if __name__ == "__main__":
    main()
