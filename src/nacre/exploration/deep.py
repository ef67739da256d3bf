"""Deep exploration from an ensemble's disagreement (scores of kind
:attr:`~nacre.kinds.ScoresKind.ENSEMBLE`: ``[B, K, 1 + M]``, the members' mean then each
member's values).

:class:`FollowMember` is how Bootstrapped DQN explores (Osband et al. 2016): at the start of each
episode of each environment it draws one member uniformly at random and acts greedily on that
member's values until the episode ends. Acting on one plausible value function for a whole
episode is what makes the exploration *deep*: an ε-greedy agent needs ``2^N`` lucky coin flips to
cross a DeepSea of size ``N``; an agent following a member that happens to value the far corner
walks there on purpose. :class:`EnsembleUCB` is optimism instead: the mean plus ``β`` standard
deviations of the members' values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from nacre.kinds import ScoresKind

_ENSEMBLE = frozenset({ScoresKind.ENSEMBLE})


def _members(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Each member's values ``[B, K, M]``, unavailable actions at ``-inf``."""
    values = scores[..., 1:]
    return values if mask is None else values.masked_fill(~mask.unsqueeze(-1), float("-inf"))


class FollowMember:
    """Greedy on one ensemble member per episode and environment, drawn uniformly at random.

    The propensity of an action is the share of members whose greedy action it is: the
    probability of the action under the policy that draws the member afresh (what a decision
    log can use; within an episode the draws are not independent).

    The members followed are state of the training environments: the agent tells the explorer
    which episodes ended (:meth:`episodes_ended`) and checkpoints it. A batch of another size
    (a serving call) draws members for its own rows, which last until the next such change.
    """

    accepts = _ENSEMBLE

    def __init__(self) -> None:
        self.member: Tensor | None = None  # [B]; -1: draw at the next decision

    def select(self, scores: Tensor, mask: Tensor | None, step: int, generator: Any
               ) -> tuple[Tensor, Tensor]:
        values = _members(scores, mask)
        b, _, m = values.shape
        if self.member is None or self.member.shape[0] != b:
            self.member = torch.full((b,), -1, dtype=torch.int64, device=scores.device)
        elif self.member.device != scores.device:  # e.g. restored from a CPU checkpoint
            self.member = self.member.to(scores.device)
        fresh = self.member < 0
        if bool(fresh.any()):
            drawn = torch.randint(m, (int(fresh.sum()),), generator=generator,
                                  device=scores.device)
            self.member[fresh] = drawn
        greedy = values.argmax(dim=1)  # [B, M]: every member's greedy action
        action = greedy.gather(1, self.member[:, None]).squeeze(1)
        propensity = (greedy == action[:, None]).float().mean(dim=1)
        return action, propensity

    def distribution(self, scores: Tensor, mask: Tensor | None, step: int) -> Tensor:
        """The share of members whose greedy action each action is ``[B, K]``."""
        values = _members(scores, mask)
        votes = torch.nn.functional.one_hot(values.argmax(dim=1), values.shape[1])  # [B, M, K]
        return votes.float().mean(dim=1)

    def episodes_ended(self, done: Tensor) -> None:
        """Draw new members for the environments whose episode ended (``done`` ``[B]``)."""
        if self.member is not None and done.shape == self.member.shape:
            with torch.inference_mode():  # the agent decides (and made ``member``) in it
                self.member[done.to(self.member.device)] = -1

    def state_dict(self) -> dict[str, Tensor]:
        return {} if self.member is None else {"member": self.member.clone()}

    def load_state_dict(self, state: Mapping[str, Tensor]) -> None:
        with torch.inference_mode():
            self.member = state["member"].clone() if "member" in state else None


class EnsembleUCB:
    """The action of highest ``mean + β · std`` over the members' values (optimism in the face
    of the ensemble's disagreement); deterministic, propensity 1.

    Example:
        >>> import torch
        >>> scores = torch.tensor([[[1.0, 1.0, 1.0], [0.5, -1.0, 2.0]]])  # mean, then 2 members
        >>> EnsembleUCB(beta=1.0).select(scores, None, 0, None)[0]
        tensor([1])
    """

    accepts = _ENSEMBLE

    def __init__(self, beta: float = 1.0) -> None:
        if not beta >= 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        self.beta = float(beta)

    def select(self, scores: Tensor, mask: Tensor | None, step: int, generator: Any
               ) -> tuple[Tensor, Tensor]:
        values = scores[..., 1:]
        spread = values.std(dim=-1, unbiased=False) if values.shape[-1] > 1 else 0.0
        optimistic = values.mean(dim=-1) + self.beta * spread
        if mask is not None:
            optimistic = optimistic.masked_fill(~mask, float("-inf"))
        action = optimistic.argmax(dim=1)
        return action, torch.ones(action.shape[0], device=scores.device)


__all__ = ["EnsembleUCB", "FollowMember"]
