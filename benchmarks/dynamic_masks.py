"""Unavailable actions taken while learning (issue #15's acceptance: "0 unavailable actions taken in
100k steps across DQN, PPO, SAC-discrete and the bandit learners").

Each learner acts and learns for 100,000 steps through its training step (``act`` → count →
``env.step`` → ``observe`` → ``learn`` on the preset's schedule) in an environment whose
available actions change every step:

- DQN, PPO and discrete SAC on `nacre/CartPole-Dynamic-v0` (CartPole whose two actions are each
  available with probability ½ per step, at least one: Gymnasium's ``info["action_mask"]``);
- disjoint LinUCB and neural Thompson sampling on `bandit/synthetic-linear` with
  ``available_prob: 0.3`` (each of 10 arms available with probability 0.3 per decision);
- two-tower DQN and masked PPO on `nacre/Recommender-v0` with slates of 12–20 items (padding
  slots masked).

Counted before each step: the actions outside the set the environment offered (the adapters
would refuse them with an error, so the loop counts first). Also reported: how many actions
were unavailable on average (a mask that hides nothing proves nothing).

    python benchmarks/dynamic_masks.py [--steps 100000]

Writes benchmarks/results/dynamic_masks.json and dynamic_masks.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch

import nacre
from nacre.kinds import BufferKind

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HERE, log, machine, versions, write_json  # noqa: E402

CARTPOLE = ["env.id=nacre/CartPole-Dynamic-v0"]
RECSYS = ["env.kwargs={min_k: 12}"]
RUNS: dict[str, tuple[str, list[str]]] = {
    "DQN": ("cartpole-dqn", CARTPOLE),
    "PPO": ("cartpole-ppo", CARTPOLE),
    "SAC-discrete": ("cartpole-dqn", [
        *CARTPOLE, "learner={name: sac_discrete}", "exploration={name: policy}",
        "network={name: categorical_twin_q, actor_hidden: [64, 64], critic_hidden: [64, 64]}",
        "train.train_freq=4", "train.gradient_steps=1"]),
    "disjoint LinUCB": ("synthetic-lints", ["env.kwargs={available_prob: 0.3}",
                                            "exploration={name: ucb, alpha: 1.0}"]),
    "neural Thompson": ("digits-neural-lints", [
        "env.id=bandit/synthetic-linear", "env.kwargs={available_prob: 0.3}"]),
    "two-tower DQN (recommender)": ("recsys-two-tower-dqn", RECSYS),
    "masked PPO (recommender)": ("recsys-masked-ppo", RECSYS),
}


def run(name: str, steps: int) -> dict[str, Any]:
    preset, overrides = RUNS[name]
    cfg = nacre.load_preset(preset).with_overrides(overrides)
    built = nacre.build(cfg)
    env, agent, train = built.env, built.agent, cfg.train
    assert agent.buffer is not None
    obs = env.reset(seed=0)
    agent.reset(obs, env.action_space, env.available)
    available = env.available
    taken = refused = hidden = 0
    t0 = time.perf_counter()
    for step in range(0, steps, env.num_envs):
        action = agent.act()
        if available is not None:
            rows = torch.arange(action.shape[0])
            refused += int((~available.mask[rows, action.long()]).sum())
            hidden += int((~available.mask).sum())
        taken += int(action.shape[0])
        result = env.step(action)
        agent.observe(result)
        available = result.available
        rollout = agent.buffer.kind is BufferKind.ROLLOUT
        due = (step + env.num_envs) % max(train.train_freq, env.num_envs) == 0
        if (rollout and due) or (not rollout and step >= train.learning_starts and due):
            agent.learn(train.batch_size, train.gradient_steps)
    env.close()
    k = int(available.mask.shape[1]) if available is not None else 0
    return {"learner": name, "preset": preset, "overrides": overrides, "actions": taken,
            "unavailable_taken": refused, "actions_per_decision": k,
            "mean_unavailable_per_decision": hidden / max(taken, 1),
            "wall_s": time.perf_counter() - t0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=100_000)
    args = p.parse_args()
    rows = []
    for name in RUNS:
        rows.append(run(name, args.steps))
        r = rows[-1]
        log(f"{name}: {r['unavailable_taken']} unavailable of {r['actions']:,} "
            f"({r['wall_s']:.0f} s)")
    write_json(HERE / "results" / "dynamic_masks.json",
               {"benchmark": "dynamic_masks", "rows": rows, "machine": machine(),
                "versions": versions(), "date": time.strftime("%Y-%m-%d")})
    lines = [f"### Unavailable actions taken while learning, {args.steps:,} steps each", "",
             "| learner | environment | actions | unavailable per decision (mean) | "
             "unavailable taken |", "|---|---|---:|---:|---:|"]
    for r in rows:
        env = next((o.split("=", 1)[1] for o in r["overrides"] if o.startswith("env.id=")),
                   nacre.load_preset(r["preset"]).env.id)
        lines.append(f"| {r['learner']} | `{env}` | {r['actions']:,} | "
                     f"{r['mean_unavailable_per_decision']:.2f} of {r['actions_per_decision']} | "
                     f"**{r['unavailable_taken']}** |")
    total = sum(r["unavailable_taken"] for r in rows)
    lines += ["", f"Unavailable actions taken, all learners: **{total}** "
              f"(of {sum(r['actions'] for r in rows):,} actions)."]
    table = "\n".join(lines) + "\n"
    (HERE / "results" / "dynamic_masks.md").write_text(table)
    print(table)



if __name__ == "__main__":
    main()
