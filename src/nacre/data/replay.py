"""Replay buffers on preallocated ring storage.

Storage is time-major: each field is one preallocated array of shape ``[T, B, ...]`` where ``B``
is the number of parallel environments and ``T = ceil(capacity / B)``. Writes go through NumPy
views of that memory (a few hundred nanoseconds each, no Python objects per transition) and
samples are gathered with index tensors from torch views of the same memory. The time-major
layout makes multi-step returns and SARSA's next action a fixed offset away in the same column.

Transitions written by a Gymnasium vector env in NEXT_STEP autoreset mode include one "reset
step" per finished episode that is not a real transition; they are stored with ``valid=False``
and never sampled.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nacre.data.batch import StepBatch, TransitionBatch
from nacre.data.candidates import CandidateColumn
from nacre.data.cost import CostColumn
from nacre.data.validate import (
    all_finite,
    as_batch_array,
    check_allocation,
    check_count,
    check_step_values,
)
from nacre.data.windows import gather_windows, mark_steps, window_rows
from nacre.errors import InputError
from nacre.kinds import BufferKind
from nacre.losses.returns import n_step_returns
from nacre.spaces import ActionFeatures, ActionSpace, DiscreteActionSpace

_FIELDS = ("obs", "action", "reward", "next_obs", "terminated", "truncated", "propensity")


def _np(value: Any) -> Any:
    return value.numpy(force=True) if isinstance(value, Tensor) else value


class ReplayBuffer:
    """Uniform experience replay (Lin 1992; Mnih et al. 2015) with optional n-step returns.

    Args:
        capacity: number of transitions kept (rounded up to a multiple of the env count).
        action_space: the actions stored must belong to it (checked on every ``add`` when it
            is discrete; None: any integer or finite number).
        n_step: length of the multi-step return; 1 is plain one-step TD.
        gamma: discount of the n-step returns: the learner's (``build`` passes
            ``learner.gamma``); needed when ``n_step > 1``.
        seed: seed of the sampling generator.
        window: with ``window = k > 1``, ``obs`` and ``next_obs`` of a sample are the last ``k``
            observations of its episode, ``[N, k, *obs]``, oldest first and zero before the
            episode's start (:mod:`nacre.data.windows`): cut from the ring when sampled, so
            each observation is still stored once.
        marked: windows carry one more feature, 1 on the steps of the sample's episode and 0 on
            the padding (what :class:`~nacre.history.SequenceHistory` reads).
        actions: with ``marked``, each window row also holds the features of the action taken
            at its step (zeros on the last, the sample's own step), encoded by ``actions``.

    Example:
        >>> import torch
        >>> from nacre.data import StepBatch
        >>> buf = ReplayBuffer(capacity=8, seed=0)
        >>> for t in range(10):
        ...     buf.add(StepBatch(torch.zeros(1, 3), torch.tensor([1]), torch.tensor([1.0]),
        ...                       torch.zeros(1, 3), torch.tensor([False]), torch.tensor([False])))
        >>> len(buf), buf.sample(4).obs.shape
        (8, torch.Size([4, 3]))
    """

    kind = BufferKind.REPLAY
    needs_next_action = False

    def __init__(
        self, capacity: int, n_step: int = 1, gamma: float | None = None,
        seed: int | None = None, action_space: ActionSpace | None = None, window: int = 1,
        marked: bool = False, actions: ActionFeatures | None = None,
    ) -> None:
        check_count("capacity", capacity, 1)
        check_count("window", window, 1)
        if actions is not None and not marked:
            raise InputError("actions", "window rows hold actions only with marked=True")
        self.window = window
        self.marked = marked
        self.actions = actions
        if n_step < 1:
            raise InputError("n_step", f"must be >= 1, got {n_step}")
        if n_step > 1 and gamma is None:
            raise InputError("gamma", f"{n_step}-step returns need the learner's discount")
        self.capacity = capacity
        self.n_step = n_step
        self.gamma = 1.0 if gamma is None else gamma
        self.n_actions = action_space.n if isinstance(action_space, DiscreteActionSpace) else None
        self.generator = torch.Generator()
        if seed is not None:
            self.generator.manual_seed(seed)
        self._arrays: dict[str, np.ndarray] = {}
        self._flat: dict[str, Tensor] = {}
        self._valid: np.ndarray | None = None
        self._cost = CostColumn()  # allocated when the first cost arrives
        self._candidates = CandidateColumn()  # when the first candidate set arrives
        self._shape_list: list[tuple[int, ...]] = []
        self._t_rows = 0
        self._num_envs = 0
        self._pos = 0  # next row to write
        self._rows = 0  # rows filled
        self._float_obs = False
        self._checked: Any = None

    # ------------------------------------------------------------------ storage
    def _allocate(self, arrays: dict[str, np.ndarray], num_envs: int) -> None:
        self._num_envs = num_envs
        self._float_obs = arrays["next_obs"].dtype.kind == "f"
        self._t_rows = math.ceil(self.capacity / num_envs)
        check_allocation("capacity", self._t_rows * sum(a.nbytes for a in arrays.values()),
                         f"a replay buffer of {self.capacity:,} transitions")
        self._shape_list = [tuple(arrays[name].shape) for name in _FIELDS]
        for name, arr in arrays.items():
            self._arrays[name] = np.zeros((self._t_rows, *arr.shape), dtype=arr.dtype)
            self._flat[name] = torch.from_numpy(self._arrays[name]).view(
                self._t_rows * num_envs, *arr.shape[1:]
            )

    def __len__(self) -> int:
        return self._rows * self._num_envs

    @property
    def nbytes(self) -> int:
        """Bytes held by the preallocated storage."""
        total = sum(a.nbytes for a in self._arrays.values()) + self._candidates.nbytes
        return total + (0 if self._valid is None else self._valid.nbytes) + self._cost.nbytes

    def add(self, step: StepBatch) -> None:
        """Append one step of ``B`` transitions (each field has leading dim ``B``).

        Fields may be NumPy arrays or tensors; they are validated (shapes, finite rewards and
        observations) before anything is written.
        """
        values = [
            _np(step.obs), _np(step.action), _np(step.reward), _np(step.next_obs),
            _np(step.terminated), _np(step.truncated),
            1.0 if step.propensity is None else _np(step.propensity),
        ]
        if not self._arrays:
            self._allocate_from(values)
        for name, value, shape in zip(_FIELDS, values, self._shape_list, strict=True):
            got = value.shape if type(value) is np.ndarray else np.shape(value)
            if got != shape and not isinstance(value, float):
                raise InputError(name, f"expected shape {shape}, got {got}")
        if not all_finite(values[2]):
            raise InputError("reward", "contains NaN or inf")
        check_step_values(values[1], values[6], self.n_actions, values[4], values[5])
        if self._float_obs:
            # obs is usually the previous step's next_obs, already checked.
            if values[0] is not self._checked and not all_finite(values[0]):
                raise InputError("obs", "contains NaN or inf")
            if not all_finite(values[3]):
                raise InputError("next_obs", "contains NaN or inf")
            self._checked = values[3]
        pos = self._pos
        self._cost.write(pos, step.cost, self._t_rows, self._num_envs)
        self._candidates.write(pos, step.available, step.next_available, self._t_rows,
                               self._num_envs, step.final_available, values[5])
        for arr, value in zip(self._arrays.values(), values, strict=True):
            arr[pos] = value
        if step.valid is not None:
            valid_arr = as_batch_array("valid", step.valid).astype(np.bool_, copy=False)
            if valid_arr.shape != (self._num_envs,):
                raise InputError("valid", f"expected shape ({self._num_envs},), got "
                                 f"{valid_arr.shape}")
            self._write_valid(pos, valid_arr)
        elif self._valid is not None:
            self._valid[pos] = True
        self._pos = (pos + 1) % self._t_rows
        self._rows = min(self._rows + 1, self._t_rows)

    def _allocate_from(self, values: list[Any]) -> None:
        batch = {name: as_batch_array(name, v) for name, v in zip(_FIELDS, values, strict=True)
                 if not isinstance(v, float)}
        b = batch["obs"].shape[0]
        batch["propensity"] = np.ones(b, np.float32)
        batch["reward"] = batch["reward"].astype(np.float32)
        for name in ("terminated", "truncated"):
            batch[name] = batch[name].astype(np.bool_)
        integer = batch["action"].dtype.kind in "iub"
        batch["action"] = batch["action"].astype(np.int64 if integer else np.float32)
        self._check_first(batch, b)
        self._allocate({name: batch[name] for name in _FIELDS}, b)

    def _check_first(self, batch: dict[str, np.ndarray], b: int) -> None:
        for name, arr in batch.items():
            if arr.shape[0] != b:
                raise InputError(name, f"expected leading dimension B={b}, got {arr.shape}")
        if batch["obs"].shape != batch["next_obs"].shape:
            raise InputError("next_obs", f"shape {batch['next_obs'].shape} != obs shape "
                             f"{batch['obs'].shape}")

    def _write_valid(self, pos: int, valid: np.ndarray) -> None:
        if self._valid is None:
            if valid.all():
                return
            self._valid = np.ones((self._t_rows, self._num_envs), dtype=np.bool_)
        self._valid[pos] = valid

    # ------------------------------------------------------------------ sampling
    def _sample_rows(self, n: int, exclude_latest: bool) -> tuple[Tensor, Tensor]:
        rows = self._rows - int(exclude_latest)
        if rows < 1:
            raise InputError("batch_size", f"cannot sample: the buffer holds {len(self)} steps")
        j = torch.randint(rows * self._num_envs, (n,), generator=self.generator)
        start = (self._pos - self._rows) % self._t_rows
        if self._num_envs == 1:  # one column: skip the div/mod of the general case
            t = torch.remainder(j.add_(start), self._t_rows) if start else j
            b = torch.zeros_like(t)
        else:
            t = torch.remainder(start + torch.div(j, self._num_envs, rounding_mode="floor"),
                                self._t_rows)
            b = torch.remainder(j, self._num_envs)
        if self._valid is not None:
            valid = torch.from_numpy(self._valid)
            bad = ~valid[t, b]
            for attempt in range(1000):  # redraw the NEXT_STEP reset steps
                if not bool(bad.any()):
                    break
                if attempt == 999:
                    raise InputError("buffer", "no valid transition to sample")
                k = int(bad.sum())
                j2 = torch.randint(rows * self._num_envs, (k,), generator=self.generator)
                t[bad] = torch.remainder(start + torch.div(j2, self._num_envs,
                                                           rounding_mode="floor"), self._t_rows)
                b[bad] = torch.remainder(j2, self._num_envs)
                bad = ~valid[t, b]
        return t, b

    def sample(self, batch_size: int) -> TransitionBatch:
        """Draw ``batch_size`` transitions uniformly at random."""
        t, b = self._sample_rows(batch_size, exclude_latest=self.needs_next_action)
        return self._gather(t, b)

    def _gather(self, t: Tensor, b: Tensor) -> TransitionBatch:
        batch, end = self._gather_steps(t, b)
        batch = self._candidates.attach(batch, t, b, end, self._pos)
        if self.window == 1:
            return batch
        obs, mask, rows = self._windows(t, b)
        before_next, before_mask, end_rows = self._windows(end, b)  # up to the last step
        next_obs = torch.cat([before_next[:, 1:], batch.next_obs[:, None]], dim=1)  # a step on
        if self.marked:
            next_mask = torch.cat([before_mask[:, 1:], torch.ones_like(mask[:, :1])], dim=1)
            if self.actions is not None:  # each row with its step's action; the last one's
                acts = self._actions(rows, b, mask)  # is not chosen yet when acting: zero
                end_acts = self._actions(end_rows, b, before_mask)
                zero = torch.zeros_like(acts[:, :1])
                obs = torch.cat([obs.float(), torch.cat([acts[:, :-1], zero], 1)], dim=2)
                next_obs = torch.cat([next_obs.float(), torch.cat([end_acts[:, 1:], zero], 1)],
                                     dim=2)
            obs, next_obs = mark_steps(obs, mask), mark_steps(next_obs, next_mask)
        return replace(batch, obs=obs, next_obs=next_obs)

    def _windows(self, t: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The ``window`` observations ending at rows ``t`` of columns ``b``, their mask and
        rows."""
        k, f = self.window, self._flat
        oldest = (self._pos - self._rows) % self._t_rows
        back = torch.remainder(t[:, None] - 1 - torch.arange(k - 1), self._t_rows)
        flat_back = back * self._num_envs + b[:, None]
        stops = f["terminated"][flat_back] | f["truncated"][flat_back]
        rows, mask = window_rows(t, k, self._t_rows, torch.remainder(t - oldest, self._t_rows),
                                 stops)
        return gather_windows(f["obs"], rows, b, mask, self._num_envs), mask, rows

    def _actions(self, rows: Tensor, b: Tensor, mask: Tensor) -> Tensor:
        """The features ``[N, k, A]`` of the actions stored at ``rows`` of columns ``b``."""
        assert self.actions is not None
        n, k = rows.shape
        acts = self.actions.encode(self._flat["action"][(rows * self._num_envs
                                                         + b[:, None]).reshape(-1)])
        return acts.view(n, k, -1) * mask[..., None].float()

    def _gather_steps(self, t: Tensor, b: Tensor) -> tuple[TransitionBatch, Tensor]:
        """The transitions at rows ``t`` of columns ``b``, and the rows their (n-step) next
        observations come from."""
        f = self._flat
        idx = t * self._num_envs + b
        obs = f["obs"][idx]
        action = f["action"][idx]
        next_action = None
        if self.needs_next_action and self.n_step == 1:
            nxt = torch.remainder(t + 1, self._t_rows) * self._num_envs + b
            next_action = self._next_action(f["action"][nxt], f["truncated"][idx])
        if self.n_step == 1:
            return TransitionBatch(
                obs=obs,
                action=action,
                reward=f["reward"][idx],
                next_obs=f["next_obs"][idx],
                terminated=f["terminated"][idx].float(),
                next_action=next_action,
                propensity=f["propensity"][idx],
                cost=self._cost.gather(idx),
            ), t
        k = torch.arange(self.n_step)
        rows = torch.remainder(t[:, None] + k, self._t_rows)  # [N, n]
        ahead = torch.remainder(self._pos - 1 - t, self._t_rows)  # rows recorded after t
        if self.needs_next_action:  # the window must end where the next action is known
            ahead = ahead - 1
        available = k[None, :] <= ahead[:, None]
        flat = rows * self._num_envs + b[:, None]
        stops = f["terminated"][flat] | f["truncated"][flat]
        ret, last, steps = n_step_returns(f["reward"][flat], stops, available, self.gamma)
        costs = self._cost.gather(flat)  # discounted over the same steps as the rewards
        cost = None if costs is None else n_step_returns(costs, stops, available, self.gamma)[0]
        end = flat.gather(1, last[:, None]).squeeze(1)
        end_t = rows.gather(1, last[:, None]).squeeze(1)
        if self.needs_next_action:
            nxt = torch.remainder(end_t + 1, self._t_rows) * self._num_envs + b
            next_action = self._next_action(f["action"][nxt], f["truncated"][end])
        return TransitionBatch(
            obs=obs,
            action=action,
            reward=ret,
            next_obs=f["next_obs"][end],
            terminated=f["terminated"][end].float(),
            discount=self.gamma ** steps.to(torch.float32),
            next_action=next_action,
            propensity=f["propensity"][idx],
            cost=cost,
        ), end_t

    def mark_episodes_cut(self) -> None:
        """Mark the newest step of every env as truncated (its episode will not continue)."""
        if self._rows:
            newest = (self._pos - 1) % self._t_rows
            self._arrays["truncated"][newest] = True
            self._candidates.cut(newest, self._num_envs)

    @property
    def can_sample(self) -> bool:
        return self._rows - int(self.needs_next_action) >= 1

    @staticmethod
    def _next_action(following: Tensor, truncated: Tensor) -> Tensor:
        # After a truncation the action that follows is the next episode's, none was taken at
        # the final observation: -1 makes the learner bootstrap from its greedy value there.
        return torch.where(truncated, torch.full_like(following, -1), following)

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, Any]:
        """Tensors of the filled rows plus counters (the generator state included)."""
        tensors = {name: torch.from_numpy(arr[: self._rows].copy())
                   for name, arr in self._arrays.items()}
        if self._valid is not None:
            tensors["valid"] = torch.from_numpy(self._valid[: self._rows].copy())
        cost = self._cost.state(self._rows)
        if cost is not None:
            tensors["cost"] = cost
        tensors.update(self._candidates.state(self._rows))
        return {
            "tensors": tensors,
            "pos": self._pos,
            "rows": self._rows,
            "num_envs": self._num_envs,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        tensors: dict[str, Tensor] = state["tensors"]
        self.generator.set_state(state["generator"])
        self._arrays, self._flat, self._valid, self._cost = {}, {}, None, CostColumn()
        self._candidates = CandidateColumn()
        self._pos, self._rows = int(state["pos"]), int(state["rows"])
        if not tensors:
            return
        num_envs = int(state["num_envs"])
        # one row of each field (zeros when no row is filled, e.g. a cleared rollout)
        self._allocate({n: np.zeros(tuple(tensors[n].shape[1:]), dtype=tensors[n].numpy().dtype)
                        for n in _FIELDS}, num_envs)
        for name in _FIELDS:
            self._arrays[name][: self._rows] = tensors[name].numpy()
        if "valid" in tensors:
            self._valid = np.ones((self._t_rows, num_envs), dtype=np.bool_)
            self._valid[: self._rows] = tensors["valid"].numpy()
        self._cost.load(tensors.get("cost"), self._t_rows, num_envs)
        self._candidates.load(tensors, self._t_rows, num_envs)


class SARSABuffer(ReplayBuffer):
    """Replay that also returns the action actually taken next (on-policy SARSA targets).

    The newest step is never sampled: its next action has not been chosen yet.
    """

    needs_next_action = True
