"""Thread counts for acting and learning, decided in one place.

Acting runs one small forward pass per step: it is fastest on one thread, because waking a
second thread costs more than it saves. Learning runs batched matrix products (batch 64 × 256
units): on an otherwise idle machine of this class two threads are ~1.3× faster than one. So
nacre switches between an *acting* and a *learning* thread count around each training round
(the switch costs < 1 µs).

``learn_threads = 0`` (auto) uses the CPUs this process may run on (its affinity mask, not the
machine's count: a container or ``taskset`` may allow fewer), at most 8.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext

import torch

_threads = {"act": 1, "learn": 1}


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def configure_threads(act_threads: int = 1, learn_threads: int = 0) -> None:
    """Set the thread counts for acting and learning (``learn_threads=0``: auto)."""
    if act_threads < 1 or learn_threads < 0:
        raise ValueError(f"thread counts must be positive, got {act_threads}, {learn_threads}")
    _threads["act"] = act_threads
    _threads["learn"] = learn_threads or min(available_cpus(), 8)
    torch.set_num_threads(act_threads)


def thread_counts() -> dict[str, int]:
    """The current ``{"act": n, "learn": m}``."""
    return dict(_threads)


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


__all__ = ["available_cpus", "configure_threads", "learning_threads", "thread_counts"]
