"""Disjoint models of any kind: one single-action bandit learner per arm.

:class:`PerArm` holds ``K`` learners, each scoring one action from the context alone, and routes
every row of a batch to the learner of the arm it took — the "disjoint" model of Li et al. (2010)
with any learner in place of ridge regression (e.g. one small network per creative). One
``learn_batch`` call updates every arm present in the batch. For per-arm ridge regression use
:class:`~nacre.learners.bandits.DisjointLinearBandit`, which does the same with batched tensor
algebra instead of one call per arm.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.data.validate import checked_batch
from nacre.errors import InputError
from nacre.kinds import LearnerKind, ScoresKind
from nacre.types import Learner, Metrics


class PerArm:
    """``K`` single-action learners made by ``make(arm)``; scores ``[B, K]`` or ``[B, K, 2]``.

    Example:
        >>> import torch
        >>> from nacre.learners.bandits import NeuralBandit
        >>> bandit = PerArm(lambda arm: NeuralBandit(context_dim=3, n_actions=1), n_actions=4)
        >>> bandit.scores(torch.zeros(2, 3), None).shape
        torch.Size([2, 4])
    """

    def __init__(self, make: Callable[[int], Learner], n_actions: int) -> None:
        if n_actions < 1:
            raise InputError("n_actions", f"must be >= 1, got {n_actions}")
        self.arms: list[Learner] = [make(arm) for arm in range(n_actions)]
        kinds = {arm.scores_kind for arm in self.arms}
        if len(kinds) != 1:
            raise InputError("make", f"the arms' learners score differently: {sorted(kinds)}")
        self.scores_kind: ScoresKind = kinds.pop()
        # one arm with an exact posterior makes the whole model need each decision once
        online = any(arm.kind is LearnerKind.ONLINE for arm in self.arms)
        self.kind = LearnerKind.ONLINE if online else LearnerKind.REPLAY
        self.n_actions = n_actions

    needs_next_action = False
    gamma = None  # one-step rewards: nothing to bootstrap

    def update_target(self) -> None:
        """No target network."""

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        per_arm = [arm.scores(state, None) for arm in self.arms]  # each [B, 1] or [B, 1, 2]
        return torch.cat(per_arm, dim=1)

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        arm = batch.action.long().reshape(-1)
        if arm.numel() and (int(arm.min()) < 0 or int(arm.max()) >= self.n_actions):
            raise InputError("action", f"expected arms in [0, {self.n_actions})")
        losses, weights = [], []
        for a in torch.unique(arm).tolist():
            rows = torch.nonzero(arm == a).squeeze(1)
            part = replace(batch.select(rows), action=torch.zeros_like(rows))
            metrics = self.arms[a].learn_batch(part)
            if "loss" in metrics:
                losses.append(metrics["loss"].float())
                weights.append(float(rows.numel()))
        if not losses:
            return {"arms_updated": torch.tensor(float(torch.unique(arm).numel()))}
        w = torch.tensor(weights)
        return {"loss": (torch.stack(losses) * w).sum() / w.sum(),
                "arms_updated": torch.tensor(float(len(weights)))}

    def state_dict(self) -> dict[str, Any]:
        return {str(a): arm.state_dict() for a, arm in enumerate(self.arms)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if sorted(state, key=int) != [str(a) for a in range(self.n_actions)]:
            raise InputError("state", f"expected the states of {self.n_actions} arms")
        for a, arm in enumerate(self.arms):
            arm.load_state_dict(state[str(a)])


__all__ = ["PerArm"]
