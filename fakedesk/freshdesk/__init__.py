"""A fake Freshdesk that speaks the real API v2 shapes: for the demo, the tests and the benchmarks.

`desk` holds the records and what happens to them (saves, conversations, trackers); `api` serves the REST
API (tickets, conversations, bulk jobs); `automations` stores the admin's automation rules and plays them
on every save, which is how Freshdesk sends webhooks. Import the fake from here.
"""

from __future__ import annotations

from escalator.fakedesk.base import Fault, TokenBucket, admit, injected_fault, iso
from escalator.fakedesk.freshdesk.account import (
    BUILT_IN_STATUSES,
    FRESHDESK_TICKET_UPDATE,
    HUMAN_AGENT_ID,
    INCLUDES,
    OWN_AGENT_ID,
    PRIORITY_BY_NAME,
    PRIORITY_NAMES,
    TICKET_FIELDS,
    UPDATE_RULE_EVENTS,
)
from escalator.fakedesk.freshdesk.automations import rendered_time
from escalator.fakedesk.freshdesk.desk import FakeFreshdesk

__all__ = [
    "BUILT_IN_STATUSES",
    "FRESHDESK_TICKET_UPDATE",
    "HUMAN_AGENT_ID",
    "INCLUDES",
    "OWN_AGENT_ID",
    "PRIORITY_BY_NAME",
    "PRIORITY_NAMES",
    "TICKET_FIELDS",
    "UPDATE_RULE_EVENTS",
    "FakeFreshdesk",
    "Fault",
    "TokenBucket",
    "admit",
    "injected_fault",
    "iso",
    "rendered_time",
]
