"""Reading a claimed batch before deciding on it: each ticket's state and events, and the ticket as the help
desk has it — from the events' own snapshots where the connector can, else read back, many tickets per call
where the connector can (a burst of deadlines: timer events carry no snapshot).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from escalator.plugin import outbox
from escalator.plugin.connection import UNAVAILABLE
from escalator.plugin.processing import Batch, current_ticket
from escalator.plugin.queue import Claimed
from escalator.plugin.tenancy import TenantContext
from escalator.rules.model import Ticket
from escalator.rules.state import TicketState

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """A claimed ticket, read: its remembered state, its saved plan or decoded events, and the ticket to decide
    on (None when it needs none: a saved plan, or no readable event)."""

    claimed: Claimed
    base: TicketState
    pending: outbox.PendingDecision | None
    batch: Batch | None = None
    fresh: Ticket | None = None

    @property
    def ticket_id(self) -> str:
        return self.claimed.ticket_id


def decode(claimed: Claimed) -> Prepared:
    base = TicketState.from_dict(json.loads(claimed.state_json)) if claimed.state_json else TicketState()
    if claimed.outbox_json:
        return Prepared(claimed, base, outbox.PendingDecision.from_json(claimed.outbox_json))
    return Prepared(claimed, base, None, Batch.decode(claimed.raw))


def read_back_together(ctx: TenantContext, batch: Sequence[Prepared]) -> None:
    """Read the batch's tickets that need a read-back in as few calls as the connector allows: those whose
    events carry no snapshot of the ticket (timers, or a connector that never sends one). What this does not
    read is read one by one by `read_ticket` (as is everything, should the bulk read fail)."""
    client = ctx.bulk_reader
    if client is None:
        return
    snapshots = ctx.snapshot_reader is not None
    wanted = [
        ready
        for ready in batch
        if ready.batch is not None
        and ready.batch.events
        and not (snapshots and any(event.snapshot is not None for event in ready.batch.events))
    ]
    if len(wanted) < 2:
        return
    try:
        found = client.fetch_tickets([ready.ticket_id for ready in wanted])
    except UNAVAILABLE:
        raise
    except Exception as error:  # each ticket is read (and its failure handled) on its own instead
        log.info("%s: reading %d tickets at once failed (%s); one by one", ctx.name, len(wanted), error)
        return
    for ready in wanted:
        ready.fresh = found.get(ready.ticket_id)


def read_ticket(ctx: TenantContext, ready: Prepared) -> Prepared:
    """The ticket to decide on, unless read already (or none is needed)."""
    if ready.fresh is None and ready.batch is not None and ready.batch.events:
        ready.fresh = current_ticket(ctx, ready.ticket_id, ready.batch, ready.base)
    return ready
