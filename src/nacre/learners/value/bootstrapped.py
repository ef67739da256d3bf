"""Bootstrapped DQN (Osband et al. 2016, "Deep Exploration via Bootstrapped DQN"), with
optional randomized prior functions (Osband et al. 2018).

``M`` Q-value heads (:class:`~nacre.networks.EnsembleQHead`, one batched forward pass for all of
them) each regress toward their own Q-learning target, on the rows their bootstrap mask gives
them (:class:`~nacre.data.BootstrapReplayBuffer`; without masks every head sees every row, which
with random priors is what bsuite's baseline does). Deep exploration comes from acting: the
``bootstrapped`` explorer follows one head, drawn at random, for a whole episode, so the agent
commits to that head's hypothesis about the unseen long enough to test it.

Scores are ``[B, K, 1 + M]`` (:attr:`~nacre.kinds.ScoresKind.ENSEMBLE`): the members' mean
first, which greedy and ε-greedy read, then each member's values.
"""

from __future__ import annotations

import torch
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.data.validate import checked_batch
from nacre.errors import InputError
from nacre.kinds import ScoresKind
from nacre.learners.value.dqn import DQN, DQNConfig
from nacre.losses.td import bootstrapped_td_loss, ensemble_q_target
from nacre.networks.ensemble import EnsembleQHead
from nacre.networks.q import QNetwork
from nacre.types import Metrics


def ensemble_scores(values: Tensor) -> Tensor:
    """``[B, M, K]`` member values → ``[B, K, 1 + M]``: their mean, then each member's."""
    per_action = values.transpose(1, 2)
    return torch.cat([per_action.mean(dim=2, keepdim=True), per_action], dim=2)


class BootstrappedDQN(DQN):
    """An ensemble of Q-heads, each learning from its own bootstrap of the replay.

    Example:
        >>> import torch
        >>> from nacre.networks import EnsembleQHead, FlattenEncoder, QNetwork
        >>> from nacre.data import TransitionBatch
        >>> net = QNetwork(FlattenEncoder((4,)), EnsembleQHead(4, 2, members=5))
        >>> learner = BootstrappedDQN(net, DQNConfig(lr=1e-3))
        >>> learner.scores(torch.zeros(3, 4)).shape  # the mean, then 5 members
        torch.Size([3, 2, 6])
        >>> batch = TransitionBatch(torch.zeros(8, 4), torch.zeros(8, dtype=torch.long),
        ...     torch.ones(8), torch.zeros(8, 4), torch.zeros(8))
        >>> sorted(learner.learn_batch(batch))
        ['loss', 'q_mean']
    """

    scores_kind = ScoresKind.ENSEMBLE
    targets_fixed_during_updates = True

    def __init__(self, q_network: QNetwork, config: DQNConfig | None = None) -> None:
        if not isinstance(q_network.head, EnsembleQHead):
            raise ValueError("Bootstrapped DQN needs a Q-network with an EnsembleQHead "
                             "(network ensemble_mlp)")
        super().__init__(q_network, config)
        self.members = q_network.head.members

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        """The members' mean and each member's Q-values ``[B, K, 1 + M]``."""
        return ensemble_scores(self.q(state))

    @torch.no_grad()
    def td_targets(self, batch: TransitionBatch) -> Tensor:
        """Each member's target ``r + γ (1 − d) max_a' Q_m^target(s', a')`` ``[n, M]``."""
        return ensemble_q_target(batch.reward, self.target(batch.next_obs), batch.terminated,
                                 batch.discount_or(self.gamma), batch.next_mask)

    def _taken(self, values: Tensor, action: Tensor) -> Tensor:
        index = action.long().view(-1, 1, 1).expand(-1, values.shape[1], 1)
        return values.gather(2, index).squeeze(2)  # [n, M]

    @torch.no_grad()
    def td_error(self, batch: TransitionBatch) -> Tensor:
        """The members' mean TD error per row (prioritized replay's priorities)."""
        taken = self._taken(self.q(batch.obs), batch.action)
        return (self.td_targets(batch) - taken).mean(dim=1)

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        """One gradient step of every head toward its own targets, on its bootstrap rows."""
        if batch.bootstrap is not None and batch.bootstrap.shape[1] != self.members:
            raise InputError("batch.bootstrap", f"has masks for {batch.bootstrap.shape[1]} "
                             f"members; the ensemble has {self.members}")
        target = self.td_targets(batch)
        q = self._taken(self.q(batch.obs), batch.action)
        loss = bootstrapped_td_loss(q, target, batch.bootstrap, self.config.loss, batch.weight)
        self.optimizer.minimize(loss)
        return {"loss": loss.detach(), "q_mean": q.detach().mean()}


__all__ = ["BootstrappedDQN", "ensemble_scores"]
