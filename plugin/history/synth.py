"""A realistic synthetic history file (DESIGN §9), for demos and for benchmarking `escalator simulate`.

It is the help desk's own history *without* Escalator: customers write in, agents pick tickets up, reply
(mostly within the shipped policy's first-response targets, some late), wait on customers, route
keyword tickets and escalate by hand (an internal note first, then the group move), sometimes bounce a
ticket back down, solve, and see some tickets reopened. Replaying it through a policy shows what the
policy would have changed.

Order: the file is ordered by time across tickets, like an incremental event export or a webhook log
(each ticket's lines in time order, tickets interleaved); `reader.tickets` groups such a file. Events
after the window's end are cut, so the last days hold tickets still open — as a real export does.

Reproducible: one `random.Random(seed)` drives everything in a fixed order, so the same arguments write
the same bytes. Streaming: tickets are generated in arrival order and their lines merged through a heap
holding only tickets still active; memory follows the tickets open at once (plus a few bytes per ticket
for the sorted arrival times and the customers who write again), not the file.

One module, over 400 lines on purpose: the world (customers, agents, arrivals) and each ticket's story draw
from one random stream in a fixed order, which is what makes the file reproducible; that order is easiest
to keep, and to review, in one place.

Simplifications: one office calendar (New York, Monday to Friday 9 to 5, no holidays) for business-hour
targets; every ticket is created inside the window; customers write in English (their names, locales and
time zones vary).
"""

from __future__ import annotations

import heapq
import json
import random
import unicodedata
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from escalator.plugin.history import texts
from escalator.plugin.history.texts import ROUTES, pick

GROUPS: tuple[str, ...] = ("Tier 1", "Tier 2", "Tier 3", "Finance", "Legal", "Security", "Support Leads")
TEAM_OF_ROUTE = {"l2": "Tier 2", "security": "Security", "legal": "Legal", "finance": "Finance"}
OFFICE = ZoneInfo("America/New_York")
_HOUR = 3600

FIRST_RESPONSE: dict[str, dict[str, tuple[float, bool]]] = {
    "Tier 1": {"low": (24, True), "normal": (8, True), "high": (1, False), "urgent": (0.5, False)},
    "Tier 2": {"low": (8, True), "normal": (4, True), "high": (0.5, False), "urgent": (0.25, False)},
    "Tier 3": {"low": (8, True), "normal": (4, True), "high": (1, False), "urgent": (0.25, False)},
    "Finance": {"low": (8, True), "normal": (8, True), "high": (4, True), "urgent": (1, False)},
    "Legal": {"low": (8, True), "normal": (8, True), "high": (4, True), "urgent": (1, False)},
    "Security": {"low": (4, False), "normal": (4, False), "high": (0.5, False), "urgent": (0.25, False)},
}
"""First-response targets of DESIGN §6 in hours, (b) = business hours: agents aim at these."""


@dataclass(frozen=True)
class SynthStats:
    """What was written; the shares let tests and benchmarks check the mix without re-reading the file."""

    tickets: int
    events: int
    kinds: Mapping[str, int]
    keyword_tickets: int
    """Tickets where the customer wrote a routing phrase (at creation or in a later comment)."""
    routes: Mapping[str, int]
    negated_tickets: int
    agent_keyword_tickets: int
    """Tickets where only an agent's comment mentions a routing phrase (a policy must not route them)."""
    enterprise_tickets: int
    partner_tickets: int
    escalated_tickets: int
    bounced_tickets: int
    reopened_tickets: int
    weekend_arrivals: int
    first_at: datetime | None
    last_at: datetime | None


def write_history(out: TextIO, *, tickets: int, days: int, seed: int, start: datetime) -> SynthStats:
    """Write `tickets` tickets arriving over `days` days from `start` (UTC if naive) to `out`."""
    if tickets < 0 or days <= 0:
        raise ValueError("tickets must be >= 0 and days > 0")
    begin = int((start if start.tzinfo else start.replace(tzinfo=UTC)).timestamp())
    world = _World(random.Random(seed), tickets, begin, begin + days * 24 * _HOUR)
    kinds: Counter[str] = Counter()
    heap: list[tuple[int, int, int, list[tuple[int, str, str]]]] = []
    first = last = None

    def emit(until: int) -> None:
        nonlocal first, last
        while heap and heap[0][0] <= until:
            at, number, index, lines = heapq.heappop(heap)
            out.write(lines[index][2])
            kinds[lines[index][1]] += 1
            first = at if first is None else first
            last = at
            if index + 1 < len(lines):
                heapq.heappush(heap, (lines[index + 1][0], number, index + 1, lines))

    for number, arrival in enumerate(world.arrivals()):
        emit(arrival)
        lines = _Story(world, number, arrival).lines()
        if lines:
            heapq.heappush(heap, (lines[0][0], number, 0, lines))
    emit(world.end)
    stats = world.stats
    return SynthStats(
        tickets=tickets,
        events=sum(kinds.values()),
        kinds=dict(sorted(kinds.items())),
        keyword_tickets=stats["keyword"],
        routes={route: stats[f"route:{route}"] for route in ROUTES},
        negated_tickets=stats["negated"],
        agent_keyword_tickets=stats["agent_keyword"],
        enterprise_tickets=stats["enterprise"],
        partner_tickets=stats["partner"],
        escalated_tickets=stats["escalated"],
        bounced_tickets=stats["bounced"],
        reopened_tickets=stats["reopened"],
        weekend_arrivals=stats["weekend"],
        first_at=datetime.fromtimestamp(first, UTC) if first is not None else None,
        last_at=datetime.fromtimestamp(last, UTC) if last is not None else None,
    )


def _choose(rng: random.Random, weights: Mapping[str, float]) -> str:
    return rng.choices(tuple(weights), tuple(weights.values()))[0]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace(" ", "")


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_encode_string: Callable[[str], str] = json.encoder.encode_basestring


class _World:
    """Everything shared by the tickets: people, organizations, agents, the office calendar, counters."""

    def __init__(self, rng: random.Random, tickets: int, begin: int, end: int) -> None:
        self.rng, self.count, self.begin, self.end = rng, tickets, begin, end
        self.stats: Counter[str] = Counter()
        self.agents = {group: [f"{7001 + 20 * g + i}" for i in range(size)]
                       for g, (group, size) in enumerate(zip(GROUPS, (12, 6, 3, 2, 2, 2, 2), strict=True))}  # fmt: skip
        self.orgs: dict[str, list[dict[str, Any]]] = {"enterprise": [], "partner": [], "standard": []}
        organizations = max(12, tickets // 20)
        names = [f"{a} {b}" for a in texts.ORG_WORDS for b in texts.ORG_KINDS]
        rng.shuffle(names)
        for index in range(organizations):
            segment = "enterprise" if index % 10 == 0 else "partner" if index % 20 == 5 else "standard"
            name = names[index % len(names)] + (f" {index // len(names) + 1}" if index >= len(names) else "")
            org: dict[str, Any] = {"id": str(900 + index), "name": name, "tags": [], "fields": {}}
            org["fields"]["plan"] = {"enterprise": "Enterprise", "partner": "Partner"}.get(segment, "Business")
            if segment != "standard":
                org["tags"].append(segment)
            if segment == "enterprise" and rng.random() < 0.6:
                manager = rng.choice(self.agents["Tier 2"])
                org["fields"]["account_manager"] = f"agent{manager}@support.example"
            self.orgs[segment].append({"json": _dumps(org), "domain": _ascii(name) + ".example", "people": []})
        self.loners: list[tuple[str, str, str]] = []
        self.people = 0
        self.opens, self.closes = self._office_hours()

    def arrivals(self) -> list[int]:
        """Arrival instants, sorted: hour slots weighted by New York weekday and hour."""
        slots, cumulative, total = [], [], 0.0
        for slot in range(self.begin, self.end, _HOUR):
            local = datetime.fromtimestamp(slot, OFFICE)
            total += texts.ARRIVALS_BY_WEEKDAY[local.weekday()] * texts.ARRIVALS_BY_HOUR[local.hour]
            slots.append(slot)
            cumulative.append(total)
        rng = self.rng
        picked = [
            slots[bisect_right(cumulative, rng.random() * total)] + rng.randrange(_HOUR) for _ in range(self.count)
        ]
        picked.sort()
        self.stats["weekend"] = sum(datetime.fromtimestamp(at, OFFICE).weekday() >= 5 for at in picked)
        return picked

    def requester(self, segment: str) -> tuple[tuple[str, str, str], str | None]:
        """((requester JSON, id, first name), organization JSON or None); people come back 70% of the time."""
        rng = self.rng
        org = rng.choice(self.orgs[segment]) if segment != "none" else None
        pool: list[tuple[str, str, str]] = org["people"] if org is not None else self.loners
        if pool and rng.random() < 0.7:
            person = rng.choice(pool)
        else:
            self.people += 1
            locale = _choose(rng, texts.LOCALES)
            first, last = rng.choice(texts.FIRST_NAMES[locale]), rng.choice(texts.LAST_NAMES[locale])
            domain = org["domain"] if org is not None else rng.choice(texts.MAIL_DOMAINS)
            data = {
                "id": str(500000 + self.people),
                "name": f"{first} {last}",
                "email": f"{_ascii(first)}.{_ascii(last)}{self.people}@{domain}",
                "locale": locale,
                "time_zone": rng.choice(texts.ZONES[locale]) if rng.random() < 0.9 else None,
                "tags": ["vip"] if rng.random() < 0.03 else [],
            }
            person = (_dumps(data), str(data["id"]), first)
            pool.append(person)
        return person, org["json"] if org is not None else None

    def _office_hours(self) -> tuple[list[int], list[int]]:
        """Monday to Friday, 09:00 to 17:00 New York, from a day before the window to 60 days after it."""
        opens, closes = [], []
        day = datetime.fromtimestamp(self.begin, OFFICE).date() - timedelta(days=1)
        for _ in range((self.end - self.begin) // (24 * _HOUR) + 62):
            if day.weekday() < 5:
                opens.append(int(datetime(day.year, day.month, day.day, 9, tzinfo=OFFICE).timestamp()))
                closes.append(int(datetime(day.year, day.month, day.day, 17, tzinfo=OFFICE).timestamp()))
            day += timedelta(days=1)
        return opens, closes

    def after(self, at: int, seconds: float, business: bool) -> int:
        """The instant `seconds` of (business, if asked) time after `at`."""
        if not business:
            return at + int(seconds)
        index, left = bisect_right(self.closes, at), seconds
        while index < len(self.opens):
            begin = max(at, self.opens[index])
            if begin + left <= self.closes[index]:
                return int(begin + left)
            left -= self.closes[index] - begin
            index += 1
        return self.end + _HOUR  # past the horizon: cut with the window


class _Story:
    """One ticket's life, as the lines the help desk's history would show."""

    def __init__(self, world: _World, number: int, arrival: int) -> None:
        self.world, self.rng, self.at = world, world.rng, arrival
        self.id = str(1001 + number)
        self.out: list[tuple[int, str, str]] = []
        self.status, self.group = "new", "Tier 1"
        self.assignee: str | None = None
        self.priority = _choose(self.rng, {"low": 20, "normal": 62, "high": 14, "urgent": 4})
        self.segment = _choose(self.rng, texts.SEGMENTS)
        (self.requester, self.requester_id, self.first_name), org = world.requester(self.segment)
        self.escalated = False
        self.route = ""
        self.marks: list[tuple[int, str]] = []
        self.business = self.segment != "enterprise"  # enterprise tickets run on the 24x7 clock
        self.category = _choose(self.rng, texts.CATEGORIES)
        self.area = pick(self.rng, texts.AREAS)
        self.subject, self.description = self._opening()
        created = _instant(arrival)
        channel = _choose(self.rng, texts.CHANNELS)
        kind = "incident" if self.category in ("problem", "keyword", "late_keyword") else "question"
        self.head = f'{{"id":"{self.id}","subject":{_text(self.subject)},"description":{_text(self.description)},'
        self.tail = (
            f'"requester":{self.requester},"organization":{org or "null"},"tags":["{self.area.replace(" ", "_")}"],'
            f'"channel":"{channel}","type":"{kind}","created_at":"{created}"}}'
        )

    def _opening(self) -> tuple[str, str]:
        rng, category = self.rng, self.category
        if category == "keyword":
            self.route = _choose(rng, texts.ROUTE_WEIGHTS)
            subject, sentence = pick(rng, ROUTES[self.route])
            if self.route in ("l2", "security"):
                self.priority = _choose(rng, {"normal": 25, "high": 50, "urgent": 25})
            return subject, texts.letter(rng, sentence.format(area=self.area), self.first_name)
        table = {"late_keyword": "problem", "negated": "negated"}.get(category, category)
        subject, sentence = pick(rng, texts.OPENINGS[table])
        subject = subject.format(area=self.area)
        return subject[0].upper() + subject[1:], texts.letter(rng, sentence.format(area=self.area), self.first_name)

    def lines(self) -> list[tuple[int, str, str]]:
        """The whole story, cut at the window's end."""
        rng, world = self.rng, self.world
        self.emit("ticket.created", "requester", self.requester_id, comment=(self.description, True))
        self.marks += [(self.at, self.segment)]
        if self.category == "keyword":
            self.marks += [(self.at, "keyword"), (self.at, f"route:{self.route}")]
        elif self.category == "negated":
            self.marks += [(self.at, "negated")]
        self.work(first=True)
        if self.category == "late_keyword":
            self.route = _choose(rng, texts.ROUTE_WEIGHTS)
            _subject, sentence = pick(rng, ROUTES[self.route])
            self.customer_reply(texts.letter(rng, "Update: " + sentence.format(area=self.area), self.first_name))
            self.marks += [(self.at, "keyword"), (self.at, f"route:{self.route}")]
        if rng.random() < 0.03 and self.category in ("howto", "problem", "account"):
            self.wait(10 * 60, 2 * _HOUR)
            note = (pick(rng, texts.AGENT_KEYWORD_NOTES), rng.random() < 0.3)  # mostly internal, some public
            self.emit("comment.added", "agent", self.assignee, comment=note)
            self.marks += [(self.at, "agent_keyword")]
        if self.category in ("keyword", "late_keyword"):
            if rng.random() < 0.85:
                self.move(TEAM_OF_ROUTE[self.route], pick(rng, texts.ROUTE_NOTES))
        elif self.category == "problem" and rng.random() < 0.32:
            self.move("Tier 2", pick(rng, texts.ESCALATION_NOTES))
            if rng.random() < 0.2 and self.move("Tier 1", pick(rng, texts.BOUNCE_NOTES)) is not None:  # bounced
                self.customer_reply(pick(rng, texts.CUSTOMER_REPLIES))
                back = self.move("Tier 2", pick(rng, texts.REESCALATION_NOTES))
                self.marks += [(back, "bounced")] if back is not None else []
            if rng.random() < 0.2:
                self.move("Tier 3", pick(rng, texts.TIER3_NOTES))
        self.solve()
        if rng.random() < 0.07:
            self.customer_reply(pick(rng, texts.REOPENINGS), slow=True)
            self.marks += [(self.at, "reopened")]
            self.work(first=False)
            self.solve()
        world.stats.update(mark for at, mark in self.marks if at < world.end)
        return [line for line in self.out if line[0] < world.end]

    def wait(self, low: float, high: float) -> None:
        self.at += int(self.rng.uniform(low, high))

    def reply_delay(self) -> None:
        """An agent's reply: mostly inside the group's first-response target, 12% late."""
        hours, business = FIRST_RESPONSE[self.group][self.priority]
        share = self.rng.uniform(0.05, 0.9) if self.rng.random() < 0.88 else self.rng.uniform(1.05, 3.0)
        self.at = self.world.after(self.at, hours * _HOUR * share, business and self.business)

    def work(self, *, first: bool) -> None:
        """Pick-up, a first answer, then rounds of waiting on the customer."""
        rng, start = self.rng, self.at
        self.reply_delay()
        if self.assignee is None:
            reply, self.at = self.at, max(start, self.at - rng.randrange(30, 600))  # takes it, then writes
            agent = rng.choice(self.world.agents[self.group])
            self.emit("ticket.updated", "agent", agent, assignee=agent, status="open" if self.status == "new" else None)
            self.at = reply
        elif self.status == "new":
            self.emit("ticket.updated", "agent", self.assignee, status="open")
        answer = pick(rng, texts.FIRST_ANSWERS if first else texts.FOLLOW_UPS)
        self.agent_reply(f"Hi {self.first_name}, {answer[0].lower()}{answer[1:]}")
        for _round in range(rng.choices((0, 1, 2, 3), (30, 45, 18, 7))[0]):
            if rng.random() < 0.08:  # the customer never answers: the help desk's automation solves it
                self.wait(4 * 24 * _HOUR, 6 * 24 * _HOUR)
                self.emit("ticket.solved", "system", None, status="solved")
                return
            self.customer_reply(pick(rng, texts.CUSTOMER_REPLIES))
            self.reply_delay()
            self.agent_reply(pick(rng, texts.FOLLOW_UPS))
        if rng.random() < 0.05 and self.priority in ("low", "normal"):  # the agent finds it more serious
            self.wait(60, 30 * 60)
            raised = {"low": "normal", "normal": "high"}[self.priority]
            self.emit("ticket.updated", "agent", self.assignee, priority=raised)

    def agent_reply(self, body: str) -> None:
        """A public reply; most ask the customer something, so the same update sets the ticket pending."""
        asks = self.rng.random() < 0.75
        fields: dict[str, Any] = {"then": "ticket.updated", "status": "pending"} if asks else {}
        self.emit("comment.added", "agent", self.assignee, comment=(body, True), **fields)

    def customer_reply(self, body: str, *, slow: bool = False) -> None:
        """A public comment; on a pending or solved ticket the same update reopens it (a second line)."""
        choice = 3 if slow else self.rng.choices((1, 2, 3), (40, 35, 25))[0]
        self.wait(*{1: (600, 90 * 60), 2: (2 * _HOUR, 8 * _HOUR), 3: (12 * _HOUR, 96 * _HOUR)}[choice])
        fields: dict[str, Any] = {}
        if self.status in ("pending", "solved"):  # the customer's answer reopens the ticket
            fields = {"then": "ticket.reopened" if self.status == "solved" else "ticket.updated", "status": "open"}
        self.emit("comment.added", "requester", self.requester_id, comment=(body, True), **fields)

    def move(self, group: str, note: str) -> int | None:
        """An agent's hand-over: the internal note explaining why, then the group move. Its instant, or None
        when the ticket was solved meanwhile and nobody moves it."""
        if self.status == "solved":
            return None
        rng, up = self.rng, GROUPS.index(group) > GROUPS.index(self.group) or group not in GROUPS[:3]
        self.wait(5 * 60, 2 * _HOUR)
        mover = self.assignee or rng.choice(self.world.agents[self.group])
        self.emit("comment.added", "agent", mover, comment=(note.format(area=self.area), False))
        self.at += rng.randrange(10, 300)
        self.emit("ticket.updated", "agent", mover, group=group, assignee=None, status="open")
        moved = self.at
        if up and not self.escalated:
            self.escalated = True
            self.marks += [(moved, "escalated")]
        self.work(first=False)
        return moved

    def solve(self) -> None:
        if self.status == "solved":
            return
        self.wait(5 * 60, 3 * _HOUR)
        summary = (pick(self.rng, texts.RESOLUTIONS), True)
        self.emit("comment.added", "agent", self.assignee, comment=summary, then="ticket.solved", status="solved")

    def emit(self, kind: str, role: str, actor: str | None, *, comment: tuple[str, bool] | None = None,
             then: str | None = None, **fields: str | None) -> None:  # fmt: skip
        """One update: `fields` are the ticket fields it changes (None clears one). With `then`, the update
        both comments and changes fields, written as two lines at the same instant (the comment, then a
        `then` line with the changes), both showing the ticket after the whole update, as the help desk
        reports each event of one update (DESIGN §9). Built from pre-encoded parts: encoding the whole
        ticket per line would triple the cost of a large file."""
        changes = []
        for name, value in fields.items():
            before = getattr(self, name)
            if value is not None or name == "assignee":
                if before != value:
                    changes.append(f'"{name}":[{_text(before)},{_text(value)}]')
                setattr(self, name, value)
        actor_json = f'{{"id":{_text(actor)},"role":"{role}"}}'
        ticket = "".join((self.head, f'"status":"{self.status}","priority":"{self.priority}",',
                          f'"group":"{self.group}","assignee":{_text(self.assignee)},', self.tail))  # fmt: skip
        lines = [(kind, comment, changes)] if then is None else [(kind, comment, []), (then, None, changes)]
        for line_kind, line_comment, line_changes in lines:
            parts = [f'{{"at":"{_instant(self.at)}","kind":"{line_kind}","actor":{actor_json},"ticket":{ticket}']
            if line_comment is not None:
                public = "true" if line_comment[1] else "false"
                parts.append(f',"comment":{{"body":{_text(line_comment[0])},"public":{public}}}')
            if line_changes:
                parts.append(',"changes":{' + ",".join(line_changes) + "}")
            parts.append("}\n")
            self.out.append((self.at, line_kind, "".join(parts)))


def _text(value: str | None) -> str:
    return "null" if value is None else _encode_string(value)


@lru_cache(maxsize=128)
def _day(day: int) -> str:
    return datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%dT")


def _instant(at: int) -> str:
    """`2026-03-02T14:00:00Z` for a Unix time: the date part cached (strftime per line is a tenth of the run)."""
    day, second = divmod(at, 86400)
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    return f"{_day(day)}{hour:02d}:{minute:02d}:{second:02d}Z"
