"""Waiting for a help desk's background job (Zendesk `job_statuses`, Freshdesk `jobs`): both answer a bulk
update at once with a job, and say per ticket how it went only once the job completed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

POLL_DELAYS = (0.2, 0.5, 1.0, 2.0, 3.0, 5.0, 5.0, 5.0, 10.0, 10.0)
"""About 40 s in all: a job of 100 tickets completes in seconds; one still queued after that is looked at
again on the incident's next step (its tickets stay pending, none is told twice)."""


def wait_for(
    read: Callable[[], dict[str, Any]], finished: Callable[[dict[str, Any]], bool], sleep: Callable[[float], None]
) -> dict[str, Any] | None:
    """The job once finished, or None if it did not finish within POLL_DELAYS."""
    for delay in POLL_DELAYS:
        job = read()
        if finished(job):
            return job
        sleep(delay)
    job = read()
    return job if finished(job) else None
