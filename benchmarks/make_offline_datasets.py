"""Generate D4RL-style offline datasets locally (issue #16): ``random``, ``medium`` and
``medium-replay`` for Hopper-v5, HalfCheetah-v5 and Walker2d-v5 (MuJoCo), and for CartPole-v1.

D4RL (Fu et al. 2020) made its MuJoCo datasets this way, and so does this script, with nacre:

- ``random``: a uniformly random policy (propensity: the uniform density on the action box).
- ``medium``: train SAC (the `halfcheetah-sac` preset's RL-Zoo settings) until its greedy
  evaluation reaches about a third of the expert's return, then record that policy *with its
  sampling* (``nacre.collect``), ``--transitions`` steps.
- ``medium-replay``: the replay buffer of that SAC run at the moment it stopped: everything the
  agent saw on its way to ``medium`` (``nacre.train.collect.from_run``) — Pearl's Table 2
  setting is such a buffer of about 100k transitions.

CartPole (discrete): ``random`` is uniformly random too, ``medium`` a
DQN stopped at a third of the maximum return (500) recorded with its final ε-greedy exploration,
``medium-replay`` that DQN's replay.

Normalized scores use D4RL's reference returns (``REFERENCE``: D4RL's ``infos.py`` values for the
v2 tasks; for CartPole the return of a uniformly random policy and the maximum, 500). The random
return each dataset measured is reported next to them.

    python benchmarks/make_offline_datasets.py [--envs hopper halfcheetah walker2d cartpole]
        [--out datasets] [--transitions 1000000] [--max-sac-steps 300000] [--seed 0]

Datasets go to ``--out`` (not committed: this script regenerates them); a description of each
(sizes, returns, SAC steps to medium) goes to benchmarks/results/offline_datasets.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import nacre
from nacre.data import Dataset, DatasetInfo
from nacre.train.collect import from_run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HERE, log, machine, versions, write_json  # noqa: E402

# env: (Gymnasium id, random return, expert return) — D4RL's reference scores for MuJoCo
REFERENCE: dict[str, tuple[str, float, float]] = {
    "hopper": ("Hopper-v5", -20.272305, 3234.3),
    "halfcheetah": ("HalfCheetah-v5", -280.178953, 12135.0),
    "walker2d": ("Walker2d-v5", 1.629008, 4592.3),
    "cartpole": ("CartPole-v1", 22.0, 500.0),
}


def random_dataset(env_id: str, transitions: int, seed: int, info: DatasetInfo) -> Dataset:
    """Uniformly random actions, each logged with its probability (discrete) or density on the
    action box."""
    env = gym.make(env_id)
    space = env.action_space
    if isinstance(space, gym.spaces.Discrete):
        density = 1.0 / int(space.n)
    else:
        assert isinstance(space, gym.spaces.Box)
        density = float(np.prod(1.0 / (space.high - space.low)))
    space.seed(seed)
    cols: dict[str, list[Any]] = {k: [] for k in ("obs", "action", "reward", "next_obs",
                                                   "terminated", "truncated")}
    obs, _ = env.reset(seed=seed)
    for t in range(transitions):
        action = space.sample()
        next_obs, reward, terminated, truncated, _ = env.step(action)
        truncated = truncated or t == transitions - 1  # the log's end cuts the last episode
        for name, value in zip(cols, (obs, action, reward, next_obs, terminated, truncated),
                               strict=True):
            cols[name].append(value)
        obs = env.reset()[0] if terminated or truncated else next_obs
    env.close()
    arrays = {k: np.asarray(v) for k, v in cols.items()}
    return Dataset.from_arrays(**arrays, propensity=np.full(transitions, density, np.float32),
                               info=info)


def train_to_medium(name: str, env_id: str, target: float, max_steps: int, seed: int,
                    out: Path) -> dict[str, Any]:
    """A SAC (or, for CartPole, DQN) run stopped once its evaluation reaches ``target``."""
    if name == "cartpole":
        cfg = nacre.load_preset("cartpole-dqn")
        # evaluated rarely: a greedy DQN can balance by luck in its first few thousand steps
        overrides = ["train.eval_every=10000", "train.eval_episodes=10"]
    else:
        cfg = nacre.load_preset("halfcheetah-sac")
        overrides = [f"env.id={env_id}", "train.eval_every=5000", "train.eval_episodes=5"]
    started = time.perf_counter()
    steps = 50_000 if name == "cartpole" else max_steps  # the preset's ε schedule
    stop = [nacre.StopOnReward(target)]
    if (out / "checkpoints").is_dir():  # a run this script started before it was stopped
        result = nacre.resume(out, steps=steps, callbacks=stop, progress=None)
    else:
        result = nacre.train(cfg, steps=steps, seed=seed, out=out, overrides=overrides,
                             callbacks=stop, progress=None)
    return {"env_steps": result.agent.env_steps, "wall_s": time.perf_counter() - started,
            "eval_return": result.summary.get("final_eval_return_mean"),
            "reached": (result.summary.get("final_eval_return_mean") or -np.inf) >= target}


def describe(dataset: Dataset) -> dict[str, Any]:
    returns = dataset.episode_returns()
    return {"transitions": len(dataset), "episodes": int(len(returns)),
            "return_mean": float(returns.mean()), "return_max": float(returns.max()),
            "normalized_return_mean": dataset.info.normalized_score(float(returns.mean()))}


def make(name: str, out: Path, transitions: int, max_steps: int, seed: int) -> dict[str, Any]:
    env_id, low, high = REFERENCE[name]
    target = low + (high - low) / 3
    report: dict[str, Any] = {"env_id": env_id, "ref_min_score": low, "ref_max_score": high,
                              "medium_target": target}

    def info(kind: str, policy: str) -> DatasetInfo:
        return DatasetInfo(env_id=env_id, policy=policy, ref_min_score=low, ref_max_score=high,
                           n_actions=2 if name == "cartpole" else None,
                           description=f"{name}-{kind}: benchmarks/make_offline_datasets.py")

    log(f"{name}: random")
    data = random_dataset(env_id, transitions, seed, info("random", "uniformly random"))
    data.save(out / f"{name}-random")
    report["random"] = describe(data)
    log(f"{name}: training to {target:.0f}")
    run_dir = out / "runs" / f"{name}-medium"
    report["training"] = train_to_medium(name, env_id, target, max_steps, seed, run_dir)
    log(f"{name}: medium ({transitions} transitions), medium-replay")
    data = nacre.collect(run_dir, transitions, seed=seed, progress=None)
    data = Dataset(data.buffer, info("medium", f"{data.info.policy}, sampling"))
    data.save(out / f"{name}-medium")
    report["medium"] = describe(data)
    replay = from_run(run_dir, seed=seed)
    replay = Dataset(replay.buffer, info("medium-replay", replay.info.policy))
    replay.save(out / f"{name}-medium-replay")
    report["medium-replay"] = describe(replay)
    return report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--envs", nargs="+", default=list(REFERENCE), choices=list(REFERENCE))
    p.add_argument("--out", default="datasets", help="folder for the datasets")
    p.add_argument("--transitions", type=int, default=1_000_000,
                   help="transitions of each random and medium dataset")
    p.add_argument("--max-sac-steps", type=int, default=300_000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    out = Path(args.out)
    results_path = HERE / "results" / "offline_datasets.json"
    made = json.loads(results_path.read_text())["envs"] if results_path.exists() else {}
    report: dict[str, Any] = {"machine": machine(), "versions": versions(("nacre", "torch")),
                              "seed": args.seed, "transitions": args.transitions, "envs": made}
    for name in args.envs:
        if (out / f"{name}-medium-replay").exists():
            log(f"{name}: already made, skipped")
            continue
        report["envs"][name] = make(name, out, args.transitions, args.max_sac_steps, args.seed)
        write_json(results_path, report)
    log(f"wrote {results_path}")


if __name__ == "__main__":
    main()
