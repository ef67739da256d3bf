"""Process-wide torch thread and allocator settings, chosen in one place.

Acting runs one small forward pass per step: it is fastest on one thread, because waking a
second thread costs more than it saves. Learning runs batched matrix products (batch 64 × 256
units): on this class of machine two threads are ~1.3× faster than one. So nacre switches between
an *acting* and a *learning* thread count around each training round (the switch costs < 1 µs).
"""

from __future__ import annotations

import ctypes
import os
import sys
from contextlib import AbstractContextManager, nullcontext

import torch

_threads = {"act": 1, "learn": 1}


def configure_torch(act_threads: int = 1, learn_threads: int = 0,
                    keep_freed_memory: bool = True) -> None:
    """Set thread counts for acting and learning (``learn_threads=0``: all available cores) and,
    with ``keep_freed_memory``, tune the C allocator (see :func:`tune_allocator`)."""
    if act_threads < 1 or learn_threads < 0:
        raise ValueError(f"thread counts must be positive, got {act_threads}, {learn_threads}")
    _threads["act"] = act_threads
    _threads["learn"] = learn_threads or max(1, min(os.cpu_count() or 1, 8))
    torch.set_num_threads(act_threads)
    # Denormal floats (|x| < 1.2e-38) appear in trained networks and make CPU kernels several
    # times slower; flushing them to zero changes no result that matters at float32 precision.
    torch.set_flush_denormal(True)
    if keep_freed_memory:
        tune_allocator()


_MB = 1 << 20


def tune_allocator() -> bool:
    """Make glibc's ``malloc`` keep freed memory for reuse; True where it applied.

    By default glibc serves every block above a (dynamic) threshold with a fresh ``mmap`` and
    gives freed memory at the top of the heap back to the kernel, so the ~1 MB temporaries of
    each update of a 400-300 network are faulted in page by page, every update (≈ 470 minor page
    faults per TD3 update; docs/design/performance.md). Raising the mmap and trim thresholds and
    padding heap growth keeps those pages mapped. Large one-off allocations (replay storage,
    > 32 MB) are still mapped and unmapped on their own. No-op outside glibc
    (``configure_torch(keep_freed_memory=False)`` leaves the allocator alone).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    # glibc refuses an mmap threshold above 32 MiB on 64-bit systems
    results = [mallopt(option, value) for option, value in (
        (m_mmap_threshold, 32 * _MB), (m_trim_threshold, 256 * _MB), (m_top_pad, 64 * _MB))]
    return all(r == 1 for r in results)


class _LearningThreads:
    def __enter__(self) -> None:
        torch.set_num_threads(_threads["learn"])

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(_threads["act"])


_SWITCH = _LearningThreads()
_STAY = nullcontext()


def learning_threads() -> AbstractContextManager[None]:
    """Use the learning thread count inside the block, the acting one after it.

    (Shared context objects, not a generator: online bandits enter this once per decision,
    where a generator-based context manager's ≈ 1.5 µs is a few percent of the step.)
    """
    return _STAY if _threads["learn"] == _threads["act"] else _SWITCH
