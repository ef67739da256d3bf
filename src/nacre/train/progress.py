"""A dependency-free progress bar for long runs (shown only on a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """``[#####.....] 25,000/50,000 steps  3,412 steps/s  ETA 7s  eval 500.0``."""

    def __init__(self, total: int, start: int = 0, stream: TextIO | None = None,
                 enabled: bool | None = None, min_interval: float = 0.25) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.start_step = start
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.min_interval = min_interval
        self.note = ""

    def update(self, step: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self.last < self.min_interval:
            return
        self.last = now
        rate = (step - self.start_step) / max(now - self.t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("inf")
        frac = min(step / max(self.total, 1), 1.0)
        bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
        eta_s = f"{eta:,.0f}s" if eta != float("inf") else "?"
        self.stream.write(
            f"\r[{bar}] {step:,}/{self.total:,} steps  {rate:,.0f} steps/s  ETA {eta_s}  "
            f"{self.note}   "
        )
        self.stream.flush()

    def close(self, step: int) -> None:
        if self.enabled:
            self.update(step, force=True)
            self.stream.write("\n")
            self.stream.flush()
