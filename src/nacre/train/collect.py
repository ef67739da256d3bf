"""Record a policy as a dataset: ``nacre collect PRESET_OR_RUN --steps N --out DATASET``.

The agent acts with its exploration, as it would in training (ε-greedy, Gaussian noise, a
policy's samples …), and every transition is stored with the propensity of its action, so the
dataset serves offline learning and off-policy evaluation alike. A run folder's agent acts as at
the end of its run (its exploration schedule where it ended); a preset's agent is untrained and
its schedule runs from its start over the recorded steps (the DQN presets begin at ε = 1 and
decay it: only their first steps are uniformly random). ``exploit=True`` records the greedy
policy instead (propensity 1).

The transitions go straight into a replay buffer's storage, which becomes the dataset's: no copy
per step. Continuous actions are stored as the environment takes them (``[low, high]``), their
densities in those units.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from nacre.config.build import Run, build
from nacre.data.dataset import Dataset, DatasetInfo
from nacre.data.replay import ReplayBuffer
from nacre.envs.make import make_env
from nacre.envs.normalize import Normalize
from nacre.envs.sources import EnvLike
from nacre.errors import ConfigError, InputError
from nacre.spaces import BoxActionSpace, DiscreteActionSpace
from nacre.train.checkpoint import latest_checkpoint, load_checkpoint
from nacre.train.progress import show_progress
from nacre.train.run import load_run, load_run_config, resolve_config, with_env

# what a replay buffer's state holds of each transition (candidate sets are not kept)
_REPLAY_COLUMNS = ("obs", "action", "reward", "next_obs", "terminated", "truncated",
                   "propensity", "valid", "cost")


def collect(source: str | Path, steps: int, out: str | Path | None = None, *, seed: int = 0,
            exploit: bool = False, env: EnvLike | None = None,
            progress: bool | None = None) -> Dataset:
    """``steps`` transitions of ``source``'s agent (a run folder, a preset name or a YAML
    path) in its env, as a :class:`~nacre.data.Dataset`; saved to ``out`` when given.

    Example:
        >>> data = nacre.collect("cartpole-dqn", steps=1_000)  # doctest: +SKIP
        >>> data.episode_returns().mean()  # doctest: +SKIP
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InputError("steps", f"expected an integer >= 1, got {steps!r}")
    run, policy = _agent(source, env, seed, exploit)
    if isinstance(run.env, Normalize):
        run.env.close()
        raise ConfigError(f"{source} normalizes observations or rewards (env.normalize): "
                          "collecting from it would store what the agent saw, not what the env "
                          "gave; collect with a run that does not normalize")
    agent, space = run.agent, run.env.action_space
    rows = math.ceil(steps / run.env.num_envs)
    agent.buffer = ReplayBuffer(rows * run.env.num_envs, seed=seed,
                                action_space=space if isinstance(space, DiscreteActionSpace)
                                else None)
    display = show_progress(rows * run.env.num_envs, enabled=progress, label="step")
    start = agent.env_steps  # a run's agent counts on from its training
    try:
        obs = run.env.reset(seed=seed)
        agent.reset(obs, space, run.env.available)
        for t in range(rows):
            agent.observe(run.env.step(agent.act(exploit=exploit)))
            display.update((t + 1) * run.env.num_envs)
        agent.buffer.mark_episodes_cut()  # the last episodes end with the log
    finally:
        display.close(agent.env_steps - start)
        run.env.close()
    dataset = _in_env_units(agent.buffer.state_dict(), space, seed)
    dataset.info = DatasetInfo(
        env_id=run.config.env.id, policy=policy, description=f"nacre collect {source}",
        n_actions=space.n if isinstance(space, DiscreteActionSpace) else None)
    if out is not None:
        dataset.save(out)
    return dataset


def from_run(run_dir: str | Path, seed: int | None = None) -> Dataset:
    """The transitions a run logged — the replay buffer of its newest checkpoint, with the
    propensity of every action — as a :class:`~nacre.data.Dataset` (a D4RL-style "replay"
    dataset when the run is stopped at a medium return). Continuous actions are converted to
    the environment's units, as :func:`collect` stores them. Each logging env's rows stay
    together, its newest transition marked truncated; once the replay has wrapped, an env's
    oldest rows may start mid-episode (they count as an episode of their own)."""
    path = Path(run_dir)
    ckpt = latest_checkpoint(path)
    cfg = load_run_config(path / "config.yaml")
    state, _, _ = load_checkpoint(ckpt)
    buffer = state.get("buffer")
    if not isinstance(buffer, dict) or not buffer.get("tensors"):
        raise ConfigError(f"{ckpt} holds no replay buffer to make a dataset of (its learner "
                          f"{cfg.learner.name!r} keeps {cfg.buffer.name!r})")
    if cfg.env.normalize.enabled:
        raise ConfigError(f"{run_dir} normalized observations or rewards: its replay holds "
                          "what the agent saw, not what the env gave")
    tensors = {k: v for k, v in buffer["tensors"].items() if k in _REPLAY_COLUMNS}
    tensors["truncated"] = tensors["truncated"].clone()
    _cut_newest(tensors, int(buffer["pos"]), int(buffer["rows"]))
    env = make_env(cfg.env.id, 1, "none", **cfg.env.kwargs)  # for its action space
    space = env.action_space
    env.close()
    data = _in_env_units({**buffer, "tensors": tensors}, space, seed)
    data.info = DatasetInfo(
        env_id=cfg.env.id, policy=f"{path.name} (replay of {cfg.learner.name}, "
        f"{data.num_episodes} episodes)", description=f"replay of {path}",
        n_actions=space.n if isinstance(space, DiscreteActionSpace) else None)
    return data


def _in_env_units(state: dict[str, Any], space: Any, seed: int | None) -> Dataset:
    """A dataset of a replay buffer's state, continuous actions turned from the policy's
    ``[-1, 1]`` into the units the env takes (how datasets store them). Their propensities are
    densities, so they change units too: divided by the map's Jacobian ``∏ (high − low) / 2``
    (an action the env's box clipped keeps its sample's density)."""
    if isinstance(space, BoxActionSpace):
        tensors = state["tensors"]
        jacobian = torch.prod(0.5 * (space.high - space.low)).item()
        state = {**state, "tensors": {**tensors, "action": space.to_env(tensors["action"]),
                                      "propensity": tensors["propensity"] / jacobian}}
    return Dataset.from_buffer_state(state, seed=seed)


def _cut_newest(tensors: dict[str, torch.Tensor], pos: int, rows: int) -> None:
    """Mark each logging env's newest transition truncated: its episode goes on no further in
    the log (so the next env's rows do not continue it)."""
    valid = tensors.get("valid")
    order = [(pos - 1 - k) % rows for k in range(rows)]  # newest row first
    for b in range(tensors["truncated"].shape[1]):
        newest = next((t for t in order if valid is None or bool(valid[t, b])), None)
        if newest is not None:
            tensors["truncated"][newest, b] = True


def _agent(source: str | Path, env: EnvLike | None, seed: int, exploit: bool
           ) -> tuple[Run, str]:
    """The run whose agent records, and how the dataset names its policy."""
    path = Path(source)
    how = "greedy" if exploit else "exploring"
    if (path / "config.yaml").is_file():
        run, _ = load_run(path, env=env)
        run.agent.buffer = None  # its replay is not what we record
        return run, f"{path.name} ({how}, after {run.agent.env_steps} steps)"
    cfg, custom = with_env(resolve_config(str(source), seed=seed), env)
    return build(cfg, custom), f"{source} ({how}, untrained)"


def describe(dataset: Dataset) -> dict[str, Any]:
    """What ``nacre collect`` prints: transitions, episodes, the behaviour's mean return."""
    returns = dataset.episode_returns()
    return {"transitions": len(dataset), "episodes": int(len(returns)),
            "return_mean": float(returns.mean()), "env_id": dataset.info.env_id,
            "policy": dataset.info.policy}


__all__ = ["collect", "describe", "from_run"]
