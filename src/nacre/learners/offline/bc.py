"""Behaviour cloning: supervised learning of the logged actions (Pomerleau 1991).

The baseline every offline method must beat: discrete BC maximizes ``log π(a|s)`` of a
categorical policy whose logits are the outputs of a Q network config (``network.name: mlp``);
continuous BC regresses the deterministic tanh actor of ``network.name: deterministic`` on the
logged actions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.data.validate import checked_batch
from nacre.errors import check_config
from nacre.kinds import LearnerKind, ScoresKind
from nacre.losses.offline import bc_continuous_loss, bc_discrete_loss
from nacre.networks.continuous import DeterministicActor
from nacre.networks.q import QNetwork
from nacre.optim import Adam
from nacre.types import Metrics


@dataclass(frozen=True)
class BCConfig:
    """Hyper-parameters of behaviour cloning (defaults: d3rlpy's).

    Attributes:
        lr: Adam learning rate.
        gamma: discount factor (unused by the update; kept for the buffers and evaluation).
    """

    lr: float = 1e-3
    # a non-finite gradient: skip the update (counted, logged) or raise NonFiniteUpdateError
    nonfinite: Literal["skip", "raise"] = "skip"
    gamma: float = 0.99

    def __post_init__(self) -> None:
        check_config(self, positive=("lr",), unit_interval=("gamma",))


class DiscreteBC:
    """A categorical policy ``softmax(f(s))`` fitted to the logged actions; ``scores`` are its
    logits (greedy exploration takes the most likely action)."""

    kind = LearnerKind.REPLAY
    scores_kind = ScoresKind.LOGITS
    needs_next_action = False

    def __init__(self, policy: QNetwork, config: BCConfig | None = None) -> None:
        self.config = config or BCConfig()
        self.policy = policy
        self.optimizer = Adam(policy.parameters(), self.config.lr,
                              nonfinite=self.config.nonfinite)

    @property
    def gamma(self) -> float:
        return self.config.gamma

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        out: Tensor = self.policy(state)
        return out

    def update_target(self) -> None:
        """No target network."""

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        logits = self.policy(batch.obs)
        loss = bc_discrete_loss(logits, batch.action)
        self.optimizer.minimize(loss)
        accuracy = (logits.detach().argmax(dim=-1) == batch.action).float().mean()
        return {"loss": loss.detach(), "accuracy": accuracy}

    def state_dict(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])


class ContinuousBC:
    """A deterministic tanh actor regressed on the logged actions (normalized to ``[-1, 1]``);
    ``scores`` are its actions, to pair with greedy or Gaussian exploration."""

    kind = LearnerKind.REPLAY
    scores_kind = ScoresKind.ACTION
    needs_next_action = False

    def __init__(self, actor: DeterministicActor, config: BCConfig | None = None) -> None:
        self.config = config or BCConfig()
        self.actor = actor
        self.optimizer = Adam(actor.parameters(), self.config.lr,
                              nonfinite=self.config.nonfinite)

    @property
    def gamma(self) -> float:
        return self.config.gamma

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        out: Tensor = self.actor(state)
        return out

    def update_target(self) -> None:
        """No target network."""

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        loss = bc_continuous_loss(self.actor(batch.obs), batch.action)
        self.optimizer.minimize(loss)
        return {"loss": loss.detach()}

    def state_dict(self) -> dict[str, Any]:
        return {"actor": self.actor.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.optimizer.load_state_dict(state["optimizer"])
