"""Hindsight experience replay (Andrychowicz et al. 2017): replay transitions with goals they
did reach.

An episode that missed its goal still shows how to reach the states it passed through. When a
batch is drawn, a share ``k / (k + 1)`` of its transitions get a new desired goal — the goal
achieved at a later step of the same episode (``future``), at its last stored step (``final``),
or at any step of it (``episode``) — and the reward the environment's ``compute_reward`` gives
for that goal. Nothing is stored twice: goals are relabelled in the sampled batch, from rows of
the ring (the time-major layout puts an episode's steps in one column).

Observations are the environment's ``Dict`` of ``observation``, ``achieved_goal`` and
``desired_goal`` (Gymnasium-Robotics' ``GoalEnv`` convention), stored flat
(:class:`~nacre.spaces.StructuredBox`); the goal parts are located in the flat vector from the
space.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.data.replay import ReplayBuffer
from nacre.errors import ConfigError, InputError
from nacre.spaces import ActionSpace, StructuredBox

Strategy = Literal["future", "final", "episode"]
RewardFn = Callable[[np.ndarray, np.ndarray, Any], np.ndarray]


def goal_slices(space: gym.Space[Any]) -> tuple[slice, slice]:
    """Where ``achieved_goal`` and ``desired_goal`` lie in the flat vector of a goal ``Dict``."""
    if not (isinstance(space, StructuredBox) and isinstance(space.source, gym.spaces.Dict)
            and {"achieved_goal", "desired_goal"} <= set(space.source.spaces)):
        raise ConfigError("hindsight replay needs Dict observations with 'achieved_goal' and "
                          f"'desired_goal' (Gymnasium-Robotics' GoalEnv convention), got {space}")
    found, start = {}, 0
    for key, part in space.source.spaces.items():  # the order Gymnasium flattens in
        width = int(gym.spaces.flatdim(part))
        found[key] = slice(start, start + width)
        start += width
    return found["achieved_goal"], found["desired_goal"]


class HindsightReplayBuffer(ReplayBuffer):
    """Uniform replay whose samples are relabelled with achieved goals (one-step returns).

    Args:
        capacity: transitions kept.
        compute_reward: the environment's ``compute_reward(achieved_goal, desired_goal, info)``,
            batched over leading dimensions.
        achieved / desired: where the goals lie in an observation (:func:`goal_slices`).
        strategy: ``future``, ``final`` or ``episode`` (the paper's; ``future`` works best).
        k: relabelled transitions per original one (a share ``k / (k + 1)`` of each batch).
        horizon: the longest episode (how far along the ring an episode's other steps are
            looked for).
        seed / action_space: as for :class:`~nacre.data.ReplayBuffer`.
    """

    def __init__(self, capacity: int, compute_reward: RewardFn, achieved: slice,
                 desired: slice, strategy: Strategy = "future", k: int = 4, horizon: int = 200,
                 seed: int | None = None, action_space: ActionSpace | None = None) -> None:
        super().__init__(capacity, seed=seed, action_space=action_space)
        if strategy not in ("future", "final", "episode"):
            raise InputError("strategy", f"expected future, final or episode, got {strategy!r}")
        if k < 0 or horizon < 1:
            raise InputError("k", f"needs k >= 0 and horizon >= 1, got {k} and {horizon}")
        self.compute_reward = compute_reward
        self.achieved, self.desired = achieved, desired
        self.strategy, self.share, self.horizon = strategy, k / (k + 1), horizon

    def _gather(self, t: Tensor, b: Tensor) -> TransitionBatch:
        batch = super()._gather(t, b)
        relabel = torch.rand(len(t), generator=self.generator) < self.share
        if not bool(relabel.any()):
            return batch
        t, b = t[relabel], b[relabel]
        source = self._goal_rows(t, b)
        f = self._flat
        goal = f["next_obs"][source * self._num_envs + b][:, self.achieved]
        obs, next_obs = batch.obs.clone(), batch.next_obs.clone()
        obs[relabel, self.desired] = goal
        next_obs[relabel, self.desired] = goal
        reward = batch.reward.clone()
        reward[relabel] = torch.as_tensor(self.compute_reward(
            next_obs[relabel, self.achieved].numpy(), goal.numpy(), None), dtype=reward.dtype)
        # every other field (masks, candidates, n-step discounts, costs) stays the row's own
        return replace(batch, obs=obs, next_obs=next_obs, reward=reward)

    def _goal_rows(self, t: Tensor, b: Tensor) -> Tensor:
        """The row whose achieved goal becomes the new goal of the transition at ``(t, b)``."""
        ahead = self._episode_extent(t, b, forward=True)
        u = torch.rand(len(t), generator=self.generator)
        if self.strategy == "final":
            step = ahead
        elif self.strategy == "future":
            step = torch.floor(u * (ahead + 1)).long()
        else:  # a step anywhere in the episode, before or after t
            behind = self._episode_extent(t, b, forward=False)
            step = torch.floor(u * (ahead + behind + 1)).long() - behind
        return torch.remainder(t + step, self._t_rows)

    def _episode_extent(self, t: Tensor, b: Tensor, forward: bool) -> Tensor:
        """How many stored steps of the same episode follow (``forward``) or precede ``t``."""
        f, n = self._flat, self.horizon
        sign = 1 if forward else -1
        offsets = torch.arange(1, n + 1)
        if forward:  # a step is of the episode if no step from t up to the one before it ended
            limit = torch.remainder(self._pos - 1 - t, self._t_rows)  # stored rows after t
            rows = torch.remainder(t[:, None] + sign * (offsets - 1), self._t_rows)
        else:  # a step before t is of the episode if neither it nor a later one ended
            oldest = (self._pos - self._rows) % self._t_rows
            limit = torch.remainder(t - oldest, self._t_rows)
            rows = torch.remainder(t[:, None] - offsets, self._t_rows)
        flat = rows * self._num_envs + b[:, None]
        ended = torch.cumsum((f["terminated"][flat] | f["truncated"][flat]).long(), 1) > 0
        inside = ~ended & (offsets[None, :] <= limit[:, None])
        # steps inside run from offset 1 up to the first that is not
        return torch.where(inside.all(1), inside.sum(1), (~inside).int().argmax(1))


__all__ = ["HindsightReplayBuffer", "Strategy", "goal_slices"]
