"""Safety modules: restrict the actions an agent may take, say how a return distribution is
valued (risk measures), or hold a budget on the cost an agent may incur (reward constraint)."""

from __future__ import annotations

from torch import Tensor

from nacre.safety.constraint import RewardConstraint
from nacre.safety.cost_filter import CostFilter
from nacre.safety.filter import FunctionFilter
from nacre.safety.risk import CVaR, MeanVariance, RiskNeutral


class NoSafety:
    """Allows every available action (the null default)."""

    def filter(self, state: Tensor, scores: Tensor, mask: Tensor | None) -> Tensor | None:
        return mask


__all__ = ["CVaR", "CostFilter", "FunctionFilter", "MeanVariance", "NoSafety",
           "RewardConstraint", "RiskNeutral"]
