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
benchmarks/contention.py). So with ``learn_threads = 0`` (auto) nacre learns on at most the
CPUs this process may run on (its affinity mask, not the machine's count: a container or
``taskset`` may allow fewer), at most 8, minus the cores other processes keep busy, and it times
its training rounds to check that more than one thread actually pays (see
:class:`_AutoLearnThreads`). A thread count set explicitly is used as given.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import AbstractContextManager, nullcontext

import torch

_SAMPLE_EVERY_S = 0.25
_threads = {"act": 1, "learn": 1}


def _affinity() -> set[int] | None:
    """The CPUs this process may run on (None where the OS has no affinity mask)."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return None


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    cpus = _affinity()
    return max(1, len(cpus) if cpus is not None else os.cpu_count() or 1)


class MachineLoad:
    """How many of this process's CPUs other processes kept busy, from the per-CPU lines of
    ``/proc/stat`` (only the CPUs in this process's affinity mask) and this process's own CPU
    time, over the interval since the previous reading."""

    def __init__(self) -> None:
        self._cpus = _affinity()
        self._last: tuple[float, float, float] | None = self._read()

    def _read(self) -> tuple[float, float, float] | None:
        """``(wall s, busy CPU s of this process's CPUs, CPU s of this process)``."""
        if self._cpus is None:
            return None
        busy = 0
        try:
            with open("/proc/stat") as fh:
                for line in fh:
                    name, _, rest = line.partition(" ")
                    if name[:3] == "cpu" and name[3:].isdigit() and int(name[3:]) in self._cpus:
                        values = [int(v) for v in rest.split()[:8]]
                        busy += sum(values) - values[3] - values[4]  # all but idle and iowait
        except (OSError, ValueError, IndexError):
            return None
        own = os.times()
        return time.monotonic(), busy / os.sysconf("SC_CLK_TCK"), own.user + own.system

    def others_busy(self) -> float | None:
        """This process's CPUs used by other processes since the last call (None: unknown)."""
        now = self._read()
        last, self._last = self._last, now
        if now is None or last is None or now[0] - last[0] <= 0:
            return None
        return max(0.0, (now[1] - last[1]) - (now[2] - last[2])) / (now[0] - last[0])


class _AutoLearnThreads:
    """The auto learning thread count.

    Two signals decide it. The cores other processes keep busy (from ``/proc/stat``, re-read at
    most every 0.25 s) bound it: ``free`` is this process's CPUs minus those, and one thread is
    used when no second core is free. And when more than one core is free, the count is *measured*:
    the training rounds with ``free`` threads and with one are timed, the faster is used, and the
    other is tried again now and then (after 4, 8, 16 … 64 rounds while the choice holds), so a
    machine whose second core is slow for reasons no counter shows (a busy host, SMT siblings)
    gets one thread too. The first round warms caches and is not timed.
    """

    def __init__(self) -> None:
        self.load = MachineLoad()
        self.checked = -math.inf
        self.free = min(available_cpus(), 8)
        self.count = self.free
        self.cost: dict[int, float] = {}  # seconds per round, smoothed, by thread count
        self.rounds = 0
        self.probe_at, self.probe_every = 0, 4
        self.best = 0

    def choose(self) -> int:
        """The thread count of the next training round."""
        now = time.monotonic()
        if now - self.checked >= _SAMPLE_EVERY_S:
            self.checked = now
            cpus = available_cpus()
            others = self.load.others_busy()
            # a core counts as free only when others left at least 0.8 of it idle: a second
            # thread that waits for a busy core costs far more than it saves
            free = cpus if others is None else math.floor(cpus - others + 0.2)
            self.free = max(1, min(free, 8))
        self.rounds += 1
        if self.free == 1:
            self.count = 1
        elif self.rounds == 1 or self.free not in self.cost:
            self.count = self.free
        elif 1 not in self.cost:
            self.count = 1
        else:
            best = min((self.free, 1), key=self.cost.__getitem__)
            if best != self.best:  # the choice changed: watch it closely again
                self.best, self.probe_every = best, 4
                self.probe_at = self.rounds + self.probe_every
            if self.rounds >= self.probe_at:  # try the other count once
                self.probe_every = min(2 * self.probe_every, 64)
                self.probe_at = self.rounds + self.probe_every
                best = 1 if best != 1 else self.free
            self.count = best
        return self.count

    def record(self, threads: int, seconds: float) -> None:
        if self.rounds <= 1:  # the first round warms up caches and kernels
            return
        old = self.cost.get(threads)
        self.cost[threads] = seconds if old is None else 0.5 * old + 0.5 * seconds


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
    def __init__(self) -> None:
        self.started = 0.0
        self.threads = 1

    def __enter__(self) -> None:
        self.threads = _auto[0].choose() if _auto else _threads["learn"]
        torch.set_num_threads(self.threads)
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        if _auto:
            _auto[0].record(self.threads, time.perf_counter() - self.started)
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
