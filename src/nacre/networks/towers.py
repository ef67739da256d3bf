"""Two-tower scoring: a state tower and an action tower meet in a dot product.

Recommender retrieval models (Covington et al. 2016, "Deep neural networks for YouTube
recommendations"; Yi et al. 2019, "Sampling-bias-corrected neural modeling") score a user
against many items by embedding each side once and taking inner products. For a value head that
is ``Q(s, a) = f(s) · g(x_a)``: the state is embedded once per row, not once per candidate as a
state–action MLP over ``[φ(s) ⊕ x_a]`` does, and every candidate of every row is scored by one
batched matrix product, so scoring 1,000 candidates costs one small matmul more than scoring 10.

The action tower reads the candidates' features (``[K, d_a]`` shared, or ``[B, K, d_a]`` per row)
through an MLP, or their ids (``[K]`` or ``[B, K]`` int64) through an embedding table learned end
to end with the learner's loss (:class:`~nacre.actions.EmbeddingActionRepresentation`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from nacre.networks.mlp import MLP


class TwoTowerHead(nn.Module):
    """``score(s, a) = f(s) · g(a)`` for every candidate ``a``; returns ``[B, K]``.

    Args:
        in_dim: width of the state features ``φ(s)``.
        action_dim: width of the candidates' features (None with ``id_rows``).
        hidden: widths of each tower's MLP.
        embed_dim: width of the two embeddings that meet in the dot product.
        id_rows: learn an embedding per id (``id_rows`` ids) instead of reading features.

    Example:
        >>> import torch
        >>> head = TwoTowerHead(8, 5, (32,), 16)
        >>> head(torch.zeros(64, 8), torch.zeros(64, 1000, 5)).shape
        torch.Size([64, 1000])
        >>> TwoTowerHead(8, None, (32,), 16, id_rows=100)(torch.zeros(2, 8),
        ...                                                torch.tensor([3, 7, 9])).shape
        torch.Size([2, 3])
    """

    def __init__(self, in_dim: int, action_dim: int | None, hidden: Sequence[int],
                 embed_dim: int = 32, activation: str = "relu", id_rows: int | None = None
                 ) -> None:
        super().__init__()
        self.state_tower = MLP(in_dim, hidden, embed_dim, activation)
        self.embedding = None if id_rows is None else nn.Embedding(id_rows, embed_dim)
        self.action_tower: nn.Module | None = None
        if id_rows is None:
            if action_dim is None:
                raise ValueError("TwoTowerHead needs action_dim (features) or id_rows (ids)")
            self.action_tower = MLP(action_dim, hidden, embed_dim, activation)

    def embed_actions(self, action_features: Tensor) -> Tensor:
        """``g(a)``: ``[K, e]`` or ``[B, K, e]``."""
        if self.embedding is not None:
            if action_features.is_floating_point():
                raise ValueError("this two-tower head learns an embedding per id: it scores "
                                 "int64 ids (action_repr: embedding), got float features")
            out: Tensor = self.embedding(action_features)
            return out
        assert self.action_tower is not None
        tower: Tensor = self.action_tower(action_features.float())
        return tower

    def forward(self, features: Tensor, action_features: Tensor | None = None) -> Tensor:
        if action_features is None:
            raise ValueError("TwoTowerHead scores candidates: pass their features or ids")
        state: Tensor = self.state_tower(features)  # [B, e]
        actions = self.embed_actions(action_features)
        if actions.ndim == 2:  # one candidate set for every row: [B, e] @ [e, K]
            return state @ actions.T
        return torch.bmm(actions, state.unsqueeze(-1)).squeeze(-1)  # [B, K, e] @ [B, e, 1]


__all__ = ["TwoTowerHead"]
