"""Safety modules: restrict the actions an agent may take, or (risk measures) say how a return
distribution is valued."""

from __future__ import annotations

from torch import Tensor

from nacre.safety.filter import FunctionFilter
from nacre.safety.risk import CVaR, MeanVariance, RiskNeutral


class NoSafety:
    """Allows every available action (the null default)."""

    def filter(self, state: Tensor, scores: Tensor, mask: Tensor | None) -> Tensor | None:
        return mask


__all__ = ["CVaR", "FunctionFilter", "MeanVariance", "NoSafety", "RiskNeutral"]
