"""The worker's way in to incidents: the RQ job that runs a step, and what fires it (a timer, a decision)."""

from __future__ import annotations

import logging

from escalator.plugin.incidents.service import INCIDENT_TIMERS, IncidentStep, schedule
from escalator.plugin.runtime import Runtime, current

log = logging.getLogger(__name__)

__all__ = ["INCIDENT_TIMERS", "advance", "enqueue", "schedule"]


def advance(tenant: str, incident_id: str) -> str:
    """RQ job: one step of the incident; returns its status."""
    runtime = current()
    incident = IncidentStep(runtime, tenant).run(incident_id)
    return incident.status if incident is not None else "unknown"


def enqueue(runtime: Runtime, tenant: str, incident_id: str) -> None:
    runtime.jobs.enqueue(
        "escalator.plugin.incidents.jobs.advance", tenant, incident_id, result_ttl=0, failure_ttl=7 * 24 * 3600
    )
