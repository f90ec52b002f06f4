"""Incidents as one ticket's evaluation sees them: a ticket matching a detector's trigger while its incident
is open joins the incident instead of being escalated on its own, and a problem ticket is the incident's.

Pure. The worker knows the tenant's open incidents (plugin.incidents) and hands them in as an
`IncidentView`; the detection itself (counting matches across tickets) and the bulk writes happen there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from escalator.rules.plan import PlannedAction

if TYPE_CHECKING:
    from escalator.rules.actions import Working
    from escalator.rules.policy import Trigger


@dataclass(frozen=True)
class IncidentView:
    """The tenant's incidents, as far as deciding one ticket needs them."""

    open: Mapping[str, str] = field(default_factory=dict)
    """Incident rule id -> the id of its open incident."""
    problem_of: str | None = None
    """The incident whose problem ticket this ticket is (None: an ordinary ticket)."""
    member_of: str | None = None
    """The incident this ticket is one of (its resolution comes from the incident, not from its own rules)."""


NO_INCIDENTS = IncidentView()


def joins_incident(working: Working, trigger: Trigger) -> bool:
    """Whether the trigger's match makes the ticket join an open incident (then none of the trigger's own
    actions run: the incident's notice goes out in bulk with the others')."""
    if not working.incidents.open:
        return False  # the usual case: no incident open, no rule to look up
    rule = next((item for item in working.policy.incidents if item.trigger == trigger.id), None)
    incident = working.incidents.open.get(rule.id) if rule is not None else None
    if rule is None or incident is None:
        return False
    if working.state.incident == incident:
        return True  # already in it: a second match changes nothing
    working.state.incident = incident
    working.plan.incident = incident
    working.plan.reasons.append(f"{trigger.id}: joins incident {incident} (rule {rule.id}); no escalation of its own")
    working.plan.actions.append(PlannedAction(trigger.id, "join_incident", to=incident))
    return True
