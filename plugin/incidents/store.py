"""An incident's records in Redis: the detector's count, the incident itself, and its tickets' progress.

Every key is the tenant's (one hash slot), so each step is one round trip or one Lua script, and the
detector's count-and-open is atomic: two workers seeing the threshold-th match at once open one incident.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from escalator.plugin import keys
from escalator.rules.incidents import IncidentView
from escalator.rules.model import format_instant

# KEYS: detector zset, detector's who-hash, open-incidents hash, incidents hash, the new incident's pending hash,
#       the ticket -> incident index
# ARGV: rule, ticket, now, window seconds, threshold, new incident id, its record, the ticket's member JSON
_DETECT = """
local now = tonumber(ARGV[3])
local open = redis.call('HGET', KEYS[3], ARGV[1])
if open then return {'open', open} end
redis.call('ZADD', KEYS[1], 'NX', now, ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[8])
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[4])))
for _, ticket in ipairs(old) do
  redis.call('ZREM', KEYS[1], ticket)
  redis.call('HDEL', KEYS[2], ticket)
end
local count = redis.call('ZCARD', KEYS[1])
if count < tonumber(ARGV[5]) then return {'counting', tostring(count)} end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[6])
redis.call('HSET', KEYS[4], ARGV[6], ARGV[7])
local who = redis.call('HGETALL', KEYS[2])
if #who > 0 then redis.call('HSET', KEYS[5], unpack(who)) end
for i = 1, #who, 2 do redis.call('HSET', KEYS[6], who[i], ARGV[6]) end
redis.call('DEL', KEYS[1], KEYS[2])
return {'opened', ARGV[6]}
"""


@dataclass
class Incident:
    id: str
    rule: str
    opened_at: str
    opened_by: str
    """`detector` or `admin` (opened by hand with `escalator incident open`)."""
    status: str = "open"
    """`open` (tickets join it), `resolving` (its problem was solved: resolutions go out), `closed`."""
    problem_id: str | None = None
    creating_problem: bool = False
    """The problem ticket's creation was sent but its answer never came (a crash): look before creating."""
    closed_at: str | None = None
    note: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    """Tickets per stage, refreshed by each step: `pending`, `notified`, `resolved`."""
    jobs: list[dict[str, Any]] = field(default_factory=list)
    """Bulk sends under way: `{"job": reference or None, "kind": "link" | "resolve", "tickets": [...]}`,
    recorded before the help desk is asked (None: asked, answer not yet recorded), so a crash never sends a
    ticket's message twice."""
    failures: dict[str, int] = field(default_factory=dict)
    """Ticket -> bulk sends it failed (a closed ticket refuses every change): given up after MAX_FAILURES."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Incident:
        data: dict[str, Any] = json.loads(text)
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in known})


def new_id(rule: str, at: datetime) -> str:
    """`<rule>-<UTC instant>`: readable, sortable, and free of `:` (it is part of a timer key)."""
    return f"{rule}-{at.astimezone(UTC).strftime('%Y%m%dT%H%M%S%fZ')}"


class IncidentStore:
    def __init__(self, client: redis.Redis, tenant: str) -> None:
        self.client, self.tenant = client, tenant
        self._detect = client.register_script(_DETECT)

    # --- what a worker reads before deciding a ticket -------------------------------------------------------

    def view(self, ticket_id: str) -> IncidentView:
        """The open incidents, and whether this ticket is one's problem ticket (one round trip)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(keys.open_incidents(self.tenant))
        pipe.hget(keys.incident_problems(self.tenant), ticket_id)
        pipe.hget(keys.incident_tickets(self.tenant), ticket_id)
        opened, problem_of, member_of = pipe.execute()
        return IncidentView(
            open={keys.as_text(rule): keys.as_text(incident) for rule, incident in opened.items()},
            problem_of=keys.as_text(problem_of) if problem_of else None,
            member_of=keys.as_text(member_of) if member_of else None,
        )

    # --- detection and membership ---------------------------------------------------------------------------

    def count_match(
        self, rule: str, ticket_id: str, at: datetime, window: float, threshold: int, member: dict[str, Any]
    ) -> tuple[str, str]:
        """Count a ticket's match; ("opened", id) when it opens the incident, ("open", id) when one is already
        open, ("counting", n) otherwise."""
        incident_id = new_id(rule, at)
        record = Incident(incident_id, rule, format_instant(at), "detector")
        result = self._detect(
            keys=[
                keys.detector(self.tenant, rule),
                keys.detector(self.tenant, f"{rule}:who"),
                keys.open_incidents(self.tenant),
                keys.incidents(self.tenant),
                keys.incident_members(self.tenant, incident_id, "pending"),
                keys.incident_tickets(self.tenant),
            ],
            args=[
                rule,
                ticket_id,
                at.timestamp(),
                window,
                threshold,
                incident_id,
                record.to_json(),
                json.dumps(member),
            ],
        )
        outcome, value = (keys.as_text(item) for item in result)
        return outcome, value

    def open_by_hand(self, rule: str, at: datetime, note: str) -> Incident:
        """An admin's incident: refused (ValueError) while the rule already has one open."""
        incident = Incident(new_id(rule, at), rule, format_instant(at), "admin", note=note)
        if not self.client.hsetnx(keys.open_incidents(self.tenant), rule, incident.id):
            raise ValueError(f"incident rule '{rule}' already has an open incident")
        self.save(incident)
        return incident

    def join(self, incident_id: str, ticket_id: str, member: dict[str, Any]) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(keys.incident_members(self.tenant, incident_id, "pending"), ticket_id, json.dumps(member))
        pipe.hset(keys.incident_tickets(self.tenant), ticket_id, incident_id)
        pipe.execute()

    # --- the incident's own record --------------------------------------------------------------------------

    def get(self, incident_id: str) -> Incident | None:
        raw = self.client.hget(keys.incidents(self.tenant), incident_id)
        return Incident.from_json(raw) if raw else None

    def all(self) -> list[Incident]:
        found = [Incident.from_json(raw) for raw in self.client.hvals(keys.incidents(self.tenant))]
        return sorted(found, key=lambda incident: incident.opened_at)

    def save(self, incident: Incident) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(keys.incidents(self.tenant), incident.id, incident.to_json())
        if incident.problem_id:
            pipe.hset(keys.incident_problems(self.tenant), incident.problem_id, incident.id)
        if incident.status == "closed":
            pipe.hdel(keys.open_incidents(self.tenant), incident.rule)
        pipe.execute()

    def close(self, incident: Incident, at: datetime) -> None:
        """Closed at `at`: new tickets no longer join it (by hand, or once every ticket was told)."""
        incident.status, incident.closed_at = "closed", format_instant(at)
        self.save(incident)

    def resolving(self, incident_id: str) -> Incident | None:
        """The problem was solved: no ticket joins any more, resolutions go out."""
        incident = self.get(incident_id)
        if incident is None or incident.status != "open":
            return incident
        incident.status = "resolving"
        self.client.hdel(keys.open_incidents(self.tenant), incident.rule)
        self.save(incident)
        return incident

    # --- its tickets -----------------------------------------------------------------------------------------

    def pending(self, incident_id: str) -> dict[str, dict[str, Any]]:
        raw = self.client.hgetall(keys.incident_members(self.tenant, incident_id, "pending"))
        return {keys.as_text(ticket): json.loads(member) for ticket, member in raw.items()}

    def notified(self, incident_id: str, done: dict[str, dict[str, Any]]) -> None:
        """Tickets told: out of `pending`, into `notified` (with who they are, for the resolution)."""
        if not done:
            return
        pipe = self.client.pipeline(transaction=True)
        pipe.hdel(keys.incident_members(self.tenant, incident_id, "pending"), *done)
        pipe.hset(
            keys.incident_members(self.tenant, incident_id, "notified"),
            mapping={ticket: json.dumps(member) for ticket, member in done.items()},
        )
        pipe.execute()

    def told(self, incident_id: str) -> dict[str, dict[str, Any]]:
        raw = self.client.hgetall(keys.incident_members(self.tenant, incident_id, "notified"))
        return {keys.as_text(ticket): json.loads(member) for ticket, member in raw.items()}

    def resolved(self, incident_id: str, done: set[str]) -> None:
        if done:
            self.client.sadd(keys.incident_members(self.tenant, incident_id, "resolved"), *done)

    def resolved_ids(self, incident_id: str) -> set[str]:
        return {
            keys.as_text(item)
            for item in self.client.smembers(keys.incident_members(self.tenant, incident_id, "resolved"))
        }

    def counts(self, incident_id: str) -> dict[str, int]:
        pipe = self.client.pipeline(transaction=False)
        pipe.hlen(keys.incident_members(self.tenant, incident_id, "pending"))
        pipe.hlen(keys.incident_members(self.tenant, incident_id, "notified"))
        pipe.scard(keys.incident_members(self.tenant, incident_id, "resolved"))
        pending, notified, resolved = pipe.execute()
        return {"pending": int(pending), "notified": int(notified), "resolved": int(resolved)}
