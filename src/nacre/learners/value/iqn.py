"""Implicit quantile networks (IQN, Dabney et al. 2018b, "Implicit Quantile Networks for
Distributional Reinforcement Learning").

Where QR-DQN learns ``N`` fixed quantiles, IQN learns the whole quantile function: the network
takes levels τ ∈ (0, 1) as input (:class:`~nacre.networks.ImplicitQuantileHead`) and each
update regresses quantiles at freshly sampled levels toward samples of the target distribution
at other sampled levels, with the same quantile Huber loss. To act, and to pick the action its
target bootstraps from, it evaluates ``n_act_quantiles`` fixed levels — the midpoints of equal
slices of probability — and values them with the run's risk measure, as QR-DQN does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from nacre.data.batch import TransitionBatch
from nacre.data.validate import checked_batch
from nacre.errors import ConfigError
from nacre.kinds import LearnerKind, ScoresKind
from nacre.learners.value.qr_dqn import QRDQNConfig
from nacre.learners.value.target import load_q_state, q_state, target_and_optimizer
from nacre.losses.distributional import (
    action_quantiles,
    quantile_huber_loss,
    quantile_midpoints,
    quantile_td_target,
)
from nacre.losses.td import ends, masked_argmax
from nacre.networks.q import ImplicitQuantileNetwork
from nacre.optim import polyak_update
from nacre.safety.risk import RiskNeutral
from nacre.types import Metrics, RiskMeasure


@dataclass(frozen=True)
class IQNConfig(QRDQNConfig):
    """Hyper-parameters of IQN: QR-DQN's, and how many levels τ it reads (the paper's:
    N = N' = 8 levels per update, K = 32 to act).

    Attributes:
        n_quantiles: levels sampled per row for the quantiles being learned (N).
        n_target_quantiles: levels sampled per row for the target distribution (N').
        n_act_quantiles: fixed levels the risk measure reads to act and to pick ``a'`` (K).
    """

    n_quantiles: int = 8
    n_target_quantiles: int = 8
    n_act_quantiles: int = 32

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("n_quantiles", "n_target_quantiles", "n_act_quantiles"):
            value = vars(self)[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"learner.{name}: must be an integer >= 1, got {value!r}")


class IQN:
    """Implicit quantile networks: Q-learning of the return's quantile function.

    Example:
        >>> import torch
        >>> from nacre.networks import FlattenEncoder, ImplicitQuantileHead
        >>> from nacre.networks import ImplicitQuantileNetwork
        >>> from nacre.data import TransitionBatch
        >>> net = ImplicitQuantileNetwork(FlattenEncoder((4,)),
        ...                               ImplicitQuantileHead(4, 2, (16,), "relu"))
        >>> learner = IQN(net, IQNConfig(lr=1e-3))
        >>> learner.scores(torch.zeros(3, 4)).shape
        torch.Size([3, 2])
        >>> batch = TransitionBatch(torch.zeros(8, 4), torch.zeros(8, dtype=torch.long),
        ...     torch.ones(8), torch.zeros(8, 4), torch.zeros(8))
        >>> sorted(learner.learn_batch(batch))
        ['loss', 'q_mean']
    """

    kind = LearnerKind.REPLAY
    scores_kind = ScoresKind.VALUES
    needs_next_action = False

    def __init__(self, q_network: ImplicitQuantileNetwork, config: IQNConfig | None = None,
                 risk: RiskMeasure | None = None, seed: int = 0) -> None:
        if not isinstance(q_network, ImplicitQuantileNetwork):
            raise ValueError("IQN needs an ImplicitQuantileNetwork (network "
                             "implicit_quantile_mlp)")
        self.config = config or IQNConfig()
        self.risk: RiskMeasure = risk or RiskNeutral()
        self.q = q_network
        self.target, self.optimizer = target_and_optimizer(q_network, self.config)
        device = next(q_network.parameters()).device
        self.act_taus = quantile_midpoints(self.config.n_act_quantiles, device)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)  # the sampled levels τ

    @property
    def gamma(self) -> float:
        return self.config.gamma

    def quantiles(self, state: Tensor, net: ImplicitQuantileNetwork | None = None) -> Tensor:
        """Every action's quantiles at the ``n_act_quantiles`` midpoint levels ``[B, K, N]``."""
        levels = self.act_taus.expand(state.shape[0], -1)
        out: Tensor = (net or self.q)(state, levels)
        return out

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        """The risk measure's value of each action ``[B, K]``."""
        return self.risk.value(self.quantiles(state))

    def _levels(self, rows: int, n: int, like: Tensor) -> Tensor:
        return torch.rand(rows, n, generator=self.generator, device=like.device)

    @torch.no_grad()
    def target_quantiles(self, batch: TransitionBatch) -> Tensor:
        """Samples ``[n, N']`` of the target distribution at freshly drawn levels, for the
        action the target net's risk-best one at ``s'``."""
        values = self.risk.value(self.quantiles(batch.next_obs, self.target))
        best = masked_argmax(values, batch.next_mask)
        levels = self._levels(len(batch), self.config.n_target_quantiles, batch.next_obs)
        chosen = action_quantiles(self.target(batch.next_obs, levels), best)
        return quantile_td_target(batch.reward, chosen, ends(batch.terminated, batch.next_mask),
                                  batch.discount_or(self.gamma))

    @torch.no_grad()
    def td_error(self, batch: TransitionBatch) -> Tensor:
        """The gap between the target's and the current distribution's means per row."""
        current = action_quantiles(self.quantiles(batch.obs), batch.action).mean(dim=-1)
        return self.target_quantiles(batch).mean(dim=-1) - current

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        """One gradient step of the quantiles at sampled levels toward the target samples."""
        target = self.target_quantiles(batch)
        levels = self._levels(len(batch), self.config.n_quantiles, batch.obs)
        quantiles = action_quantiles(self.q(batch.obs, levels), batch.action)
        loss = quantile_huber_loss(quantiles, target, levels, self.config.kappa, batch.weight)
        self.optimizer.minimize(loss)
        return {"loss": loss.detach(), "q_mean": quantiles.detach().mean()}

    def update_target(self) -> None:
        """Move the target net toward the online net by ``tau`` (1: a hard copy)."""
        polyak_update(self.target, self.q, self.config.tau)

    def state_dict(self) -> dict[str, Any]:
        return {**q_state(self.q, self.target, self.optimizer),
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        load_q_state(self.q, self.target, self.optimizer, state)
        self.generator.set_state(state["generator"])


__all__ = ["IQN", "IQNConfig"]
