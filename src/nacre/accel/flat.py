"""Flat parameter buffers shared by a learner's modules and a kernel, kept consistent.

A kernel keeps a learner's parameters (and its target networks') as views of one contiguous
buffer per network (:meth:`nacre.optim.Adam.flatten_`, :func:`flatten`), so that a
whole optimizer or Polyak step is one kernel call. ``copy.deepcopy`` and pickling give every
``nn.Parameter`` its own storage again; :class:`FlatBuffers` notices and moves them back.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from nacre.learners.engine import LearnerEngine
from nacre.optim import Adam, adopt, flatten
from nacre.types import Learner

Pairs = list[tuple[Tensor, list[Tensor]]]  # each flat buffer with the parameters it holds


def optimizer_pairs(*optimizers: Adam) -> Pairs:
    """The flat buffers of flattened optimizers with their parameters in buffer order."""
    pairs: Pairs = []
    for optimizer in optimizers:
        assert optimizer.flat_param is not None, "flatten_ the optimizer first"
        pairs.append((optimizer.flat_param, optimizer.in_layout()))
    return pairs


class FlatBuffers:
    """Watches that parameters are still views of their flat buffers."""

    def __init__(self, pairs: Callable[[], Pairs]) -> None:
        self._pairs = pairs
        self._watch: list[tuple[Tensor, Tensor]] = []

    def moved(self) -> bool:
        """True (after moving the parameters back into their buffers) when they had left them:
        views built over the buffers must then be rebuilt."""
        if self._watch and all(p.data_ptr() == flat.data_ptr() for flat, p in self._watch):
            return False
        current = self._pairs()
        for flat, params in current:
            if params[0].data_ptr() != flat.data_ptr():
                adopt(flat, params)
        self._watch = [(flat, params[0]) for flat, params in current]
        return True


class FlatKernel(LearnerEngine):
    """A kernel over flat buffers: :meth:`refresh` before each use rebuilds its views (the
    layers it reads, the gradient views it writes) whenever the buffers had to be re-adopted."""

    def __init__(self, learner: Learner) -> None:
        super().__init__(learner)
        self._flats = FlatBuffers(self.pairs)

    def pairs(self) -> Pairs:
        """Each flat buffer with the parameters (in buffer order) that must be views of it."""
        raise NotImplementedError

    def build_views(self) -> None:
        """(Re)build every view over the flat buffers."""
        raise NotImplementedError

    def refresh(self) -> None:
        if self._flats.moved():
            self.build_views()


__all__ = ["FlatBuffers", "FlatKernel", "Pairs", "flatten", "optimizer_pairs"]
