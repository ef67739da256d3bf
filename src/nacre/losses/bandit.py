"""Incremental ridge regression: the maths of linear contextual bandits.

A ridge model keeps ``A = λI + Σ xxᵀ`` and ``b = Σ r x``; its solution is ``θ = A⁻¹ b`` and the
posterior spread of a prediction ``xᵀθ`` is ``√(xᵀA⁻¹x)`` (LinUCB, Li et al. 2010; LinTS,
Agrawal & Goyal 2013). nacre keeps ``A⁻¹`` itself and folds new rows in with the
Sherman–Morrison (one row) or Woodbury (k rows) identities, so an update costs ``O(d²)`` per row
instead of a fresh ``O(d³)`` inverse.

Optional discounting by ``γ`` per row forgets old data geometrically,
``A ← γA + xxᵀ, b ← γb + rx`` — recursive least squares with a forgetting factor (Haykin,
*Adaptive Filter Theory*, ch. 10), the form Pearl's discounted linear bandits use. It discounts
the prior ``λI`` with the data, so in directions the data do not excite ``A⁻¹`` grows like
``γ⁻ⁿ``; the learners therefore restore the prior periodically (see
:class:`nacre.learners.bandits.linear.RidgeModels`).

All functions are tensor-in / tensor-out (or in-place on their first argument, named with a
trailing underscore) and are checked against the direct solution in the unit tests.
"""

from __future__ import annotations

import torch
from torch import Tensor


def sherman_morrison_(a_inv: Tensor, x: Tensor) -> None:
    """In place: ``a_inv ← (A + xxᵀ)⁻¹`` where ``a_inv = A⁻¹`` is symmetric.

    Batched over leading dimensions: ``a_inv [..., d, d]``, ``x [..., d]``.
    """
    v = (a_inv @ x.unsqueeze(-1)).squeeze(-1)  # A⁻¹x
    denom = 1.0 + (x * v).sum(-1, keepdim=True)
    # vvᵀ is exactly symmetric in floating point, so a symmetric A⁻¹ stays symmetric.
    a_inv.sub_((v / denom).unsqueeze(-1) * v.unsqueeze(-2))


def woodbury_(a_inv: Tensor, x: Tensor, weight: Tensor | None = None) -> None:
    """In place: ``a_inv ← (A + Xᵀ W X)⁻¹`` for ``k`` rows ``X [k, d]`` with weights ``W``.

    ``A⁻¹ − A⁻¹Xᵀ (W⁻¹ + X A⁻¹ Xᵀ)⁻¹ X A⁻¹`` — one ``k × k`` Cholesky solve instead of ``k``
    rank-one updates.
    """
    u = x @ a_inv  # X A⁻¹ (A⁻¹ is symmetric)
    cap = x @ u.T
    inv_w = torch.ones(x.shape[0], dtype=x.dtype, device=x.device) if weight is None else (
        1.0 / weight)
    cap.diagonal().add_(inv_w)
    chol = torch.linalg.cholesky(cap)
    a_inv.sub_(u.T @ torch.cholesky_solve(u, chol))
    # The product above is symmetric only up to rounding; keep A⁻¹ exactly symmetric so the
    # rounding cannot build up over millions of updates.
    a_inv.copy_(0.5 * (a_inv + a_inv.T))


def discount_weights(n: int, discount: float, like: Tensor) -> Tensor | None:
    """``γ^(n-1-i)`` for rows ``i = 0..n-1`` (the last row has weight 1); None when ``γ = 1``."""
    if discount == 1.0:
        return None
    exponents = torch.arange(n - 1, -1, -1, dtype=like.dtype, device=like.device)
    return torch.pow(torch.as_tensor(discount, dtype=like.dtype, device=like.device), exponents)


def ridge_update_(a_inv: Tensor, b: Tensor, x: Tensor, r: Tensor, discount: float = 1.0,
                  gram: Tensor | None = None) -> None:
    """In place: fold rows ``x [k, d]`` with targets ``r [k]`` (in order) into one model.

    Equals ``k`` sequential updates ``A ← γA + xxᵀ, b ← γb + rx``; ``a_inv [d, d]``,
    ``b [d]``. ``gram [d, d]``, when given, takes the same update without the prior:
    ``S ← γS + xxᵀ`` (the discounted data alone).
    """
    k = x.shape[0]
    if discount != 1.0:
        a_inv.mul_(discount ** -k)
        b.mul_(discount ** k)
    weight = discount_weights(k, discount, x)
    if gram is not None:
        gram.mul_(discount ** k).add_((x.T if weight is None else x.T * weight) @ x)
    if k == 1:
        sherman_morrison_(a_inv, x[0])
        b.add_(x[0] * r[0])
        return
    woodbury_(a_inv, x, weight)
    b.add_((r if weight is None else r * weight) @ x)


def ridge_direct(
    x: Tensor, r: Tensor, l2: float, discount: float = 1.0, prior: float | None = None
) -> tuple[Tensor, Tensor]:
    """The direct solution after the rows ``x [n, d]``, ``r [n]``: ``(A⁻¹, θ)``.

    ``A = pI + Σ γ^(n-1-i) xᵢxᵢᵀ`` and ``θ = A⁻¹ Σ γ^(n-1-i) rᵢxᵢ``, with the prior's weight
    ``p = γⁿλ`` (what :func:`ridge_update_` reproduces) unless ``prior`` gives it (the learners
    restore it to ``λ`` now and then, see :class:`~nacre.learners.bandits.LinearBandit`).
    """
    n, d = x.shape
    w = discount_weights(n, discount, x)
    w = torch.ones(n, dtype=x.dtype, device=x.device) if w is None else w
    p = l2 * discount**n if prior is None else prior
    a = (x.T * w) @ x + p * torch.eye(d, dtype=x.dtype, device=x.device)
    a_inv = torch.linalg.inv(a)
    return a_inv, a_inv @ ((r * w) @ x)


def posterior_std(a_inv: Tensor, x: Tensor) -> Tensor:
    """``√(xᵀA⁻¹x)`` for ``x [..., d]`` against ``a_inv [d, d]`` (or matching ``[..., d, d]``)."""
    quad = ((x.unsqueeze(-2) @ a_inv).squeeze(-2) * x).sum(-1)
    return quad.clamp_min(0.0).sqrt()
