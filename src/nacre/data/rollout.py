"""On-policy rollout storage: the last ``T`` steps of ``B`` environments, read in time order.

PPO and REINFORCE learn from the steps their current policy collected, then forget them. The
storage is the replay ring (same validation, NumPy views, checkpointing) sized to exactly ``T``
rows, refused when full instead of wrapping, and handed to the learner as time-major ``[T, B]``
tensors by :meth:`RolloutBuffer.rollout` (see :func:`nacre.losses.gae` for what it computes).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import torch
from torch import Tensor

from nacre.data.batch import StepBatch, TransitionBatch
from nacre.data.replay import ReplayBuffer
from nacre.errors import InputError
from nacre.kinds import BufferKind
from nacre.spaces import ActionSpace


@dataclass(frozen=True)
class Rollout:
    """``T`` steps of ``B`` environments, time-major (``[T, B, ...]``).

    ``valid`` is False on the reset steps of Gymnasium's NEXT_STEP autoreset (not transitions).
    ``next_obs`` is the true next observation, the final one where an episode ended.
    """

    obs: Tensor
    action: Tensor
    reward: Tensor
    next_obs: Tensor
    terminated: Tensor
    truncated: Tensor
    valid: Tensor

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
        return TransitionBatch(
            obs=self.obs.reshape(n, *self.obs.shape[2:]),
            action=self.action.reshape(n, *self.action.shape[2:]),
            reward=self.reward.reshape(n), next_obs=self.next_obs.reshape(n, *self.obs.shape[2:]),
            terminated=self.terminated.reshape(n).float(),
        )

    def to(self, device: torch.device | str) -> Rollout:
        return replace(self, **{f.name: getattr(self, f.name).to(device) for f in fields(self)})


class RolloutBuffer(ReplayBuffer):
    """Holds one rollout of ``steps`` steps per environment for an on-policy learner.

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

    def __init__(self, steps: int, action_space: ActionSpace | None = None) -> None:
        if steps < 1:
            raise InputError("steps", f"must be >= 1, got {steps}")
        super().__init__(capacity=steps, action_space=action_space)
        self.steps = steps

    def _allocate(self, arrays: dict[str, np.ndarray], num_envs: int) -> None:
        self.capacity = self.steps * num_envs  # exactly `steps` rows whatever B is
        super()._allocate(arrays, num_envs)

    @property
    def full(self) -> bool:
        return bool(self._arrays) and self._rows == self._t_rows

    def add(self, step: StepBatch) -> None:
        if self.full:
            raise InputError("buffer", f"the rollout already holds {self.steps} steps per env: "
                             "call agent.learn() (which clears it) before adding more; the "
                             "training loop does this when train.train_freq = steps × num_envs")
        super().add(step)

    def rollout(self) -> Rollout:
        """The steps recorded since the last :meth:`clear`, as ``[T, B]`` tensors (views)."""
        if not self._rows:
            raise InputError("buffer", "the rollout is empty")
        rows = self._rows

        def view(name: str) -> Tensor:
            return torch.from_numpy(self._arrays[name][:rows])

        valid = (torch.ones(rows, self._num_envs, dtype=torch.bool) if self._valid is None
                 else torch.from_numpy(self._valid[:rows]))
        return Rollout(obs=view("obs"), action=view("action"), reward=view("reward"),
                       next_obs=view("next_obs"), terminated=view("terminated"),
                       truncated=view("truncated"), valid=valid)

    def clear(self) -> None:
        self._pos = self._rows = 0
        if self._valid is not None:
            self._valid[:] = True

    def sample(self, batch_size: int) -> TransitionBatch:
        raise InputError("buffer", "a rollout buffer is read whole by an on-policy learner "
                         "(learner.learn_rollout), not sampled")

    @property
    def can_sample(self) -> bool:
        return False
