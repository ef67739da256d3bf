"""History summarizers: observation history → the state a learner sees."""

from __future__ import annotations

from torch import Tensor


class IdentityHistory:
    """The state is the current observation (the null default for Markovian tasks)."""

    def summarize(self, obs: Tensor, last_action: Tensor | None) -> Tensor:
        return obs

    def reset(self, done: Tensor) -> None:
        return None


__all__ = ["IdentityHistory"]
