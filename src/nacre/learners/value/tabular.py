"""Tabular Q-learning (Watkins & Dayan 1992) for discrete observations (e.g. FrozenLake)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.data.validate import checked_batch
from nacre.errors import InputError, check_config
from nacre.kinds import LearnerKind, ScoresKind
from nacre.losses.td import q_learning_target
from nacre.types import Metrics


@dataclass(frozen=True)
class TabularConfig:
    """``lr`` is the step size α; ``init`` the initial value of every Q entry."""

    lr: float = 0.1
    gamma: float = 0.99
    init: float = 0.0

    def __post_init__(self) -> None:
        check_config(self, positive=("lr",), unit_interval=("gamma",))


class TabularQLearning:
    """``Q(s,a) ← Q(s,a) + α (r + γ max_a' Q(s',a') − Q(s,a))`` on a ``[S, A]`` table.

    Within one batch, updates to the same ``(s, a)`` are averaged.
    """

    kind = LearnerKind.REPLAY
    scores_kind = ScoresKind.VALUES
    needs_next_action = False

    def __init__(self, n_states: int, n_actions: int, config: TabularConfig | None = None) -> None:
        self.config = config or TabularConfig()
        self.n_states = n_states
        self.n_actions = n_actions
        self.table = torch.full((n_states, n_actions), self.config.init)

    @property
    def gamma(self) -> float:
        return self.config.gamma

    def _index(self, obs: Tensor) -> Tensor:
        idx = obs.long().reshape(-1)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.n_states):
            raise InputError("obs", f"tabular states must be in [0, {self.n_states})")
        return idx

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        return self.table[self._index(state)]

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        s, s_next = self._index(batch.obs), self._index(batch.next_obs)
        a = batch.action.long().reshape(-1)
        target = q_learning_target(batch.reward, self.table[s_next], batch.terminated,
                                   batch.discount_or(self.gamma), batch.next_mask)
        td_error = target - self.table[s, a]
        flat = s * self.n_actions + a
        total = torch.zeros(self.table.numel()).index_add_(0, flat, td_error)
        count = torch.zeros(self.table.numel()).index_add_(0, flat, torch.ones_like(td_error))
        update = total / count.clamp(min=1.0)
        self.table += self.config.lr * update.view_as(self.table)
        return {"loss": (td_error**2).mean(), "q_mean": self.table[s, a].mean()}

    def update_target(self) -> None:
        """No target table: every update bootstraps from the current one."""

    def state_dict(self) -> dict[str, Any]:
        return {"table": self.table}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        table = state["table"]
        if tuple(table.shape) != tuple(self.table.shape):
            raise InputError(
                "table", f"expected shape {tuple(self.table.shape)}, got {tuple(table.shape)}"
            )
        self.table = table.clone().float()
