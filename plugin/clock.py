"""Time as an event source: ticket timers in the tenant's TimerStore, fired into the same queue as webhooks.

A timer's key is `<tenant>:<ticket>:<name>` (the name from rules.schedule.TimerName). A fired timer becomes
a `timer.elapsed` event for its ticket, deduplicated by key and due, so an at-least-once timer still yields
one event; the engine re-checks it against the ticket's state when it is processed, so a stale timer never
acts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from escalator.plugin import keys
from escalator.plugin.incidents import jobs as incidents
from escalator.plugin.incidents.service import INCIDENT_TIMERS
from escalator.plugin.prometheus import TIMER_LATENESS
from escalator.plugin.queue import Counting
from escalator.plugin.runtime import Runtime
from escalator.plugin.timers import FiredTimer, TimerLoop
from escalator.rules.model import TicketEvent
from escalator.rules.schedule import TimerName

log = logging.getLogger(__name__)


def timer_key(tenant: str, ticket_id: str, name: str) -> str:
    return f"{tenant}:{ticket_id}:{name}"


def timer_event(fired: FiredTimer) -> tuple[str, TicketEvent]:
    tenant, ticket_id, name = fired.key.split(":", 2)
    event = TicketEvent(
        delivery_id=f"timer:{fired.key}:{fired.due:.6f}",
        kind="timer.elapsed",
        ticket_id=ticket_id,
        occurred_at=datetime.fromtimestamp(fired.due, UTC),
        source="timer",
        detail=TimerName.parse(name).detail(),
    )
    return tenant, event


def fire(runtime: Runtime, fired: list[FiredTimer], clock: Callable[[], float] = time.time) -> None:
    """Hand fired timers to the event queue, one round trip per tenant for a whole batch; raising leaves them
    un-acked, so they fire again. How late each one was handed over is counted (plugin.prometheus
    TIMER_LATENESS) in the same step."""
    events: dict[str, list[TicketEvent]] = {}
    lateness: dict[str, Counter[str]] = {}
    for timer in fired:
        tenant, event = timer_event(timer)
        if tenant not in runtime.config.tenants:
            log.warning("timer %s belongs to no configured tenant; dropping it", timer.key)
            continue
        if event.ticket_id == INCIDENT_TIMERS:
            incidents.enqueue(runtime, tenant, timer.key.split(":", 2)[2])  # an incident's next step
        else:
            events.setdefault(tenant, []).append(event)
        lateness.setdefault(tenant, Counter()).update(TIMER_LATENESS.observe(clock() - timer.due))
    for tenant, counts in lateness.items():
        if tenant in events:
            runtime.accept_many(tenant, events[tenant], Counting(extra=counts))
            continue
        pipe = runtime.redis.pipeline(transaction=False)
        for name, n in counts.items():
            pipe.hincrby(keys.metrics(tenant), name, n)
        pipe.execute()


def start_timer_loop(runtime: Runtime, stop: threading.Event) -> threading.Thread:
    stores = [runtime.timers(tenant) for tenant in sorted(runtime.config.tenants)]
    loop = TimerLoop(lambda: stores, lambda fired: fire(runtime, fired), outage=runtime.outage)
    target = loop.run if stores else stop.wait  # no tenant, no timers: nothing to wait on but the stop
    thread = threading.Thread(target=target, args=(stop,), name="escalator-timers", daemon=True)
    thread.start()
    return thread
