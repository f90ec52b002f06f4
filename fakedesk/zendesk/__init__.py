"""A fake Zendesk that speaks the real API shapes: for the demo, the tests and the benchmarks.

`desk` holds the records and what happens to them (saves, audits, webhooks); the API is split by area:
`api` (tickets, comments, users), `bulk` (update_many, job statuses), `audits`, `export` (incremental
exports, search count) and `admin` (webhooks, apps). Import the fake from here.
"""

from __future__ import annotations

from escalator.fakedesk.base import Fault, TokenBucket, admit, injected_fault
from escalator.fakedesk.zendesk.account import AGENT_ID, OWN_USER_ID, TICKET_UPDATE
from escalator.fakedesk.zendesk.desk import FakeZendesk

__all__ = [
    "AGENT_ID",
    "OWN_USER_ID",
    "TICKET_UPDATE",
    "FakeZendesk",
    "Fault",
    "TokenBucket",
    "admit",
    "injected_fault",
]
