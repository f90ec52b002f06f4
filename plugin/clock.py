"""Time as an event source: ticket timers in the TimerStore, fired into the same queue as webhooks.

A timer's key is `<tenant>:<ticket>:<name>`; the name says what it is for (`sla:first_response`,
`trigger:<id>@<anchor>`). A fired timer becomes a `timer.elapsed` event for its ticket, deduplicated by key
and due, so an at-least-once timer still yields one event; the engine re-checks it against the ticket's
state when it is processed, so a stale timer never acts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from escalator.plugin.runtime import Runtime
from escalator.plugin.timers import FiredTimer, TimerLoop
from escalator.rules.model import TicketEvent
from escalator.rules.schedule import desired_timers
from escalator.rules.state import TicketState

log = logging.getLogger(__name__)


def timer_key(tenant: str, ticket_id: str, name: str) -> str:
    return f"{tenant}:{ticket_id}:{name}"


def timer_detail(name: str) -> dict[str, Any]:
    """What the engine needs to re-check a timer: the SLA metric, or the trigger and its anchor value."""
    kind, _, rest = name.partition(":")
    if kind == "sla":
        return {"timer": name, "sla": rest}
    trigger, _, anchor = rest.partition("@")
    return {"timer": name, "trigger": trigger, "anchor_value": anchor or None}


def timer_event(fired: FiredTimer) -> tuple[str, TicketEvent]:
    tenant, ticket_id, name = fired.key.split(":", 2)
    event = TicketEvent(
        delivery_id=f"timer:{fired.key}:{fired.due:.6f}",
        kind="timer.elapsed",
        ticket_id=ticket_id,
        occurred_at=datetime.fromtimestamp(fired.due, UTC),
        source="timer",
        detail=timer_detail(name),
    )
    return tenant, event


def fire(runtime: Runtime, fired: list[FiredTimer]) -> None:
    """Hand fired timers to the event queue; raising leaves them un-acked, so they fire again."""
    for timer in fired:
        tenant, event = timer_event(timer)
        if tenant not in runtime.config.tenants:
            log.warning("timer %s belongs to no configured tenant; dropping it", timer.key)
            continue
        runtime.accept(tenant, event)


def sync_timers(
    runtime: Runtime, tenant: str, ticket_id: str, armed: Mapping[str, str], desired: Mapping[str, datetime]
) -> dict[str, str]:
    """Arm what the ticket needs now, cancel what it no longer needs; returns the new name -> key map."""
    keys = {name: timer_key(tenant, ticket_id, name) for name in desired}
    runtime.timers.arm_many((keys[name], due.timestamp()) for name, due in desired.items())
    for name, key in armed.items():
        if keys.get(name) != key:
            runtime.timers.cancel(key)
    return keys


def schedule_timers(runtime: Runtime, tenant: str, ticket_id: str, state: TicketState) -> dict[str, str]:
    """Bring the ticket's armed timers in line with what its state needs now."""
    desired = desired_timers(runtime.policy(tenant), state, datetime.now(UTC))
    return sync_timers(runtime, tenant, ticket_id, state.timers, desired)


def start_timer_loop(runtime: Runtime, stop: threading.Event) -> threading.Thread:
    loop = TimerLoop(runtime.timers, lambda fired: fire(runtime, fired), outage=runtime.outage)
    thread = threading.Thread(target=loop.run, args=(stop,), name="escalator-timers", daemon=True)
    thread.start()
    return thread
