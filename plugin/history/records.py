"""One line of a history file (DESIGN §9): parsed, checked and turned into the engine's inputs.

Bad input never raises: `parse_line` answers a `LineProblem` that names the line, the JSON path and what
is wrong, so a reader can report it and carry on with the next line. The check mirrors
`rules/history.schema.json` by hand (see `shape`): a validator per line would cost ~20x more.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple, NoReturn

from escalator.plugin.history import shape
from escalator.plugin.history.shape import EMPTY as _EMPTY
from escalator.plugin.history.shape import Bad, json_path
from escalator.rules.model import Comment, Organization, Person, Ticket, TicketEvent

MAX_LINE_BYTES = 1 << 20
"""A line longer than this (1 MiB, newline included) is refused unread: no real ticket event is that large,
and the bound keeps a reader's memory flat even on a corrupt file with no newlines."""

SOURCE = "history"
"""`TicketEvent.source` of replayed events."""

_PERSON_FIELDS = frozenset(item.name for item in fields(Person))
_ABSENT: Any = object()


@dataclass(frozen=True, slots=True)
class LineProblem:
    """A line that was skipped, and why: `path` is the JSON path into the line ("$" for the whole line)."""

    line_number: int
    message: str
    path: str = "$"

    def __str__(self) -> str:
        return f"line {self.line_number}: {self.path}: {self.message}"


# The record types are NamedTuples: immutable and typed like frozen dataclasses, but built 3x faster,
# which matters at hundreds of thousands of lines per simulation.


class Actor(NamedTuple):
    id: str | None
    role: str
    name: str | None = None


class HistoryPerson(NamedTuple):
    id: str
    name: str = ""
    email: str | None = None
    locale: str | None = None
    time_zone: str | None = None
    tags: tuple[str, ...] = ()


class HistoryOrganization(NamedTuple):
    id: str
    name: str
    tags: tuple[str, ...] = ()
    fields: Mapping[str, Any] = _EMPTY


class HistoryComment(NamedTuple):
    body: str
    public: bool
    author_id: str | None = None
    id: str | None = None


class HistoryTicket(NamedTuple):
    """The ticket after the event, as the line gives it (group by name, ids as strings)."""

    id: str
    status: str
    created_at: datetime
    requester: HistoryPerson
    subject: str = ""
    description: str = ""
    priority: str | None = None
    group: str | None = None
    group_id: str | None = None
    assignee: str | None = None
    organization: HistoryOrganization | None = None
    tags: tuple[str, ...] = ()
    channel: str | None = None
    type: str | None = None
    problem_id: str | None = None
    custom_fields: Mapping[str, Any] = _EMPTY
    updated_at: datetime | None = None


class HistoryRecord(NamedTuple):
    """One valid line: what happened (`kind`, `at`, `actor`, `comment`, `changes`) and the ticket after it."""

    line_number: int
    at: datetime
    kind: str
    actor: Actor
    ticket: HistoryTicket
    comment: HistoryComment | None = None
    changes: Mapping[str, tuple[Any, Any]] = _EMPTY

    @property
    def ticket_id(self) -> str:
        return self.ticket.id

    def ticket_model(self) -> Ticket:
        """The engine's `Ticket`: what a connector would have read back from the help desk at this event."""
        ticket = self.ticket
        org = ticket.organization
        return Ticket(
            id=ticket.id,
            subject=ticket.subject,
            description=ticket.description,
            status=ticket.status,
            priority=ticket.priority,
            group_id=ticket.group_id,
            group_name=ticket.group,
            assignee_id=ticket.assignee,
            requester=_person_model(ticket.requester),
            organization=_organization_model(org) if org is not None else None,
            tags=ticket.tags,
            channel=ticket.channel,
            custom_fields=dict(ticket.custom_fields),
            created_at=ticket.created_at,
            updated_at=ticket.updated_at or self.at,
        )

    def event(self, delivery_id: str | None = None) -> TicketEvent:
        """The engine's `TicketEvent`. A comment's author is `requester` only when a requester wrote it:
        agents' and automations' words are never read as the customer's (keyword rules must not fire)."""
        comment = None
        if self.comment is not None:
            comment = Comment(
                body=self.comment.body,
                public=self.comment.public,
                author="requester" if self.actor.role == "requester" else "agent",
                author_id=self.comment.author_id or self.actor.id,
                id=self.comment.id,
            )
        return TicketEvent(
            delivery_id=delivery_id or f"{SOURCE}:{self.ticket.id}:{self.line_number}",
            kind=self.kind,
            ticket_id=self.ticket.id,
            occurred_at=self.at,
            comment=comment,
            changes=dict(self.changes),
            actor_id=self.actor.id,
            source=SOURCE,
        )


def parse_line(line: str | bytes, line_number: int) -> HistoryRecord | LineProblem:
    """One line → a record, or the reason it cannot be replayed. Never raises for bad input."""
    if len(line) > MAX_LINE_BYTES:
        return LineProblem(line_number, f"line is {len(line):,} long; the limit is {MAX_LINE_BYTES:,} (1 MiB)")
    try:
        data = _DECODER.decode(line.decode("utf-8") if isinstance(line, bytes) else line)
    except UnicodeDecodeError:
        return LineProblem(line_number, "not UTF-8 text")
    except ValueError as error:
        return LineProblem(line_number, f"not JSON: {error}")
    except RecursionError:
        return LineProblem(line_number, "not JSON: nested too deeply")
    try:
        return _record(data, line_number)
    except Bad as bad:
        return LineProblem(line_number, bad.message, bad.path)


_J = r"[ \t\r\n]*"
_HEAD = (
    rf'^{_J}\{{{_J}"at"{_J}:{_J}"(?P<at>[^"\\]*)"{_J},{_J}"kind"{_J}:{_J}"[^"\\]*"{_J},'
    rf'{_J}"actor"{_J}:{_J}\{{[^{{}}"]*(?:"[^"\\]*"[^{{}}"]*)*\}}{_J},'
    rf'{_J}"ticket"{_J}:{_J}\{{{_J}"id"{_J}:{_J}(?:"(?P<text>[^"\\]+)"|(?P<number>-?[0-9]+)){_J}[,}}]'
)
_HEAD_TEXT = re.compile(_HEAD)
_HEAD_BYTES = re.compile(_HEAD.encode())


def peek(line: str | bytes) -> tuple[str | None, datetime | None]:
    """The ticket id and instant of a line without checking the rest: what a reader's index pass needs.

    Lines that start `{"at": ..., "kind": ..., "actor": {...}, "ticket": {"id": ...` (the order `export`
    and `synth` write) are read by one anchored pattern, every token matched whole, so the `ticket` found
    is the top-level one; any other line is decoded. (None, None) when there is no readable ticket id.
    (A line repeating the `ticket` key could mislead the pattern; the full parse catches that.)"""
    try:
        match = (_HEAD_BYTES if isinstance(line, bytes) else _HEAD_TEXT).match(line)  # type: ignore[arg-type]
        if match is not None:
            text, number, at = (
                part.decode() if isinstance(part, bytes) else part for part in match.group("text", "number", "at")
            )
            return (text if number is None else str(int(number))), shape.parse_instant(at)
        data = _DECODER.decode(line.decode("utf-8") if isinstance(line, bytes) else line)
        key = shape.ident(data["ticket"]["id"], "$.ticket.id")
    except (ValueError, RecursionError, LookupError, TypeError, Bad):  # UnicodeDecodeError is a ValueError
        return None, None
    at = data.get("at")
    return key, shape.parse_instant(at) if type(at) is str else None


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON value")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)
"""One decoder for every line (`json.loads` with options builds one per call); NaN and Infinity are
Python's extensions, not JSON, so they are refused."""


@lru_cache(maxsize=4096)
def _person_model(requester: HistoryPerson) -> Person:
    """The engine's `Person` (immutable, so one per requester: its lines repeat it)."""
    person: dict[str, Any] = {
        "id": requester.id,
        "name": requester.name,
        "email": requester.email,
        "locale": requester.locale,
        "tags": requester.tags,
    }
    if "time_zone" in _PERSON_FIELDS:  # carried as soon as the engine's Person can hold it
        person["time_zone"] = requester.time_zone
    return Person(**person)


_ORGANIZATION_MODELS: dict[int, tuple[HistoryOrganization, Organization]] = {}


def _organization_model(org: HistoryOrganization) -> Organization:
    """The engine's `Organization`, one per organization record (records are shared: `_organization`), kept by
    identity as the record's fields are a mapping; the entry holds the record, so its id is not reused."""
    known = _ORGANIZATION_MODELS.get(id(org))
    if known is not None and known[0] is org:
        return known[1]
    model = Organization(id=org.id, name=org.name, tags=org.tags, fields=dict(org.fields))
    if len(_ORGANIZATION_MODELS) >= 4096:
        _ORGANIZATION_MODELS.clear()
    _ORGANIZATION_MODELS[id(org)] = (org, model)
    return model


_PEOPLE = shape.Memo()
_ORGANIZATIONS = shape.Memo()


def _person(value: Any, path: str) -> HistoryPerson:
    known: HistoryPerson | None = _PEOPLE.get(value)
    if known is not None:
        return known
    data = shape.obj(value, path, shape.PERSON_KEYS)
    get = data.get
    person = HistoryPerson(
        shape.ident(data["id"], path + ".id"),
        shape.string(get("name", ""), path + ".name"),
        shape.optional_string(get("email"), path + ".email"),
        shape.optional_string(get("locale"), path + ".locale"),
        shape.optional_string(get("time_zone"), path + ".time_zone"),
        shape.tags(get("tags", []), path + ".tags"),
    )
    _PEOPLE.put(data, person)
    return person


def _organization(value: Any, path: str) -> HistoryOrganization | None:
    if value is None:
        return None
    known: HistoryOrganization | None = _ORGANIZATIONS.get(value)
    if known is not None:
        return known
    data = shape.obj(value, path, shape.ORG_KEYS)
    organization = HistoryOrganization(
        shape.ident(data["id"], path + ".id"),
        shape.string(data["name"], path + ".name"),
        shape.tags(data.get("tags", []), path + ".tags"),
        shape.free(data.get("fields", _EMPTY), path + ".fields"),
    )
    _ORGANIZATIONS.put(data, organization)
    return organization


def _ticket(value: Any) -> HistoryTicket:
    data = shape.obj(value, "$.ticket", shape.TICKET_KEYS)
    get = data.get
    ident, status, priority, group = data["id"], data["status"], get("priority"), get("group")
    assignee, subject, description = get("assignee"), get("subject", ""), get("description", "")
    channel, kind, tags = get("channel"), get("type"), get("tags", [])
    # The fast path: the common fields already in their canonical form (string ids, known enums). Anything
    # else (an error, or a valid but rarer form such as an integer id) takes the detailed checks.
    if not (
        type(ident) is str
        and ident
        and status in shape.STATUSES
        and priority in shape.PRIORITIES
        and (group is None or (type(group) is str and group))
        and (assignee is None or (type(assignee) is str and assignee))
        and type(subject) is str
        and type(description) is str
        and (channel is None or type(channel) is str)
        and (kind is None or type(kind) is str)
        and type(tags) is list
        and all(type(tag) is str for tag in tags)
    ):
        ident = shape.ident(ident, "$.ticket.id")
        status = shape.enum(status, "$.ticket.status", shape.STATUSES)
        priority = shape.enum(priority, "$.ticket.priority", shape.PRIORITIES)
        group = shape.group(group, "$.ticket.group")
        assignee = shape.optional_ident(assignee, "$.ticket.assignee")
        subject = shape.string(subject, "$.ticket.subject")
        description = shape.string(description, "$.ticket.description")
        channel = shape.optional_string(channel, "$.ticket.channel")
        kind = shape.optional_string(kind, "$.ticket.type")
        tags = shape.tags(tags, "$.ticket.tags")
    updated = get("updated_at")
    return HistoryTicket(
        ident,
        status,
        shape.instant(data["created_at"], "$.ticket.created_at", repeated=True),
        _person(data["requester"], "$.ticket.requester"),
        subject,
        description,
        priority,
        group,
        shape.optional_ident(get("group_id"), "$.ticket.group_id"),
        assignee,
        _organization(get("organization"), "$.ticket.organization"),
        tuple(tags),
        channel,
        kind,
        shape.optional_ident(get("problem_id"), "$.ticket.problem_id"),
        shape.free(get("custom_fields", _EMPTY), "$.ticket.custom_fields"),
        None if updated is None else shape.instant(updated, "$.ticket.updated_at"),
    )


def _comment(value: Any) -> HistoryComment:
    data = shape.obj(value, "$.comment", shape.COMMENT_KEYS)
    public = data["public"]
    if type(public) is not bool:
        shape.fail("$.comment.public", "a boolean", public)
    return HistoryComment(
        shape.string(data["body"], "$.comment.body"),
        public,
        shape.optional_ident(data.get("author_id"), "$.comment.author_id"),
        shape.optional_ident(data.get("id"), "$.comment.id"),
    )


def _changes(value: Any) -> dict[str, tuple[Any, Any]]:
    data = shape.mapping(value, "$.changes")
    changes: dict[str, tuple[Any, Any]] = {}
    for key, pair in data.items():
        if type(pair) is list and len(pair) == 2 and key:
            changes[key] = (pair[0], pair[1])
        elif not key:
            raise Bad("$.changes", "a changed field needs a name")
        elif type(pair) is list:
            raise Bad(json_path("changes", key), f"expected [before, after], got {len(pair)} item(s)")
        else:
            shape.fail(json_path("changes", key), "[before, after]", pair)
    return changes


def _actor(value: Any) -> Actor:
    data = shape.obj(value, "$.actor", shape.ACTOR_KEYS)
    ident, role, name = data.get("id"), data["role"], data.get("name")
    if (
        (ident is None or (type(ident) is str and ident))
        and role in shape.ROLES
        and (name is None or type(name) is str)
    ):
        return Actor(ident, role, name)  # the common case, already canonical
    return Actor(
        shape.optional_ident(ident, "$.actor.id"),
        shape.enum(role, "$.actor.role", shape.ROLES),
        shape.optional_string(name, "$.actor.name"),
    )


def _record(data: Any, line_number: int) -> HistoryRecord:
    line = shape.obj(data, "$", shape.LINE_KEYS)
    kind = line["kind"]
    if kind not in shape.KINDS:
        shape.enum(kind, "$.kind", shape.KINDS)
    actor = _actor(line["actor"])
    get = line.get
    comment, changes = get("comment", _ABSENT), get("changes", _ABSENT)
    if comment is _ABSENT and kind == "comment.added":
        raise Bad("$", "'comment' is required on a comment.added line")
    return HistoryRecord(
        line_number,
        shape.instant(line["at"], "$.at"),
        kind,
        actor,
        _ticket(line["ticket"]),
        None if comment is _ABSENT else _comment(comment),
        _EMPTY if changes is _ABSENT else _changes(changes),
    )
