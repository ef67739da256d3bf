"""What each Q-learner here holds besides its update: the online network, a frozen copy of it
(the target network) and Adam over its trainable parameters — written once, for DQN, QR-DQN and
IQN alike."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Literal, Protocol, TypeVar

from torch import nn

from nacre.optim import Adam

N = TypeVar("N", bound=nn.Module)


class OptimizerSettings(Protocol):
    """The fields of a learner config its optimizer is built from."""

    @property
    def lr(self) -> float: ...

    @property
    def adam_eps(self) -> float: ...

    @property
    def max_grad_norm(self) -> float | None: ...

    @property
    def nonfinite(self) -> Literal["skip", "raise"]: ...


def target_and_optimizer(net: N, config: OptimizerSettings) -> tuple[N, Adam]:
    """A frozen deep copy of ``net`` and Adam over its trainable parameters (fixed parts, such
    as an ensemble's random priors, are not trained)."""
    target = copy.deepcopy(net).requires_grad_(False)
    optimizer = Adam([p for p in net.parameters() if p.requires_grad], config.lr,
                     config.adam_eps, config.max_grad_norm, nonfinite=config.nonfinite)
    return target, optimizer


def q_state(q: nn.Module, target: nn.Module, optimizer: Adam) -> dict[str, Any]:
    """The tensors of the three, for a learner's ``state_dict``."""
    return {"q": q.state_dict(), "target": target.state_dict(),
            "optimizer": optimizer.state_dict()}


def load_q_state(q: nn.Module, target: nn.Module, optimizer: Adam,
                 state: Mapping[str, Any]) -> None:
    """Restore what :func:`q_state` saved."""
    q.load_state_dict(state["q"])
    target.load_state_dict(state["target"])
    optimizer.load_state_dict(state["optimizer"])


__all__ = ["OptimizerSettings", "load_q_state", "q_state", "target_and_optimizer"]
