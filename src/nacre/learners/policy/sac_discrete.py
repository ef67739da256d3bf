"""Soft actor-critic for discrete actions (Christodoulou 2019).

With a categorical policy the expectations over actions are exact sums: the soft state value is
``V(s) = Σ_a π(a|s) (min_i Q'_i(s, a) − α log π(a|s))``, the actor minimizes
``Σ_a π(a|s) (α log π(a|s) − min_i Q_i(s, a))`` and the temperature is tuned toward
``target_entropy_scale · log K`` (0.98 · log K in the paper).

MultiDiscrete / MultiBinary actions (``k`` choices of ``K_i`` values) use factored heads: the
policy is a product of one categorical per choice and the joint value the mean of per-choice
values, ``Q(s, a) = (1/k) Σ_i Q_i(s, a_i)`` (action branching, Tavakoli et al. 2018). The
expectations stay exact sums, now over ``Σ K_i`` values rather than ``Π K_i`` combinations:
``V(s) = Σ_i Σ_{a_i} π_i(a_i|s) (Q_i(s, a_i) / k − α log π_i(a_i|s))``, and the target entropy is
``target_entropy_scale · Σ_i log K_i``. With one choice both are the formulas above.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from nacre.data.batch import TransitionBatch
from nacre.data.validate import checked_batch
from nacre.errors import check_config
from nacre.kinds import LearnerKind, ScoresKind
from nacre.losses.actor_critic import critic_loss, discrete_soft_value, temperature_loss
from nacre.losses.policy import block_log_softmax, masked_logits, pad_factored_logits
from nacre.losses.td import td_target
from nacre.networks.continuous import CategoricalActorTwinQ
from nacre.optim import Adam, polyak_update
from nacre.types import Metrics


@dataclass(frozen=True)
class DiscreteSACConfig:
    """Hyper-parameters of discrete SAC.

    Attributes:
        lr: Adam learning rate of the actor, the critics and the temperature.
        gamma: discount factor.
        tau: Polyak rate of the target critics.
        init_alpha: initial temperature α.
        target_entropy_scale: the target entropy is this times log K.
    """

    lr: float = 3e-4
    # a non-finite gradient: skip the update (counted, logged) or raise NonFiniteUpdateError
    nonfinite: Literal["skip", "raise"] = "skip"
    gamma: float = 0.99
    tau: float = 0.005
    init_alpha: float = 1.0
    target_entropy_scale: float = 0.98

    def __post_init__(self) -> None:
        check_config(self, positive=("lr", "init_alpha"), unit_interval=("gamma", "tau"))


class DiscreteSAC:
    """Discrete SAC over a :class:`~nacre.networks.CategoricalActorTwinQ`; ``scores`` are the
    actor's logits (pair with exploration ``policy``), ``[B, k, K_max]`` when factored."""

    kind = LearnerKind.REPLAY
    needs_next_action = False

    def __init__(self, net: CategoricalActorTwinQ, config: DiscreteSACConfig | None = None
                 ) -> None:
        self.config = cfg = config or DiscreteSACConfig()
        self.net = net
        self.target = copy.deepcopy(net).requires_grad_(False)
        device = next(net.parameters()).device
        self.log_alpha = nn.Parameter(torch.tensor(math.log(cfg.init_alpha), device=device))
        self.factors = net.factors or (net.n_actions,)
        self.scores_kind = ScoresKind.LOGITS if net.factors is None else ScoresKind.FACTORED
        # where each choice's values start among the critics' outputs
        self.offsets = torch.tensor([0, *self.factors[:-1]], device=device).cumsum(0)
        self.target_entropy = cfg.target_entropy_scale * sum(map(math.log, self.factors))
        self.actor_optimizer = Adam(net.actor.parameters(), cfg.lr, nonfinite=cfg.nonfinite)
        # the shared encoder (a CNN for images) learns with the critics
        self.critic_optimizer = Adam([*net.encoder.parameters(), *net.critics.parameters()],
                                     cfg.lr, nonfinite=cfg.nonfinite)
        self.alpha_optimizer = Adam([self.log_alpha], cfg.lr, nonfinite=cfg.nonfinite)

    @property
    def gamma(self) -> float:
        return self.config.gamma

    def scores(self, state: Tensor, action_features: Tensor | None = None) -> Tensor:
        logits = self.net.logits(state)
        return logits if self.net.factors is None else pad_factored_logits(logits, self.factors)

    def update_target(self) -> None:
        """Nothing on the loop's schedule: the target critics move by Polyak averaging inside
        every update."""

    @checked_batch
    def learn_batch(self, batch: TransitionBatch) -> Metrics:
        cfg = self.config
        alpha = self.log_alpha.detach().exp()
        k = len(self.factors)  # a plain Discrete space is one choice
        with torch.no_grad():
            # over the actions available at s' (and at s below): dynamic action sets
            next_logits = masked_logits(self.net.logits(batch.next_obs), batch.next_mask)
            next_log_p = block_log_softmax(next_logits, self.factors)
            next_q = self.target.q(batch.next_obs).min(dim=0).values
            next_v = discrete_soft_value(next_log_p, next_q / k, alpha)
            target = td_target(batch.reward, next_v, batch.terminated,
                               batch.discount_or(cfg.gamma))
        taken = batch.action.long().reshape(len(batch.reward), k) + self.offsets  # [N, k]
        q_all = self.net.q(batch.obs)
        q = q_all.gather(2, taken.unsqueeze(0).expand(2, -1, -1)).mean(dim=2)
        loss = critic_loss(q, target, scale=0.5)
        self.critic_optimizer.minimize(loss)
        log_p = block_log_softmax(masked_logits(self.net.logits(batch.obs), batch.mask),
                                  self.factors)
        p = log_p.exp()
        min_q = q_all.detach().min(dim=0).values
        actor_loss = -discrete_soft_value(log_p, min_q / k, alpha).mean()
        self.actor_optimizer.minimize(actor_loss)
        entropy = -(p * log_p).sum(dim=1).detach()
        alpha_loss = temperature_loss(self.log_alpha, self.target_entropy - entropy)
        self.alpha_optimizer.minimize(alpha_loss)
        polyak_update(self.target.critics, self.net.critics, cfg.tau)
        return {"critic_loss": loss.detach(), "actor_loss": actor_loss.detach(),
                "alpha": alpha, "entropy": entropy.mean()}

    def state_dict(self) -> dict[str, Any]:
        return {
            "net": self.net.state_dict(), "target": self.target.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "alpha_optimizer": self.alpha_optimizer.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.target.load_state_dict(state["target"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        self.alpha_optimizer.load_state_dict(state["alpha_optimizer"])
