"""One d3rlpy run for benchmarks/offline_vs_d3rlpy.py, in d3rlpy's own virtual environment
(d3rlpy pins an older Gymnasium). Prints one JSON line: gradient updates per second of its
``fit`` and the greedy evaluation returns afterwards.

    python benchmarks/d3rlpy_worker.py --data DATA.npz --algo iql --env Hopper-v5
        --updates 10000 --seed 0 --episodes 10 --hp '{"expectile": 0.7, ...}'
"""

from __future__ import annotations

import argparse
import json
import time

import d3rlpy
import gymnasium as gym
import numpy as np
import torch


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--algo", choices=["cql", "iql"], required=True)
    p.add_argument("--env", required=True)
    p.add_argument("--updates", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--hp", required=True, help="the shared hyper-parameters, as JSON")
    args = p.parse_args()
    torch.set_num_threads(1)
    hp = json.loads(args.hp)
    data = np.load(args.data)
    dataset = d3rlpy.dataset.MDPDataset(
        observations=data["obs"], actions=data["action"], rewards=data["reward"],
        terminals=data["terminated"].astype(np.float32),
        timeouts=data["truncated"].astype(np.float32))
    d3rlpy.seed(args.seed)
    common = {"batch_size": hp["batch_size"], "gamma": hp["gamma"], "tau": hp["tau"]}
    if args.algo == "cql":
        config = d3rlpy.algos.CQLConfig(
            actor_learning_rate=hp["actor_lr"], critic_learning_rate=hp["critic_lr"],
            temp_learning_rate=hp["actor_lr"], alpha_learning_rate=0.0,  # a fixed weight
            initial_temperature=1.0, conservative_weight=hp["conservative_weight"],
            n_action_samples=hp["n_action_samples"], **common)
    else:
        config = d3rlpy.algos.IQLConfig(
            actor_learning_rate=hp["lr"], critic_learning_rate=hp["lr"],
            expectile=hp["expectile"], weight_temp=hp["beta"], max_weight=hp["max_weight"],
            **common)
    algo = config.create(device="cpu:0")
    algo.build_with_dataset(dataset)
    started = time.perf_counter()
    algo.fit(dataset, n_steps=args.updates, n_steps_per_epoch=args.updates,
             show_progress=False, logger_adapter=d3rlpy.logging.NoopAdapterFactory(),
             save_interval=10**9)
    learning_s = time.perf_counter() - started
    env = gym.make(args.env)
    returns = []
    for episode in range(args.episodes):
        obs, _ = env.reset(seed=args.seed + 10_000 + episode)  # as nacre evaluates
        total, done = 0.0, False
        while not done:
            action = algo.predict(obs[None].astype(np.float32))[0]
            obs, reward, terminated, truncated, _ = env.step(action)
            total, done = total + float(reward), terminated or truncated
        returns.append(total)
    print(json.dumps({"updates_per_s": args.updates / learning_s, "learning_s": learning_s,
                      "returns": returns, "d3rlpy": d3rlpy.__version__}))


if __name__ == "__main__":
    main()
