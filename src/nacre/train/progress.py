"""How far a run is: a tqdm bar on a terminal, one-line records in logs, or nothing.

``nacre train cartpole-dqn > log 2>&1`` has no terminal to draw a bar on, and a bar redrawn
with carriage returns makes an unreadable log: there, :class:`ProgressLines` writes a line at
each tenth of the run (and once a minute between them), which ``tail -f`` and schedulers'
log files show as they come.
"""

from __future__ import annotations

import datetime
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from tqdm import tqdm


class Progress(Protocol):
    """What the training loop drives: ``update`` and ``close`` take the absolute count (the
    loop knows where it is, not how far it moved); ``note`` is free text shown with it, e.g.
    the last evaluation return."""

    note: str

    def update(self, step: int) -> None: ...

    def close(self, step: int) -> None: ...


def show_progress(total: int, start: int = 0, *, enabled: bool | None = None,
                  stream: TextIO | None = None, unit: str = "steps",
                  label: str = "step") -> Progress:
    """``enabled``: None — a bar on a terminal, lines (:class:`ProgressLines`) otherwise;
    True — the bar wherever ``stream`` goes; False — nothing at all."""
    stream = stream or sys.stderr
    if enabled is None and not stream.isatty():
        return ProgressLines(total, start, stream, unit=unit, label=label)
    return ProgressBar(total, start, stream, enabled=enabled is not False, unit=unit)


class ProgressBar:
    """``25%|██▌       | 12500/50000 [00:04<00:11, 3412.00steps/s, eval 500.0]``.

    Off a terminal (``enabled=None`` and a stream that is not a tty) it writes nothing at all;
    :func:`show_progress` gives :class:`ProgressLines` there instead.
    """

    def __init__(self, total: int, start: int = 0, stream: TextIO | None = None,
                 enabled: bool | None = None, min_interval: float = 0.25,
                 unit: str = "steps") -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._note = ""
        # Off means no tqdm at all, so nothing can reach the stream.
        self._bar: Any = None
        if self.enabled:
            self._bar = tqdm(total=total, initial=start, file=self.stream, unit=unit,
                             mininterval=min_interval, dynamic_ncols=True)

    @property
    def note(self) -> str:
        """Free text shown after the rate, e.g. the last evaluation return."""
        return self._note

    @note.setter
    def note(self, text: str) -> None:
        self._note = text
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)  # shown at the next redraw

    def update(self, step: int) -> None:
        """Move the bar to ``step`` (redrawn at most every ``min_interval`` seconds)."""
        if self._bar is not None:
            self._bar.update(step - self._bar.n)

    def close(self, step: int) -> None:
        """Show the final ``step`` and end the line; later calls do nothing."""
        if self._bar is not None:
            self.update(step)
            self._bar.close()
            self._bar = None


class ProgressLines:
    """``nacre: step 5000/50000 (10%) · 2710 steps/s · ETA 0:00:17 · eval 187.3``, one line
    at a time, for logs.

    A line is written when ``update`` crosses a tenth of ``total``, when ``every_s`` seconds
    passed since the last line (runs whose tenths are far apart), and once ``first_s`` seconds
    into the run (the first line comes early, with a rate that is no longer the warm-up's);
    ``close`` writes the last one. The rate counts from ``start`` (a resumed run's first step).
    """

    def __init__(self, total: int, start: int = 0, stream: TextIO | None = None, *,
                 unit: str = "steps", label: str = "step", every_s: float = 60.0,
                 first_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.start = total, start
        self.stream = stream or sys.stderr
        self.unit, self.label = unit, label
        self.every_s, self.first_s = every_s, first_s
        self.clock = clock
        self.note = ""
        self.started = self.clock()
        self.last_line: float | None = None  # the clock when the last line was written
        self.step = self.written = start
        self.closed = False

    def update(self, step: int) -> None:
        """Note ``step``; write a line if one is due."""
        now = self.clock()
        crossed = self._tenth(step) > self._tenth(self.written)
        due = (self.started + self.first_s if self.last_line is None
               else self.last_line + self.every_s)
        self.step = step
        if step > self.written and (crossed or now >= due):
            self._write(now)

    def close(self, step: int) -> None:
        """Write the line of ``step`` unless it was the last one; later calls do nothing."""
        if self.closed:
            return
        self.closed, self.step = True, step
        if step != self.written or self.last_line is None:
            self._write(self.clock())

    def _tenth(self, step: int) -> int:
        return 10 * step // self.total if self.total > 0 else 0

    def _write(self, now: float) -> None:
        elapsed = max(now - self.started, 1e-9)
        rate = (self.step - self.start) / elapsed
        percent = 100 * self.step // self.total if self.total > 0 else 100
        parts = [f"nacre: {self.label} {self.step}/{self.total} ({percent}%)",
                 f"{rate:.0f} {self.unit}/s" if rate >= 10 else f"{rate:.2g} {self.unit}/s"]
        if self.step >= self.total:
            parts.append(f"done in {_duration(elapsed)}")
        elif rate > 0:
            parts.append(f"ETA {_duration((self.total - self.step) / rate)}")
        if self.note:
            parts.append(self.note)
        print(" · ".join(parts), file=self.stream, flush=True)
        self.last_line, self.written = now, self.step


def _duration(seconds: float) -> str:
    """``0:00:17``, ``1:02:03``, ``2 days, 3:04:05``."""
    return str(datetime.timedelta(seconds=round(seconds)))


__all__ = ["Progress", "ProgressBar", "ProgressLines", "show_progress"]
