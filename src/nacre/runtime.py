"""Process-wide torch thread settings, chosen in one place.

Acting runs one small forward pass per step: it is fastest on one thread, because waking a
second thread costs more than it saves. Learning runs batched matrix products (batch 64 × 256
units): on this class of machine two threads are ~1.3× faster than one. So nacre switches between
an *acting* and a *learning* thread count around each training round (the switch costs < 1 µs).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

_threads = {"act": 1, "learn": 1}


def configure_torch(act_threads: int = 1, learn_threads: int = 0) -> None:
    """Set thread counts for acting and learning (``learn_threads=0``: all available cores)."""
    if act_threads < 1 or learn_threads < 0:
        raise ValueError(f"thread counts must be positive, got {act_threads}, {learn_threads}")
    _threads["act"] = act_threads
    _threads["learn"] = learn_threads or max(1, min(os.cpu_count() or 1, 8))
    torch.set_num_threads(act_threads)
    # Denormal floats (|x| < 1.2e-38) appear in trained networks and make CPU kernels several
    # times slower; flushing them to zero changes no result that matters at float32 precision.
    torch.set_flush_denormal(True)


@contextmanager
def learning_threads() -> Iterator[None]:
    """Use the learning thread count inside the block, the acting one after it."""
    if _threads["learn"] == _threads["act"]:
        yield
        return
    torch.set_num_threads(_threads["learn"])
    try:
        yield
    finally:
        torch.set_num_threads(_threads["act"])
