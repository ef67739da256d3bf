"""The progress bar of long runs: tqdm, shown only on a terminal unless asked for."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm import tqdm


class ProgressBar:
    """``25%|██▌       | 12500/50000 [00:04<00:11, 3412.00steps/s, eval 500.0]``.

    ``update`` and ``close`` take the absolute step count (the loop knows where it is, not how far
    it moved). Off a terminal (``enabled=None`` and a stream that is not a tty) it writes nothing
    at all, so logs and captured output stay clean.
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
