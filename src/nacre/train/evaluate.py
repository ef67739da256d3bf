"""Greedy evaluation: whole episodes with ``exploit=True``, one after another or side by side."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from nacre.agent import Agent
from nacre.envs.base import Env
from nacre.errors import InputError
from nacre.spaces import AvailableActions


def evaluate(agent: Agent, env: Env | Sequence[Env], episodes: int, seed: int) -> list[float]:
    """Returns of ``episodes`` greedy (``exploit=True``) episodes; episode ``i`` is seeded
    ``seed + i``.

    Given a list of single environments, that many episodes run side by side with one batched
    forward pass per step (the way nacre evaluates during training); given one environment, they
    run one after the other.
    """
    if isinstance(env, Sequence):
        return _evaluate_batched(agent, list(env), episodes, seed)
    if env.num_envs != 1:
        raise InputError("env", f"evaluate takes one environment (or a list of them), got a "
                         f"vector env with num_envs={env.num_envs}")
    returns: list[float] = []
    for i in range(episodes):
        obs = env.reset(seed=seed + i)
        available = env.available
        stream = agent.stream()  # the episode's own history, apart from training's
        while True:
            action, _ = agent.decide(obs, available, exploit=True, stream=stream)
            result = env.step(action)
            if result.episode_returns:
                returns.append(result.episode_returns[0])
                break
            obs, available = result.obs, result.available
    return returns


def _evaluate_batched(agent: Agent, envs: list[Env], episodes: int, seed: int) -> list[float]:
    returns: dict[int, float] = {}
    for start in range(0, episodes, len(envs)):
        ids = list(range(start, min(start + len(envs), episodes)))
        obs = {i: env.reset(seed=seed + i) for i, env in zip(ids, envs, strict=False)}
        avail = {i: env.available for i, env in zip(ids, envs, strict=False)}
        live = dict(zip(ids, envs, strict=False))
        histories: dict[int, Tensor | None] = dict.fromkeys(ids)  # each episode's own
        while live:
            keys = list(live)
            stream = agent.stream()
            parts = [h for i in keys if (h := histories[i]) is not None]
            stream.history = torch.cat(parts) if len(parts) == len(keys) else None
            actions, _ = agent.decide(np.concatenate([obs[i] for i in keys]),
                                      _stack_available([avail[i] for i in keys]), exploit=True,
                                      stream=stream)
            for row, i in enumerate(keys):
                if stream.history is not None:
                    histories[i] = stream.history[row : row + 1]
                result = live[i].step(actions[row : row + 1])
                if result.episode_returns:
                    returns[i] = result.episode_returns[0]
                    del live[i]
                else:
                    obs[i], avail[i] = result.obs, result.available
    return [returns[i] for i in range(episodes)]


def _stack_available(parts: list[AvailableActions | None]) -> AvailableActions | None:
    """One candidate set for a batch of single environments (None when none restricts): an
    environment without one offers every action; ``features`` and ``items`` are concatenated
    too, and then every environment must give them."""
    sets = [p for p in parts if p is not None]
    if not sets:
        return None
    width = sets[0].mask.shape[1]
    masks = [torch.ones(1, width, dtype=torch.bool) if p is None else p.mask for p in parts]
    stacked = []
    for name, tensors in (("features", [p.features for p in sets]),
                          ("items", [p.items for p in sets])):
        given = [t for t in tensors if t is not None]
        if given and len(given) != len(parts):
            raise ValueError(f"batched evaluation: some environments give per-step {name} "
                             "and others do not")
        stacked.append(torch.cat(given) if given else None)
    return AvailableActions(torch.cat(masks), stacked[0], stacked[1])


__all__ = ["evaluate"]
