"""Pure evaluation: (policy, remembered state, the ticket as it is now, one event) -> state and planned changes.

No I/O. The plugin calls `evaluate` once per event, in order, and writes the merged plan back.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

from rules.facts import Facts
from rules.model import Ticket, TicketEvent, format_instant
from rules.plan import Plan, PlannedComment
from rules.policy import Action, Policy, Trigger, Unit, raise_priority
from rules.state import Escalation, TicketState


@dataclass
class Decision:
    state: TicketState
    plan: Plan


def segments_of(policy: Policy, ticket: Ticket, state: TicketState, event: TicketEvent) -> tuple[str, ...]:
    facts = Facts(ticket, state, event)
    return tuple(segment.id for segment in policy.segments if segment.condition(facts))


def evaluate(
    policy: Policy, state: TicketState, ticket: Ticket, event: TicketEvent, *, own_change: bool = False
) -> Decision:
    """Decide what this event means for the ticket. `own_change`: the event echoes Escalator's own write,
    so it is recorded (the group trail) but is neither activity nor a reason to fire a rule."""
    state = copy.deepcopy(state)
    _observe(policy, state, ticket, event, own_change)
    plan = Plan()
    if own_change:
        return Decision(state, plan)
    segments = segments_of(policy, ticket, state, event)
    working = _Working(policy, state, ticket, event, segments, plan)
    for trigger in policy.triggers:
        if _listens(trigger, event, state):
            working.fire(trigger)
    return Decision(state, plan)


def _listens(trigger: Trigger, event: TicketEvent, state: TicketState) -> bool:
    if event.kind != "timer.elapsed":
        return event.kind in trigger.on
    if trigger.after is None or event.detail.get("trigger") != trigger.id:
        return False
    anchor_value = event.detail.get("anchor_value")
    # Fire once per anchor value, and only if the anchor has not moved since the timer was armed.
    return (
        anchor_value is not None
        and state.anchors.get(trigger.since or "updated") == anchor_value
        and state.fired.get(trigger.id) != anchor_value
    )


def _observe(policy: Policy, state: TicketState, ticket: Ticket, event: TicketEvent, own_change: bool) -> None:
    """Bring the remembered state up to date with the ticket as it is now and with what the event says."""
    at = format_instant(event.occurred_at)
    newer = state.last_event_at is None or at >= state.last_event_at
    if newer:
        state.last_event_at = at
    unit = policy.unit_for_group(ticket.group_name, ticket.group_id)
    if event.kind == "ticket.created" or (not state.groups and state.tier is None and state.team is None):
        state.anchors.setdefault("created", format_instant(ticket.created_at or event.occurred_at))
        if unit is None:
            state.tier, state.team = policy.tiers[0].id, None  # new tickets start in the first tier
            state.enter_group(policy.tiers[0].id)
            state.anchors.setdefault("tier_entered", state.anchors["created"])
    if unit is not None:
        state.enter_group(unit.id)
        if (unit.kind, unit.id) != ("tier", state.tier) and (unit.kind, unit.id) != ("team", state.team):
            state.tier, state.team = (unit.id, None) if unit.kind == "tier" else (state.tier, unit.id)
            _move_anchor(state, "tier_entered", at)
    elif ticket.group_id is not None:
        state.enter_group(f"group:{ticket.group_id}")
    if newer:
        if state.status is not None and ticket.status != state.status:
            _move_anchor(state, "status_changed", at)
        state.status, state.priority = ticket.status, ticket.priority
    if own_change or event.source == "timer":
        return
    _move_anchor(state, "updated", at)
    if "assignee" in event.changes:
        _move_anchor(state, "assigned", at)
    comment = event.comment
    if comment is not None:
        if comment.author == "agent":
            state.touches += 1
            _move_anchor(state, "agent_update", at)
            if comment.public:
                _move_anchor(state, "public_reply", at)
        else:
            _move_anchor(state, "requester_update", at)


def _move_anchor(state: TicketState, anchor: str, at: str) -> None:
    # Anchors only move forward, so a late, out-of-order delivery never rewinds a clock.
    if state.anchors.get(anchor, "") < at:
        state.anchors[anchor] = at


def humanize(seconds: float) -> str:
    """`1800` -> `30 minutes`, `5400` -> `1 hour 30 minutes`, for customer-facing timeframes."""
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{round(seconds)} seconds"
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours} hour{'s' * (hours != 1)}"] if hours else []
    if minutes:
        parts.append(f"{minutes} minute{'s' * (minutes != 1)}")
    return " ".join(parts)


class _Working:
    """The ticket as the triggers fired so far would leave it, so later triggers see earlier effects."""

    def __init__(
        self,
        policy: Policy,
        state: TicketState,
        ticket: Ticket,
        event: TicketEvent,
        segments: tuple[str, ...],
        plan: Plan,
    ) -> None:
        self.policy, self.state, self.ticket, self.event = policy, state, ticket, event
        self.segments, self.plan = segments, plan
        self.routed_by: str | None = None

    def fire(self, trigger: Trigger) -> None:
        facts = Facts(self.ticket, self.state, self.event, self.segments)
        if not trigger.condition(facts):
            return
        matched = facts.matched[0] if facts.matched else None
        if self.event.kind == "timer.elapsed":
            self.state.fired[trigger.id] = str(self.event.detail["anchor_value"])
        previous = self.policy.unit(self.state.team or self.state.tier)
        for index, action in enumerate(trigger.actions):
            if action.kind == "escalate" and not self._escalate(trigger, action, matched):
                return  # the messages that announce an escalation make no sense without it
            if action.kind == "set_priority":
                self._set_priority(trigger, action)
            elif action.kind in ("reply", "note"):
                self._comment(trigger, action, index, matched, previous)
            elif action.kind == "assign":
                self.plan.assignee = action.to
                self.ticket = replace(self.ticket, assignee_id=action.to)
                self.plan.reasons.append(f"{trigger.id}: assign to {action.to}")
            elif action.kind in ("add_tags", "remove_tags"):
                self._tags(action)

    def _escalate(self, trigger: Trigger, action: Action, matched: str | None) -> bool:
        current = self.state.team or self.state.tier
        if self.routed_by is not None:
            # One event routes a ticket once: the first matching trigger in file order wins.
            self.plan.reasons.append(f"{trigger.id}: held back, already routed by {self.routed_by}")
            return False
        if action.to == "next":
            target = None if self.state.team else self.policy.next_tier(self.state.tier)
        else:
            target = self.policy.unit(action.to)
        if target is None:
            self.plan.reasons.append(f"{trigger.id}: held back, no tier above {current}")
            return False
        if target.id == current:
            self.plan.reasons.append(f"{trigger.id}: held back, already in {target.id}")
            return False
        if target.id in self.state.groups and self.state.bounces >= self.policy.max_bounces:
            self.plan.reasons.append(
                f"{trigger.id}: held back, {target.id} already had this ticket ({self.state.bounces} bounces)"
            )
            return False
        at = format_instant(self.event.occurred_at)
        self.state.escalations.append(Escalation(at, current, target.id, trigger.id, matched))
        self.state.enter_group(target.id)
        if target.kind == "tier":
            self.state.tier, self.state.team = target.id, None
        else:
            self.state.team = target.id
        self.state.anchors["escalated"] = at
        self.state.anchors["tier_entered"] = at
        self.plan.unit = target
        self.routed_by = trigger.id
        self.ticket = replace(self.ticket, group_name=str(target.group))
        why = f" (matched '{matched}')" if matched else ""
        self.plan.reasons.append(f"{trigger.id}: escalate {current} -> {target.id}{why}")
        return True

    def _set_priority(self, trigger: Trigger, action: Action) -> None:
        value = raise_priority(self.ticket.priority) if action.value == "+1" else action.value
        if value == self.ticket.priority:
            return
        self.plan.priority = value
        self.plan.reasons.append(f"{trigger.id}: priority {self.ticket.priority} -> {value}")
        self.ticket = replace(self.ticket, priority=value)

    def _tags(self, action: Action) -> None:
        tags = list(self.ticket.tags)
        if action.kind == "add_tags":
            self.plan.add_tags += [tag for tag in action.tags if tag not in tags and tag not in self.plan.add_tags]
            tags += [tag for tag in action.tags if tag not in tags]
        else:
            self.plan.remove_tags += [tag for tag in action.tags if tag in tags]
            tags = [tag for tag in tags if tag not in action.tags]
        self.ticket = replace(self.ticket, tags=tuple(tags))

    def _comment(
        self, trigger: Trigger, action: Action, index: int, matched: str | None, previous: Unit | None
    ) -> None:
        assert action.template is not None
        template = self.policy.templates[action.template]
        context = self._message_context(trigger, matched, previous)
        body = template.render(context, self.ticket.requester.locale)
        key = f"{self.event.delivery_id}/{trigger.id}/{index}"
        self.plan.comments.append(PlannedComment(key, body, action.kind == "reply", trigger.id))
        if action.kind == "reply":
            _move_anchor(self.state, "public_reply", format_instant(self.event.occurred_at))
        self.plan.reasons.append(f"{trigger.id}: {action.kind} '{action.template}'")

    def _message_context(self, trigger: Trigger, matched: str | None, previous: Unit | None) -> dict[str, Any]:
        ticket, state = self.ticket, self.state
        unit = self.policy.unit(state.team or state.tier)
        sla = self.policy.sla_for(unit.id if unit else None, ticket.priority, self.segments)
        targets = {metric: humanize(seconds) for metric, seconds in (sla.targets.items() if sla else ())}
        organization = ticket.organization
        last = state.escalations[-1] if state.escalations else None
        detail = self.event.detail
        return {
            "ticket": {
                "id": ticket.id,
                "subject": ticket.subject,
                "description": ticket.description,
                "priority": ticket.priority or "normal",
                "status": ticket.status,
                "tags": list(ticket.tags),
                "channel": ticket.channel,
                "url": "",
            },
            "requester": {
                "name": ticket.requester.name or "there",
                "first_name": ticket.requester.first_name,
                "email": ticket.requester.email or "",
                "locale": ticket.requester.locale or "",
            },
            "organization": {
                "name": organization.name if organization else "",
                "tags": list(organization.tags) if organization else [],
            },
            "tier": _unit_context(unit),
            "previous_tier": _unit_context(previous),
            "rule": {"id": trigger.id},
            "matched": matched or "",
            "comment": {
                "body": self.event.comment.body if self.event.comment else "",
                "public": self.event.comment.public if self.event.comment else False,
            },
            "sla": {metric: targets.get(metric, "") for metric in ("first_response", "next_response", "resolution")},
            "escalation": {
                "count": len(state.escalations),
                "source": last.source if last else "",
                "target": last.target if last else "",
            },
            "alert": {
                "metric": str(detail.get("metric", "")).replace("_", " "),
                "percent": round(float(detail.get("fraction", 1.0)) * 100),
                "due": detail.get("due", ""),
            },
            "segments": list(self.segments),
            "bounces": state.bounces,
            "touches": state.touches,
        }


def _unit_context(unit: Unit | None) -> dict[str, str]:
    return {"id": unit.id, "name": unit.name} if unit else {"id": "", "name": "support"}
