"""On-policy rollout storage: the last ``T`` steps of ``B`` environments, read in time order.

PPO and REINFORCE learn from the steps their current policy collected, then forget them. The
storage is the replay ring (same validation, NumPy views, checkpointing) sized to exactly ``T``
rows, refused when full instead of wrapping, and handed to the learner as time-major ``[T, B]``
tensors by :meth:`RolloutBuffer.rollout` (see :func:`nacre.losses.gae` for what it computes).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nacre.data.batch import StepBatch, TransitionBatch
from nacre.data.replay import ReplayBuffer
from nacre.errors import InputError
from nacre.kinds import BufferKind
from nacre.spaces import ActionFeatures, ActionSpace


@dataclass(frozen=True)
class Rollout:
    """``T`` steps of ``B`` environments, time-major (``[T, B, ...]``).

    ``valid`` is False on the reset steps of Gymnasium's NEXT_STEP autoreset (not transitions).
    ``next_obs`` is the true next observation, the final one where an episode ended.
    ``initial_state`` (``[B, S]``): the history summarizer's state before the first step (a
    recurrent summarizer's LSTM state), None when it keeps none. ``cost`` (``[T, B]``): the
    steps' costs (``info["cost"]``), None when the environment reports none. ``mask``
    (``[T, B, K]``) and ``candidates`` (``[T, B, K]`` ids or ``[T, B, K, d_a]`` features): the
    candidate sets acted from (:mod:`nacre.data.candidates`), None for a fixed action set.
    """

    obs: Tensor
    action: Tensor
    reward: Tensor
    next_obs: Tensor
    terminated: Tensor
    truncated: Tensor
    valid: Tensor
    initial_state: Tensor | None = None
    cost: Tensor | None = None
    mask: Tensor | None = None
    candidates: Tensor | None = None

    @property
    def steps(self) -> int:
        return int(self.reward.shape[0])

    @property
    def num_envs(self) -> int:
        return int(self.reward.shape[1])

    @property
    def ends(self) -> Tensor:
        """``[T, B]``: the steps after which nothing flows back in returns — episode ends
        (terminated or truncated) and the NEXT_STEP reset steps, which are not transitions."""
        return self.terminated | self.truncated | ~self.valid

    def flat(self) -> TransitionBatch:
        """Every step as one row (``T · B`` rows, time-major), reset steps included."""
        n = self.steps * self.num_envs

        def rows(x: Tensor | None) -> Tensor | None:
            return None if x is None else x.reshape(n, *x.shape[2:])

        return TransitionBatch(
            obs=self.obs.reshape(n, *self.obs.shape[2:]),
            action=self.action.reshape(n, *self.action.shape[2:]),
            reward=self.reward.reshape(n), next_obs=self.next_obs.reshape(n, *self.obs.shape[2:]),
            terminated=self.terminated.reshape(n).float(), mask=rows(self.mask),
            candidates=rows(self.candidates),
        )

    def to(self, device: torch.device | str) -> Rollout:
        return replace(self, **{f.name: v.to(device) for f in fields(self)
                                for v in [getattr(self, f.name)] if v is not None})


class RolloutBuffer(ReplayBuffer):
    """Holds one rollout of ``steps`` steps per environment for an on-policy learner.

    With ``window = k > 1`` (a stacking or sequence summarizer) the rollout's ``obs`` and
    ``next_obs`` are the windows the policy acted on, cut from the ring as replay cuts them
    (``marked`` and ``actions`` as for :class:`~nacre.data.ReplayBuffer`); the last ``k - 1``
    steps of the previous rollout are kept so that the first windows of a rollout reach back
    into it, as they did while acting.

    Example:
        >>> import torch
        >>> buf = RolloutBuffer(steps=3)
        >>> for t in range(3):
        ...     buf.add(StepBatch(torch.zeros(2, 4), torch.tensor([0, 1]), torch.ones(2),
        ...                       torch.zeros(2, 4), torch.tensor([False, t == 1]),
        ...                       torch.tensor([False, False])))
        >>> r = buf.rollout()
        >>> r.reward.shape, r.terminated[:, 1].tolist()
        (torch.Size([3, 2]), [False, True, False])
    """

    kind = BufferKind.ROLLOUT

    def __init__(self, steps: int, action_space: ActionSpace | None = None, window: int = 1,
                 marked: bool = False, actions: ActionFeatures | None = None) -> None:
        if steps < 1:
            raise InputError("steps", f"must be >= 1, got {steps}")
        super().__init__(capacity=steps + window - 1, action_space=action_space, window=window,
                         marked=marked, actions=actions)
        self.steps = steps
        self._fresh = 0  # steps added since the last clear (the rollout's)
        self._initial: Tensor | None = None  # the summarizer's state before the first one

    def _allocate(self, arrays: dict[str, np.ndarray], num_envs: int) -> None:
        # exactly `steps` rows whatever B is, and the context the first windows read
        self.capacity = (self.steps + self.window - 1) * num_envs
        super()._allocate(arrays, num_envs)

    @property
    def full(self) -> bool:
        return self._fresh == self.steps

    def add(self, step: StepBatch) -> None:
        if self.full:
            raise InputError("buffer", f"the rollout already holds {self.steps} steps per env: "
                             "call agent.learn() (which clears it) before adding more; the "
                             "training loop does this when train.train_freq = steps × num_envs")
        if self._fresh == 0:  # where recurrent PPO re-runs its LSTM from
            self._initial = None if step.state is None else torch.as_tensor(step.state).clone()
        super().add(step)
        self._fresh += 1

    def rollout(self) -> Rollout:
        """The steps recorded since the last :meth:`clear`, as ``[T, B]`` tensors (views when
        ``window`` is 1)."""
        if not self._fresh:
            raise InputError("buffer", "the rollout is empty")
        rows = self._fresh
        if self.window == 1:  # one rollout, from row 0: views in time order
            def view(name: str) -> Tensor:
                return torch.from_numpy(self._arrays[name][:rows])

            valid = (torch.ones(rows, self._num_envs, dtype=torch.bool) if self._valid is None
                     else torch.from_numpy(self._valid[:rows]))
            cost = self._cost.state(rows)
            sets = self._candidates
            mask = None if sets.mask is None else torch.from_numpy(sets.mask[:rows])
            candidates = None if sets.values is None else torch.from_numpy(sets.values[:rows])
            return Rollout(obs=view("obs"), action=view("action"), reward=view("reward"),
                           next_obs=view("next_obs"), terminated=view("terminated"),
                           truncated=view("truncated"), valid=valid,
                           initial_state=self._initial, cost=cost, mask=mask,
                           candidates=candidates if candidates is None
                           or candidates.is_floating_point() else candidates.long())
        t = torch.remainder(self._pos - rows + torch.arange(rows), self._t_rows)
        t_all = t.repeat_interleave(self._num_envs)  # time-major [T * B]
        b_all = torch.arange(self._num_envs).repeat(rows)
        batch = self._gather(t_all, b_all)
        flat = t_all * self._num_envs + b_all
        cost = self._cost.gather(flat)

        def rows_of(x: Tensor) -> Tensor:
            return x.reshape(rows, self._num_envs, *x.shape[1:])

        valid = (torch.ones(rows, self._num_envs, dtype=torch.bool) if self._valid is None
                 else torch.from_numpy(self._valid)[t])
        return Rollout(obs=rows_of(batch.obs), action=rows_of(batch.action),
                       reward=rows_of(batch.reward), next_obs=rows_of(batch.next_obs),
                       terminated=rows_of(self._flat["terminated"][flat]),
                       truncated=rows_of(self._flat["truncated"][flat]), valid=valid,
                       initial_state=self._initial, cost=None if cost is None else rows_of(cost),
                       mask=None if batch.mask is None else rows_of(batch.mask),
                       candidates=None if batch.candidates is None
                       else rows_of(batch.candidates))

    def clear(self) -> None:
        self._fresh = 0
        if self.window == 1:  # nothing to keep for the next rollout's windows
            self._pos = self._rows = 0
        if self._valid is not None and self.window == 1:
            self._valid[:] = True

    def sample(self, batch_size: int) -> TransitionBatch:
        raise InputError("buffer", "a rollout buffer is read whole by an on-policy learner "
                         "(learner.learn_rollout), not sampled")

    @property
    def can_sample(self) -> bool:
        return False

    def state_dict(self) -> dict[str, Any]:
        saved = {**super().state_dict(), "fresh": self._fresh}
        if self._initial is not None:
            saved["initial_state"] = self._initial.clone()
        return saved

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._initial = state.get("initial_state")
        # a checkpoint written before windows existed: its rollout started at row 0
        self._fresh = int(state.get("fresh", state["rows"]))
