"""Thread counts for acting and learning, decided in one place.

Acting runs one small forward pass per step: it is fastest on one thread, because waking a
second thread costs more than it saves. Learning runs batched matrix products (batch 64 × 256
units): on an idle machine of this class two threads are ~1.1–1.3× faster than one. So nacre
switches between an *acting* and a *learning* thread count around each training round (the
switch costs < 1 µs).

On a shared machine more threads are much slower, not faster: a parallel region waits at its
barrier for every thread, and a thread whose core another process holds is descheduled for a
whole time slice (measured: 6,000 steps of ``cartpole-dqn`` took 2.4 s on an idle 2-core
machine and 7.9 s next to two busy processes with two learning threads, 3.6 s with one;
benchmarks/contention.py). With ``learn_threads = 0`` (auto) nacre therefore learns on the CPUs
this process may run on (its affinity mask, not the machine's count: a container or
``taskset`` may allow fewer), at most 8, *minus the cores other processes kept busy* since the
last check (read from ``/proc/stat`` at most every 0.25 s; Linux only, elsewhere the affinity
count alone). A thread count set explicitly is used as given.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import AbstractContextManager, nullcontext

import torch

_SAMPLE_EVERY_S = 0.25
_threads = {"act": 1, "learn": 1}


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


class MachineLoad:
    """How many cores other processes kept busy, from ``/proc/stat`` and this process's own CPU
    time, over the interval since the previous reading."""

    def __init__(self) -> None:
        self._last: tuple[float, float, float] | None = self._read()

    @staticmethod
    def _read() -> tuple[float, float, float] | None:
        """``(wall s, busy CPU s of the whole machine, CPU s of this process)``."""
        try:
            with open("/proc/stat") as fh:
                values = [int(v) for v in fh.readline().split()[1:9]]
        except (OSError, ValueError, IndexError):
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        busy = (sum(values) - values[3] - values[4]) / ticks  # all but idle and iowait
        own = os.times()
        return time.monotonic(), busy, own.user + own.system

    def others_busy(self) -> float | None:
        """Cores used by other processes since the last call (None: unknown)."""
        now = self._read()
        last, self._last = self._last, now
        if now is None or last is None or now[0] - last[0] <= 0:
            return None
        return max(0.0, (now[1] - last[1]) - (now[2] - last[2])) / (now[0] - last[0])


class _AutoLearnThreads:
    """The auto learning thread count, re-decided at most every 0.25 s (the first time at the
    first training round, from the load since the thread counts were configured)."""

    def __init__(self) -> None:
        self.load = MachineLoad()
        self.checked = -math.inf
        self.count = min(available_cpus(), 8)

    def __call__(self) -> int:
        now = time.monotonic()
        if now - self.checked >= _SAMPLE_EVERY_S:
            self.checked = now
            cpus = min(available_cpus(), 8)
            others = self.load.others_busy()
            # a core counts as free only when others left at least 0.8 of it idle: a second
            # thread that waits for a busy core costs far more than it saves
            free = cpus if others is None else math.floor(cpus - others + 0.2)
            self.count = max(1, min(cpus, free))
        return self.count


_auto: list[_AutoLearnThreads] = []  # one, while the learning thread count is auto


def configure_threads(act_threads: int = 1, learn_threads: int = 0) -> None:
    """Set the thread counts for acting and learning (``learn_threads=0``: auto, see above)."""
    if act_threads < 1 or learn_threads < 0:
        raise ValueError(f"thread counts must be positive, got {act_threads}, {learn_threads}")
    _threads["act"] = act_threads
    _threads["learn"] = learn_threads or min(available_cpus(), 8)
    _auto[:] = [_AutoLearnThreads()] if learn_threads == 0 else []
    torch.set_num_threads(act_threads)


def thread_counts() -> dict[str, int]:
    """The current ``{"act": n, "learn": m}`` (``learn`` as last decided)."""
    return {"act": _threads["act"], "learn": _auto[0].count if _auto else _threads["learn"]}


class _LearningThreads:
    def __enter__(self) -> None:
        torch.set_num_threads(_auto[0]() if _auto else _threads["learn"])

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(_threads["act"])


_SWITCH = _LearningThreads()
_STAY = nullcontext()


def learning_threads() -> AbstractContextManager[None]:
    """Use the learning thread count inside the block, the acting one after it.

    (Shared context objects, not a generator: online bandits enter this once per decision,
    where a generator-based context manager's ≈ 1.5 µs is a few percent of the step.)
    """
    if not _auto and _threads["learn"] == _threads["act"]:
        return _STAY
    return _SWITCH


__all__ = ["MachineLoad", "available_cpus", "configure_threads", "learning_threads",
           "thread_counts"]
