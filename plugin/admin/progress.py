"""A progress line on stderr: redrawn in place on a terminal, one line every few seconds in a log."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 24
LOG_EVERY_SECONDS = 5.0
"""Without a terminal (a log file, CI), print a progress line at most this often."""


def _count(value: int) -> str:
    return f"{value:,}"


class Progress:
    def __init__(
        self,
        stream: TextIO,
        label: str,
        *,
        total: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        interactive: bool | None = None,
    ) -> None:
        self.stream = stream
        self.label = label
        self.total = total
        self.clock = clock
        self.started = clock()
        self.interactive = stream.isatty() if interactive is None else interactive
        self._last = -LOG_EVERY_SECONDS
        self._drawn = False
        self.done = 0
        self.scanned = 0
        self.note = ""

    def line(self) -> str:
        elapsed = max(self.clock() - self.started, 1e-6)
        rate = f"{self.done / elapsed:,.0f}/s"
        scanned = f" (scanned {_count(self.scanned)})" if self.scanned != self.done else ""
        if self.total:
            share = min(1.0, self.done / self.total)
            filled = round(share * BAR_WIDTH)
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            text = f"{self.label} [{bar}] {_count(self.done)}/{_count(self.total)} tickets{scanned} {rate}"
        else:
            text = f"{self.label} {_count(self.done)} tickets{scanned} {rate}"
        return f"{text} - {self.note}" if self.note else text

    def update(self, done: int, scanned: int, note: str = "", *, force: bool = False) -> None:
        """`note` says why the run is waiting; a new one is always shown (a log should say why it stalls)."""
        force = force or bool(note and note != self.note)
        self.done, self.scanned, self.note = done, scanned, note
        now = self.clock()
        if self.interactive:
            self.stream.write("\r\x1b[2K" + self.line())
            self._drawn = True
        elif force or now - self._last >= LOG_EVERY_SECONDS:
            self.stream.write(self.line() + "\n")
            self._last = now
        self.stream.flush()

    def finish(self, note: str = "done") -> None:
        self.update(self.done, self.scanned, note, force=True)
        if self.interactive and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
