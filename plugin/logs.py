"""Logging for conditions that repeat: one line per condition, not one per retry.

A three-minute Redis outage once wrote 18,740 lines (a traceback per retry) from one worker. Expected,
retried conditions are logged here: `throttled` writes a line at most once a minute per condition (saying
how many were held back), and `Outage` writes one line when a dependency goes away and one when it is back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

THROTTLE_SECONDS = 60.0

_lock = threading.Lock()
_last: dict[str, tuple[float, int]] = {}
"""condition -> (monotonic time of the last line written, lines held back since)."""


def throttled(
    logger: logging.Logger,
    level: int,
    condition: str,
    message: str,
    *args: object,
    exc_info: BaseException | None = None,
) -> None:
    """Log `message` unless the same `condition` was logged within THROTTLE_SECONDS (a bug's traceback,
    `exc_info`, is kept on the lines that are written)."""
    now = time.monotonic()
    with _lock:
        last, held = _last.get(condition, (-THROTTLE_SECONDS, 0))
        if now - last < THROTTLE_SECONDS:
            _last[condition] = (last, held + 1)
            return
        _last[condition] = (now, 0)
    if held:
        message += f" ({held} more like this in the last minute)"
    logger.log(level, message, *args, exc_info=exc_info)


@dataclass
class Outage:
    """Whether a dependency (Redis) is reachable, as the threads of one process last found it; logs only the
    changes. Shared by every loop of a process, so an outage is one line, not one per thread."""

    name: str
    logger: logging.Logger
    clock: Callable[[], float] = time.monotonic
    since: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def down(self, error: BaseException) -> None:
        with self._lock:
            if self.since is not None:
                return
            self.since = self.clock()
        self.logger.error("%s unavailable (%s); waiting for it to come back", self.name, _short(error))

    def up(self) -> None:
        with self._lock:
            if self.since is None:
                return
            lasted, self.since = self.clock() - self.since, None
        self.logger.warning("%s is back after %.1fs", self.name, lasted)

    @property
    def is_down(self) -> bool:
        return self.since is not None


def _short(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:200]
