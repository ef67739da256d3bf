"""The units of data: one step of ``B`` environments as it is stored (:class:`StepBatch`),
``T`` such steps as a collector sends them (:class:`StepChunk`), and a batch of transitions as
tensors with a leading batch dim, as learners read it (:class:`TransitionBatch`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor


@dataclass(slots=True)
class StepBatch:
    """One step of ``B`` environments, as :meth:`nacre.types.Buffer.add` stores it.

    Every field has leading dimension ``B`` and may be a NumPy array or a tensor (buffers
    validate and convert). ``propensity`` is the behaviour policy's probability of ``action``
    (None: 1); ``valid`` is False on steps that are not transitions (the reset step of
    Gymnasium's NEXT_STEP autoreset; None: all valid); ``cost`` the step's cost
    (``info["cost"]``; None: none reported); ``state`` the history summarizer's state the
    action was chosen from (a rollout buffer keeps the one of its first step, from which
    recurrent PPO re-runs its LSTM; None: the summarizer keeps none); ``available`` /
    ``next_available`` the :class:`~nacre.spaces.AvailableActions` at ``obs`` and at the
    observations acted on next (None: every action; :mod:`nacre.data.candidates`), and
    ``final_available`` those at ``next_obs`` where an episode ended (None: not reported).
    """

    obs: Any
    action: Any
    reward: Any
    next_obs: Any
    terminated: Any
    truncated: Any
    propensity: Any = None
    valid: Any = None
    cost: Any = None
    state: Any = None
    available: Any = None
    next_available: Any = None
    final_available: Any = None


# the StepBatch fields a chunk carries (candidate sets are not carried: see StepChunk)
CHUNK_FIELDS = ("obs", "action", "reward", "next_obs", "terminated", "truncated", "propensity",
                "valid", "cost", "state")


@dataclass
class StepChunk:
    """``T`` consecutive steps of ``B`` environments, as a collector of
    :mod:`nacre.distributed` sends them to the learner: NumPy arrays, no object per transition.

    ``columns`` holds each :data:`CHUNK_FIELDS` field of the :class:`StepBatch` es the collector's
    agent stored, ``[T, B, ...]`` (a field that was None at every step is absent); ``obs_after``
    the observations ``[B, ...]`` acted on after the last step. Episodes that ended: the step
    ``t`` each ended at (``episode_steps``, ascending), its return and length; ``faults``: the
    environment faults survived, as ``(t, message)``. Candidate sets (dynamic actions) are not
    carried.
    """

    columns: dict[str, np.ndarray]
    obs_after: np.ndarray
    episode_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    episode_returns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    episode_lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    faults: list[tuple[int, str]] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return int(self.columns["reward"].shape[0])

    @property
    def num_envs(self) -> int:
        return int(self.columns["reward"].shape[1])

    def step(self, t: int) -> StepBatch:
        """Step ``t`` as the :class:`StepBatch` the collector's agent stored."""
        return StepBatch(**{name: column[t] for name, column in self.columns.items()})

    def episodes(self, t: int) -> tuple[list[float], list[int]]:
        """Returns and lengths of the episodes that ended at step ``t``."""
        lo, hi = np.searchsorted(self.episode_steps, [t, t + 1])
        return (self.episode_returns[lo:hi].tolist(), self.episode_lengths[lo:hi].tolist())

    @staticmethod
    def concat(chunks: Sequence[StepChunk]) -> StepChunk:
        """Chunks of the same ``T`` steps side by side: ``B = Σ B_i`` environments, in order
        (the episodes of one step listed in that order too)."""
        first = chunks[0]
        names = [n for n in CHUNK_FIELDS if n in first.columns]
        if any(sorted(c.columns) != sorted(names) or c.steps != first.steps for c in chunks):
            raise ValueError("chunks of different steps or fields cannot be joined")
        steps = np.concatenate([c.episode_steps for c in chunks])
        order = np.argsort(steps, kind="stable")  # by step, then by chunk
        faults = sorted((f for c in chunks for f in c.faults), key=lambda f: f[0])
        return StepChunk(
            {n: np.concatenate([c.columns[n] for c in chunks], axis=1) for n in names},
            np.concatenate([c.obs_after for c in chunks]), steps[order],
            np.concatenate([c.episode_returns for c in chunks])[order],
            np.concatenate([c.episode_lengths for c in chunks])[order], faults)


@dataclass(frozen=True)
class TransitionBatch:
    """``n`` transitions ``(s, a, r, s', terminated)``, all tensors with leading dim ``n``.

    ``discount`` is ``γ^k`` per row when the buffer built k-step returns (None: the learner's γ).
    ``next_action`` is set by SARSA buffers; with dynamic action sets ``mask`` / ``next_mask``
    ([n, K] bool) say which actions were available at ``obs`` / ``next_obs``, and
    ``candidates`` / ``next_candidates`` hold their catalogue ids ([n, K] int64) or features
    ([n, K, d_a]) as stored, or what the agent's action representation made of them;
    ``propensity`` is the behaviour policy's probability of ``action`` (for off-policy
    evaluation); ``weight`` holds importance weights from prioritized samplers, and ``index``
    the storage slot each row was drawn from (so the learner's TD errors can update its
    priority); ``cost`` the step's cost, discounted over the same steps as ``reward`` for
    k-step returns (None: the env reports no cost); ``bootstrap`` ([n, M]) which of ``M``
    ensemble members learn from each row (:class:`~nacre.data.BootstrapReplayBuffer`).
    On-policy learners get minibatches of a processed rollout: ``advantage``, ``returns`` (the
    value targets), ``log_prob`` and ``value`` (of the policy and critic that collected it).
    """

    obs: Tensor
    action: Tensor
    reward: Tensor
    next_obs: Tensor
    terminated: Tensor
    discount: Tensor | None = None
    next_action: Tensor | None = None
    mask: Tensor | None = None
    next_mask: Tensor | None = None
    candidates: Tensor | None = None
    next_candidates: Tensor | None = None
    propensity: Tensor | None = None
    weight: Tensor | None = None
    index: Tensor | None = None
    cost: Tensor | None = None
    bootstrap: Tensor | None = None
    advantage: Tensor | None = None
    returns: Tensor | None = None
    log_prob: Tensor | None = None
    value: Tensor | None = None

    def __len__(self) -> int:
        return int(self.reward.shape[0])

    def split(self, size: int) -> list[TransitionBatch]:
        """Consecutive batches of ``size`` rows (views, no copy); ``[self]`` when it fits."""
        if len(self) <= size:  # e.g. an online bandit's one new row: skip ~40 µs of splitting
            return [self]
        parts: dict[str, tuple[Tensor, ...] | None] = {
            f.name: (torch.split(v, size) if isinstance(v, Tensor) else None)
            for f in fields(self)
            for v in [getattr(self, f.name)]
        }
        count = len(torch.split(self.reward, size))
        return [
            TransitionBatch(**{k: (None if v is None else v[i]) for k, v in parts.items()})  # type: ignore[arg-type]
            for i in range(count)
        ]

    def select(self, idx: Tensor) -> TransitionBatch:
        """The rows ``idx`` (indices or a boolean mask) of every tensor field."""
        return replace(self, **{f.name: v[idx] for f in fields(self)
                                for v in [getattr(self, f.name)] if isinstance(v, Tensor)})

    def discount_or(self, gamma: float) -> float | Tensor:
        """The bootstrap discount of each row: ``γ^k`` where the buffer built k-step returns,
        else the learner's ``gamma``."""
        return gamma if self.discount is None else self.discount

    def to(self, device: torch.device | str) -> TransitionBatch:
        moved = {
            f.name: (v.to(device, non_blocking=True) if isinstance(v, Tensor) else v)
            for f in fields(self)
            for v in [getattr(self, f.name)]
        }
        return replace(self, **moved)
