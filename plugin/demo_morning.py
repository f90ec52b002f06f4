"""The second act of `escalator demo`: one enterprise ticket's morning, run forward on a virtual clock.

The help desk dates what happens at virtual instants, and the virtual clock fires the ticket's timers at
their own instants through the same path as the timer loop (plugin.clock.fire: into the event queue, decided
by the worker). The morning starts a minute from now, so the service's real timer loop never fires a timer
before the virtual clock gets to it; five hours run in seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from escalator.fakedesk.zendesk import FakeZendesk
from escalator.plugin.clock import fire
from escalator.plugin.jobs import wait_quiet
from escalator.plugin.runtime import Runtime
from escalator.plugin.timers import TimerLoop


class VirtualMorning:
    def __init__(
        self, desk: FakeZendesk, runtime: Runtime, tenant: str, settle: Callable[[], object], say: Callable[[str], None]
    ) -> None:
        self.desk, self.runtime, self.tenant = desk, runtime, tenant
        self.settle, self.say = settle, say
        self.start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=2)
        self.loop = TimerLoop(runtime.timers(tenant), lambda fired: fire(runtime, fired))
        self.shown = 0

    def at(self, minutes: float) -> datetime:
        return self.start + timedelta(minutes=minutes)

    def advance(self, minutes: float) -> None:
        """Fire every timer due by `minutes` into the morning, in due order, each decided before the next."""
        until = self.at(minutes).timestamp()
        while self.loop.run_once(now=until):
            wait_quiet(self.runtime, self.tenant, timeout=15)
            self.settle()

    def tell(self, ticket_id: int, minutes: float, what: str) -> None:
        """What Escalator wrote since the last look, with the virtual time it was decided at."""
        ticket = self.desk.tickets[ticket_id]
        self.say(f"  +{int(minutes) // 60}:{int(minutes) % 60:02d}  {what}")
        writes = [w for w in self.desk.writes if w["ticket_id"] == ticket_id]
        for write in writes[self.shown :]:
            comment: dict[str, Any] | None = write.get("comment")
            if comment:
                kind = "reply to customer" if comment["public"] else "internal note"
                first = gist(comment["body"]) if comment["public"] else comment["body"].replace("\n", " ")
                self.say(f"           {kind}: {first[:100]}{'...' if len(first) > 100 else ''}")
        self.shown = len(writes)
        group = self.desk.groups.get(ticket["group_id"], "-")
        self.say(f"           now: group {group}, priority {ticket['priority'] or 'not set'}")

    def run(self, requester: int) -> None:
        desk = self.desk
        self.say("\nAn enterprise customer's morning, on a virtual clock (five hours in seconds):")
        ticket_id = int(
            desk.create_ticket(
                "Reports page times out",
                "The reports page times out for everyone in our finance team.",
                requester,
                priority="high",
                at=self.at(0),
            )["id"]
        )
        desk.agent_update(ticket_id, assignee_id=901, at=self.at(0.5))
        self.settle()
        self.tell(ticket_id, 0, "opened (high, enterprise): straight to the specialists, the customer told")
        self.advance(23)
        self.tell(ticket_id, 23, "75% of the 30-minute first response target gone: a warning with the deadline")
        self.advance(31)
        self.tell(ticket_id, 31, "target missed: the breach moves it up, one priority higher, customer told")
        desk.add_comment(
            ticket_id, "We can reproduce it and are working on a fix.", public=True, author_id=901, at=self.at(35)
        )
        desk.agent_update(ticket_id, status="hold", at=self.at(35.5))  # waiting on engineering
        self.settle()
        self.advance(35)
        self.tell(ticket_id, 35, "the agent answers and puts it on hold while engineering works on a fix")
        self.advance(4 * 60 + 36)
        self.tell(ticket_id, 4 * 60 + 36, "four hours without news for the customer: a progress update")
        desk.add_comment(
            ticket_id,
            "We rolled back the report cache change; the reports page loads in under a second again.",
            public=True, author_id=901, at=self.at(5 * 60),
        )  # fmt: skip
        desk.agent_update(ticket_id, status="solved", at=self.at(5 * 60 + 0.5))
        self.settle()
        self.tell(ticket_id, 5 * 60, "the agent explains the fix and solves it: the resolution summary")


def gist(reply: str) -> str:
    """A customer reply's first paragraph after the greeting ("Hi Ivy,")."""
    paragraphs = [part.strip() for part in reply.split("\n\n") if part.strip()]
    if len(paragraphs) > 1 and paragraphs[0].endswith((",", ":")):
        paragraphs = paragraphs[1:]
    return paragraphs[0].replace("\n", " ") if paragraphs else ""
