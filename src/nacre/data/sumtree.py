"""A vectorized sum-tree (with a min-tree beside it) for proportional prioritized replay.

Schaul et al. (2016), "Prioritized Experience Replay", Appendix B.2.1: leaf ``i`` holds the
priority of storage slot ``i``, every inner node the sum of its two children, so the total is
the root and drawing index ``i`` with probability ``p_i / Σ p`` is a descent from the root.
Here every operation works on a whole batch of indices at once, one tree level per NumPy step
(about log2(capacity) steps, no Python loop over the batch):

- :meth:`SumTree.update` writes a batch of leaves, then recomputes the parents of the touched
  nodes from their children, level by level — sums are recomputed, never adjusted by deltas, so
  rounding errors do not accumulate over millions of updates;
- :meth:`SumTree.sample` draws one value per stratum ``[k, k + 1) · total / B`` (the paper's
  stratified sampling) and descends all ``B`` of them together.

The min-tree gives the smallest stored priority, which normalizes importance weights by the
largest weight in the buffer (as the paper's ``1 / max_i w_i``). Sums are kept in float64.
"""

from __future__ import annotations

import numpy as np

from nacre.errors import InputError


class SumTree:
    """Priorities of ``capacity`` slots, summed (and minimized) over a binary tree.

    Slots never written have priority 0 and are never sampled.

    Example:
        >>> import numpy as np
        >>> tree = SumTree(4)
        >>> tree.update(np.array([0, 2]), np.array([1.0, 3.0]))
        >>> tree.total, tree.min
        (4.0, 1.0)
        >>> tree.sample(np.array([0.5, 3.5]))
        array([0, 2])
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise InputError("capacity", f"must be >= 1, got {capacity}")
        self.capacity = capacity
        self.depth = max(1, int(np.ceil(np.log2(capacity))))
        self.leaves = 1 << self.depth  # leaves live at [leaves, 2 · leaves); the root at 1
        self.sums = np.zeros(2 * self.leaves, dtype=np.float64)
        self.mins = np.full(2 * self.leaves, np.inf, dtype=np.float64)

    @property
    def total(self) -> float:
        """The sum of all priorities."""
        return float(self.sums[1])

    @property
    def min(self) -> float:
        """The smallest positive priority (inf when none is)."""
        return float(self.mins[1])

    def priorities(self, index: np.ndarray) -> np.ndarray:
        """The priorities of the slots ``index``."""
        return self.sums[self.leaves + np.asarray(index, dtype=np.int64)]

    def update(self, index: np.ndarray, priority: np.ndarray) -> None:
        """Set the priorities of the slots ``index`` (a slot repeated gets one of its values;
        0 makes a slot unsampleable)."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        priority = np.asarray(priority, dtype=np.float64).reshape(-1)
        if index.shape != priority.shape:
            raise InputError("priority", f"expected {index.shape[0]} values, got "
                             f"{priority.shape[0]}")
        if index.size == 0:
            return
        if int(index.min()) < 0 or int(index.max()) >= self.capacity:
            raise InputError("index", f"slots must be in [0, {self.capacity})")
        if not (np.isfinite(priority).all() and (priority >= 0).all()):
            raise InputError("priority", "must be finite and >= 0")
        node = index + self.leaves
        self.sums[node] = priority
        self.mins[node] = np.where(priority > 0, priority, np.inf)
        for _ in range(self.depth):  # a node listed twice gets the same value twice
            node >>= 1
            left, right = 2 * node, 2 * node + 1
            self.sums[node] = self.sums[left] + self.sums[right]
            self.mins[node] = np.minimum(self.mins[left], self.mins[right])

    def assign(self, priority: np.ndarray) -> None:
        """Set every slot's priority at once (``capacity`` values) and rebuild the tree."""
        priority = np.asarray(priority, dtype=np.float64).reshape(-1)
        if priority.shape != (self.capacity,):
            raise InputError("priority", f"expected {self.capacity} values, got {priority.shape}")
        if not (np.isfinite(priority).all() and (priority >= 0).all()):
            raise InputError("priority", "must be finite and >= 0")
        n = self.leaves
        self.sums[n:] = 0.0
        self.sums[n: n + self.capacity] = priority
        self.mins[n:] = np.where(self.sums[n:] > 0, self.sums[n:], np.inf)
        while n > 1:  # level by level: nodes [n/2, n) from their children [n, 2n)
            half = n // 2
            self.sums[half:n] = self.sums[n: 2 * n: 2] + self.sums[n + 1: 2 * n: 2]
            self.mins[half:n] = np.minimum(self.mins[n: 2 * n: 2], self.mins[n + 1: 2 * n: 2])
            n = half

    def sample(self, mass: np.ndarray) -> np.ndarray:
        """The slot whose prefix-sum interval holds each value of ``mass`` (in ``[0, total)``).

        The descent never enters a subtree of zero total, so a slot of priority 0 is never
        returned however the sums round."""
        if not self.sums[1] > 0:
            raise InputError("priority", "every priority is 0: nothing to sample")
        mass = np.asarray(mass, dtype=np.float64).copy()
        node = np.ones(mass.shape, dtype=np.int64)
        for _ in range(self.depth):
            left = 2 * node
            left_sum = self.sums[left]
            right = ((mass >= left_sum) & (self.sums[left + 1] > 0)) | (left_sum <= 0)
            mass -= np.where(right, left_sum, 0.0)
            node = left + right
        return node - self.leaves

    def stratified(self, uniform: np.ndarray) -> np.ndarray:
        """``len(uniform)`` slots, the ``k``-th drawn from stratum ``k`` of the total mass;
        ``uniform`` are draws from [0, 1)."""
        n = uniform.shape[0]
        return self.sample((np.arange(n) + uniform) * (self.total / n))


__all__ = ["SumTree"]
