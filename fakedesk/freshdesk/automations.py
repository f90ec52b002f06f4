"""The admin's automation rules: stored through `/api/v2/automations/{type}/rules`, played on every save.

Freshdesk has no webhook API: events leave through an automation rule's "Trigger Webhook" action. When the
account holds rules with such actions for an automation type (1 ticket creation, 4 ticket updates), they
decide where each save's webhooks go: url, method, headers, authentication, and the body with its
placeholders rendered as Freshdesk renders them (strings, display names). Without stored rules the fake plays
the one rule it was configured with (`webhook_url`, `body_template`, `webhook_auth`).

As in Freshdesk, an update rule fires once per save, naming the first of its events the save matched, and
only the first matching creation rule runs (Freshdesk's default for ticket creation). The fake keeps rules'
`conditions` as given but does not evaluate them, and stores time triggers (type 3) without running them:
Freshdesk runs those hourly and Escalator keeps its own clock.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, request

from escalator.fakedesk.base import Outgoing, iso, parse_time
from escalator.fakedesk.freshdesk.account import (
    BUILT_IN_STATUSES,
    OWN_AGENT_ID,
    PRIORITY_NAMES,
    UPDATE_RULE_EVENTS,
    Problem,
    error,
    page_of,
)

if TYPE_CHECKING:
    from escalator.fakedesk.freshdesk.desk import FakeFreshdesk

CREATION, TIME_TRIGGERS, UPDATES = 1, 3, 4
TYPES = {CREATION: "ticket creation", TIME_TRIGGERS: "time triggers", UPDATES: "ticket updates"}
"""Automation types by the id in the URL."""
REQUEST_TYPES = ("GET", "POST", "PUT", "PATCH", "DELETE")
CONTENT_TYPES = {
    "JSON": "application/json",
    "XML": "application/xml",
    "X-FORM-URLENCODED": "application/x-www-form-urlencoded",
}
"""A webhook action's `content_type` and the Content-Type header it sends."""
ENCODERS: dict[str, Callable[[Any], str]] = {
    "JSON": json.dumps,
    "XML": str,
    "X-FORM-URLENCODED": lambda payload: urlencode(payload) if isinstance(payload, dict) else str(payload),
}
ANY = (None, "", "--")
"""How a rule event says "any value" in `from`, `to` or `value`."""
WRITABLE = {"name", "position", "active", "performer", "events", "conditions", "operator", "actions", "description"}
READ_ONLY = {"id", "outdated", "last_updated_by", "summary", "created_at", "updated_at", "affected_tickets_count"}
UNEXPECTED = "Unexpected/invalid field in request"


@dataclass(frozen=True)
class Happening:
    """Something a save did, as a rule's events name it (`status`, `note_type`, `reply_sent`, ...), with how
    `{{triggered_event}}` renders it and the values a rule event's `from`/`to`/`value` compare with."""

    name: str
    rendered: str
    before: Any = None
    after: Any = None


def status_name(fake: FakeFreshdesk, status: int) -> str:
    return BUILT_IN_STATUSES.get(status) or fake.custom_statuses.get(status) or str(status)


def rendered_time(moment: datetime) -> str:
    """How `{{ticket.modified_on}}` renders (a Ruby time's `to_s`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def context(fake: FakeFreshdesk, ticket: Mapping[str, Any], triggered_event: str, performer: int) -> dict[str, str]:
    """The placeholders a rule body can use, rendered as Freshdesk renders them."""
    latest_public = next(
        (c["body"] for c in reversed(fake.conversations.get(ticket["id"], [])) if not c["private"]), ""
    )
    requester = fake.person(ticket["requester_id"])
    agent = fake.agents.get(ticket.get("responder_id") or 0, {}).get("contact", {})
    doer = fake.person(performer)
    return {
        "ticket.id": str(ticket["id"]),
        "ticket.subject": ticket["subject"],
        "ticket.description": ticket["description"],
        "ticket.status": status_name(fake, ticket["status"]),
        "ticket.priority": PRIORITY_NAMES[ticket["priority"]],
        "ticket.tags": ", ".join(ticket["tags"]),
        "ticket.modified_on": rendered_time(parse_time(ticket["updated_at"])),
        "ticket.latest_public_comment": latest_public,
        "ticket.requester.name": requester.get("name", ""),
        "ticket.requester.email": requester.get("email", ""),
        "ticket.group.name": fake.groups.get(ticket.get("group_id") or 0, ""),
        "ticket.agent.name": agent.get("name", ""),
        "ticket.agent.email": agent.get("email", ""),
        "event_performer.id": str(performer),
        "event_performer.name": doer.get("name", ""),
        "event_performer.email": doer.get("email", ""),
        "triggered_event": triggered_event,
    }


def fill(value: Any, values: Mapping[str, str]) -> Any:
    """`value` with every `{{placeholder}}` in its strings rendered; unknown placeholders render empty, as in
    Freshdesk."""
    if isinstance(value, str):
        return re.sub(r"\{\{\s*([\w.]+)\s*\}\}", lambda match: values.get(match[1], ""), value)
    if isinstance(value, dict):
        return {key: fill(item, values) for key, item in value.items()}
    return value


# --- playing the rules --------------------------------------------------------------------------------------


def webhook_actions(rule: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [action for action in rule.get("actions", []) if action.get("field_name") == "trigger_webhook"]


def deliveries(
    fake: FakeFreshdesk, ticket: Mapping[str, Any], happenings: list[Happening], performer: int, kind: int
) -> list[Outgoing]:
    """The webhooks the rules of automation type `kind` send for a save that did `happenings`."""
    rules = sorted(fake.automations[kind].values(), key=lambda rule: (rule["position"], rule["id"]))
    rules = [rule for rule in rules if webhook_actions(rule)]
    if not rules:
        return [Outgoing(fake.render(ticket, happenings[0].rendered, performer))] if fake.webhook_url else []
    sent: list[Outgoing] = []
    for rule in rules:
        triggered = _triggered(fake, rule, ticket, happenings, performer, kind)
        if triggered is None:
            continue
        values = context(fake, ticket, triggered, performer)
        sent += [_request(action, values) for action in webhook_actions(rule)]
        if kind == CREATION:
            break
    return sent


def _triggered(
    fake: FakeFreshdesk,
    rule: Mapping[str, Any],
    ticket: Mapping[str, Any],
    happenings: list[Happening],
    performer: int,
    kind: int,
) -> str | None:
    """How `{{triggered_event}}` renders for `rule`, or None when the rule does not fire."""
    if not rule.get("active"):
        return None
    if kind != UPDATES:
        return happenings[0].rendered
    if not _performed_by(fake, rule.get("performer") or {}, performer, ticket):
        return None
    matched = [happening for happening in happenings if any(_matches(e, happening) for e in rule["events"])]
    return matched[0].rendered if matched else None


def _performed_by(fake: FakeFreshdesk, rule: Mapping[str, Any], performer: int, ticket: Mapping[str, Any]) -> bool:
    """The rule's performer: 1 an agent (one of `members` when listed), 2 the requester, 3 either, 4 the
    system (the fake never acts as the system)."""
    members = rule.get("members") or []
    agent = performer in fake.agents and (not members or performer in members)
    requester = performer == ticket["requester_id"]
    performed: dict[Any, bool] = {1: agent, 2: requester, 3: agent or requester, 4: False}
    return performed.get(rule.get("type"), False)


def _matches(event: Mapping[str, Any], happening: Happening) -> bool:
    if event.get("field_name") != happening.name:
        return False
    if happening.name in UPDATE_RULE_EVENTS:
        return _accepts(event.get("from"), happening.before) and _accepts(event.get("to"), happening.after)
    return _accepts(event.get("value"), happening.after)


def _accepts(expected: Any, actual: Any) -> bool:
    return expected in ANY or str(expected) == str(actual)


def _request(action: Mapping[str, Any], values: Mapping[str, str]) -> Outgoing:
    """A "Trigger Webhook" action's request: the advanced layout ("2") renders `content`; the simple layout
    ("1") sends the listed placeholders as `{"freshdesk_webhook": {"ticket_id": ...}}`."""
    content = action.get("content")
    if str(action.get("content_layout", "2")) == "1":
        payload: Any = {"freshdesk_webhook": {name.replace(".", "_"): values.get(name, "") for name in content or []}}
    else:
        payload = fill(content, values)
    headers = {"Content-Type": CONTENT_TYPES[action["content_type"]], **(action.get("custom_headers") or {})}
    auth = action.get("auth_header") or {}
    if auth:
        user, password = auth.get("username", auth.get("api_key")), auth.get("password", "X")
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    body = ENCODERS[action["content_type"]](payload).encode()
    return Outgoing(payload, url=action["url"], headers=headers, method=action["request_type"], body=body)


# --- validating rules ---------------------------------------------------------------------------------------


def rule_problems(rule: Mapping[str, Any], kind: int) -> list[Problem]:
    """What Freshdesk refuses in a rule, as (field, message, code); empty when the rule is fine."""
    problems = [(name, UNEXPECTED, "invalid_field") for name in rule if name not in WRITABLE | READ_ONLY]
    if not isinstance(rule.get("name"), str) or not rule["name"].strip():
        problems.append(("name", "It should be a/an String", "missing_field"))
    if not isinstance(rule.get("active"), bool):
        problems.append(
            ("active", "It should be a/an Boolean", "datatype_mismatch" if "active" in rule else "missing_field")
        )
    for name, check in UPDATE_RULE_PARTS.items():
        if kind == UPDATES:
            problems += check(rule)
        elif name in rule:
            problems.append((name, UNEXPECTED, "invalid_field"))
    return problems + _condition_problems(rule) + _action_problems(rule)


def _performer_problems(rule: Mapping[str, Any]) -> list[Problem]:
    performer = rule.get("performer")
    if not isinstance(performer, dict) or performer.get("type") not in (1, 2, 3, 4):
        return [("performer", "It should be an object with a type of 1, 2, 3 or 4", "missing_field")]
    if not isinstance(performer.get("members", []), list):
        return [("performer.members", "It should be an Array of agent ids", "datatype_mismatch")]
    return []


def _event_problems(rule: Mapping[str, Any]) -> list[Problem]:
    events = rule.get("events")
    if not isinstance(events, list) or not events:
        return [("events", "It should be a non-empty Array", "missing_field")]
    return [
        (f"events[{index}].field_name", "It should be a/an String", "missing_field")
        for index, event in enumerate(events)
        if not isinstance(event, dict) or not isinstance(event.get("field_name"), str)
    ]


UPDATE_RULE_PARTS: dict[str, Callable[[Mapping[str, Any]], list[Problem]]] = {
    "performer": _performer_problems,
    "events": _event_problems,
}
"""What only an update rule has (who performed the save, which events it watches), and how each is checked."""


def _condition_problems(rule: Mapping[str, Any]) -> list[Problem]:
    conditions = rule.get("conditions", [])
    if not isinstance(conditions, list):
        return [("conditions", "It should be an Array", "datatype_mismatch")]
    problems = []
    for index, condition in enumerate(conditions):
        properties = condition.get("properties") if isinstance(condition, dict) else None
        if not isinstance(properties, list) or condition.get("match_type", "all") not in ("all", "any"):
            problems.append(
                (f"conditions[{index}]", "It should have match_type all or any and properties", "invalid_value")
            )
            continue
        problems += [
            (
                f"conditions[{index}].properties[{number}]",
                "It should have a field_name and an operator",
                "missing_field",
            )
            for number, item in enumerate(properties)
            if not isinstance(item, dict) or not item.get("field_name") or not item.get("operator")
        ]
    return problems


def _action_problems(rule: Mapping[str, Any]) -> list[Problem]:
    actions = rule.get("actions")
    if not isinstance(actions, list) or not actions:
        return [("actions", "It should be a non-empty Array", "missing_field")]
    problems: list[Problem] = []
    for index, action in enumerate(actions):
        if not isinstance(action, dict) or not isinstance(action.get("field_name"), str):
            problems.append((f"actions[{index}].field_name", "It should be a/an String", "missing_field"))
        elif action["field_name"] == "trigger_webhook":
            problems += [
                (f"actions[{index}].{name}", message, code) for name, message, code in _webhook_problems(action)
            ]
    return problems


def _webhook_problems(action: Mapping[str, Any]) -> list[Problem]:
    url, layout, content = action.get("url"), str(action.get("content_layout", "2")), action.get("content")
    checks = [
        ("url", isinstance(url, str) and url.startswith(("http://", "https://")), "It should be a valid URL"),
        (
            "request_type",
            action.get("request_type") in REQUEST_TYPES,
            f"It should be one of {', '.join(REQUEST_TYPES)}",
        ),
        (
            "content_type",
            action.get("content_type") in CONTENT_TYPES,
            f"It should be one of {', '.join(CONTENT_TYPES)}",
        ),
        ("content_layout", layout in ("1", "2"), "It should be '1' (simple) or '2' (advanced)"),
        ("content", _content_fits(layout, action.get("content_type"), content), "It does not fit the layout"),
        ("auth_header", _auth_fits(action.get("auth_header")), "It should hold username and password, or api_key"),
        ("custom_headers", _headers_fit(action.get("custom_headers")), "It should be an object of strings"),
    ]
    return [(name, message, "invalid_value") for name, fits, message in checks if not fits]


def _content_fits(layout: str, content_type: Any, content: Any) -> bool:
    if layout == "1":
        return isinstance(content, list) and all(isinstance(item, str) for item in content)
    return isinstance(content, dict) if content_type == "JSON" else isinstance(content, (str, dict))


def _auth_fits(auth: Any) -> bool:
    if auth is None:
        return True
    return isinstance(auth, dict) and ({"username", "password"} <= set(auth) or "api_key" in auth)


def _headers_fit(headers: Any) -> bool:
    return headers is None or (isinstance(headers, dict) and all(isinstance(v, str) for v in headers.values()))


# --- the rules API ------------------------------------------------------------------------------------------


def _stored(fake: FakeFreshdesk, kind: int, rule: Mapping[str, Any], rule_id: int, created_at: str) -> dict[str, Any]:
    writable = {key: value for key, value in rule.items() if key in WRITABLE}
    position = writable.get("position") or 1 + max((r["position"] for r in fake.automations[kind].values()), default=0)
    return {
        "conditions": [],
        **writable,
        "id": rule_id,
        "position": position,
        "outdated": False,
        "last_updated_by": OWN_AGENT_ID,
        "summary": {},
        "created_at": created_at,
        "updated_at": iso(datetime.now(UTC)),
    }


def add_routes(app: Flask, fake: FakeFreshdesk) -> None:
    @app.get("/api/v2/automations/<int:kind>/rules")
    def list_rules(kind: int) -> Response | tuple[str, int]:
        if kind not in TYPES:
            return "", 404
        return page_of(sorted(fake.automations[kind].values(), key=lambda rule: (rule["position"], rule["id"])))

    @app.post("/api/v2/automations/<int:kind>/rules")
    def create_rule(kind: int) -> Response | tuple[str, int]:
        return _save(fake, kind, None)

    @app.get("/api/v2/automations/<int:kind>/rules/<int:rule_id>")
    def show_rule(kind: int, rule_id: int) -> Response | tuple[str, int]:
        rule = fake.automations.get(kind, {}).get(rule_id)
        return jsonify(rule) if rule else ("", 404)

    @app.put("/api/v2/automations/<int:kind>/rules/<int:rule_id>")
    def update_rule(kind: int, rule_id: int) -> Response | tuple[str, int]:
        return _save(fake, kind, rule_id)

    @app.delete("/api/v2/automations/<int:kind>/rules/<int:rule_id>")
    def delete_rule(kind: int, rule_id: int) -> tuple[str, int]:
        found = fake.automations.get(kind, {}).pop(rule_id, None)
        return ("", 204) if found else ("", 404)


def _save(fake: FakeFreshdesk, kind: int, rule_id: int | None) -> Response | tuple[str, int]:
    """Create (`rule_id` None, 201) or update (200, the body merged over the rule) a rule, or answer 400 with
    Freshdesk's validation errors."""
    if kind not in TYPES or (rule_id is not None and rule_id not in fake.automations[kind]):
        return "", 404
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not body:
        return error(400, ("", "Request body is empty or not JSON", "invalid_json"))
    existing = fake.automations[kind].get(rule_id or 0, {})
    merged = {**{key: value for key, value in existing.items() if key in WRITABLE}, **body}
    problems = rule_problems(merged, kind)
    if problems:
        return error(400, *problems)
    with fake._lock:
        new_id = rule_id or next(fake._rule_ids)
        stored = _stored(fake, kind, merged, new_id, existing.get("created_at") or iso(datetime.now(UTC)))
        fake.automations[kind][new_id] = stored
    response = jsonify(stored)
    response.status_code = 200 if rule_id else 201
    return response
