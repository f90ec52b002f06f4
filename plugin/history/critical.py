"""The history facts of a replay (`organization.history.critical_90d`, `requester.history.critical_90d`).

Live, a ticket that becomes critical (`rules.kpi.critical`: priority urgent, or escalated) joins its
organization's and requester's record in Redis at that instant, and a decision reads how many of their
tickets did so in the last 90 days (plugin.processing.read_history). A replay keeps the same record in
memory, filled by the replay itself: a ticket's own critical moment counts from when it happens, and every
ticket replayed before it (tickets go in the order of their first line, about their creation) counts for
the instants it became critical at, not before.

What it cannot see: a ticket whose first line comes later in the file but that became critical while an
earlier one was still open. Replaying one ticket at a time (memory flat however long the file) is the price;
for a rule such as the seed policy's `at-risk` segment (3 or more critical tickets in 90 days) the
difference is a ticket or two at the edges of a burst. The record holds a few bytes per critical ticket.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Mapping
from datetime import datetime, timedelta

from escalator.rules.facts import HISTORY_FIELDS
from escalator.rules.kpi import critical
from escalator.rules.model import Ticket
from escalator.rules.policy import Policy
from escalator.rules.state import TicketState

WINDOW = timedelta(days=90)
_RECORDS = {"organization.history.critical_90d": "organization", "requester.history.critical_90d": "requester"}


class CriticalRecord:
    """(kind, id) -> the sorted epoch seconds at which its tickets became critical."""

    def __init__(self) -> None:
        self._at: dict[tuple[str, str], list[float]] = {}
        self._wanted: dict[int, list[str]] = {}

    def facts(self, policy: Policy, ticket: Ticket, now: datetime) -> Mapping[str, int]:
        """What the live worker would read for a decision at `now` (only the fields the policy reads)."""
        wanted = self._wanted.get(id(policy))
        if wanted is None:
            wanted = self._wanted[id(policy)] = [name for name in HISTORY_FIELDS if name in policy.fields_read]
        if not wanted:
            return {}
        ids = {
            "organization": ticket.organization.id if ticket.organization else None,
            "requester": ticket.requester.id,
        }
        found: dict[str, int] = {}
        end, start = now.timestamp(), (now - WINDOW).timestamp()
        for name in wanted:
            kind = _RECORDS[name]
            record = ids[kind]
            if record:
                moments = self._at.get((kind, record), [])
                found[name] = bisect_left(moments, end + 1e-6) - bisect_left(moments, start)
        return found

    def note(self, before: TicketState, after: TicketState, at: datetime) -> None:
        """A ticket that just became critical joins its organization's and requester's record at `at`."""
        if critical(before) or not critical(after):
            return
        for kind, record in (("organization", after.organization_id), ("requester", after.requester_id)):
            if record:
                insort(self._at.setdefault((kind, record), []), at.timestamp())
