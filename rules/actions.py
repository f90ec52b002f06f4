"""What a firing trigger does: each action kind changes the working ticket and the plan.

`Working` is the ticket as the triggers fired so far would leave it, so later triggers see earlier effects.
A move that cannot happen is held back with a reason. A pointless move (already there, the ladder goes no
higher, another trigger already moved the ticket for this event) stops the trigger: what comes after it
(a customer notice) would describe a move that did not happen. A move refused by an ownership cap (the
ticket bounced too often, changed hands too often) holds back the move only: the trigger's other actions
still run (the breach note, the priority bump), and an internal note says what was held back and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from escalator.rules.facts import Facts, resolve_field
from escalator.rules.incidents import NO_INCIDENTS, IncidentView, joins_incident
from escalator.rules.messages import message_context
from escalator.rules.model import Ticket, TicketEvent, format_instant, revised
from escalator.rules.observe import direction_of, move_anchor, settle_in
from escalator.rules.plan import Plan, PlannedAction, PlannedComment
from escalator.rules.policy import Action, Policy, Trigger, Unit, raise_priority
from escalator.rules.state import Escalation, TicketState


@dataclass(frozen=True)
class Step:
    """What every action of one firing trigger shares."""

    trigger: Trigger
    matched: str | None
    """The admin's phrase a `contains_any` condition matched, for reasons, templates and the audit trail."""
    previous: Unit | None
    """Where the ticket sat before this trigger acted (the handoff note's "from")."""
    facts: Facts


class HeldBack(Exception):
    """A move that cannot happen; `cap` when an ownership cap refused it (the trigger goes on)."""

    def __init__(self, reason: str, *, cap: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cap = cap


class Working:
    def __init__(
        self,
        policy: Policy,
        state: TicketState,
        ticket: Ticket,
        event: TicketEvent,
        segments: tuple[str, ...],
        plan: Plan,
        history: dict[str, int] | None = None,
        incidents: IncidentView = NO_INCIDENTS,
    ) -> None:
        self.policy, self.state, self.ticket, self.event = policy, state, ticket, event
        self.segments: tuple[str, ...] = segments
        self.plan = plan
        self.history = history or {}
        self.incidents = incidents
        self._shared: Facts | None = None
        self.routed_by: str | None = None
        self.bounced = False
        """A rule moved the ticket back into a group it had left (raises `ticket.bounced` after the triggers)."""

    def facts(self) -> Facts:
        """The facts for the next trigger's condition. Conditions asked in a row while nothing changes share
        one set, with a memo of their leaves (`tier is L2`, `segments includes enterprise` are asked by rule
        after rule): a new set once the ticket or the event is another, and after a trigger acted (`fire`)."""
        facts = self._shared
        if facts is None or facts.ticket is not self.ticket or facts.event is not self.event:
            facts = self._shared = Facts(
                self.ticket, self.state, self.event, self.segments, history=self.history, memo={}
            )
        else:
            facts.matched = []  # the phrases this condition matches (a memo hit tells them again)
        return facts

    def fire(self, trigger: Trigger, anchor_value: str | None = None) -> None:
        facts = self.facts()
        if not trigger.condition(facts):
            if anchor_value is not None:
                self.state.checked[trigger.id] = anchor_value  # due, but not now: no condition reads `checked`
            return
        # The trigger acts: later conditions must see what it changes, and its own actions read afresh.
        self._shared, facts.memo = None, None
        matched = facts.matched[0] if facts.matched else None
        if anchor_value is not None:
            self.state.fired[trigger.id] = anchor_value
        if joins_incident(self, trigger):
            return
        step = Step(trigger, matched, self.policy.unit(self._came_from()), facts)
        for index, action in enumerate(trigger.actions):
            if not ACTIONS[action.kind](self, step, action, index):
                return

    def _came_from(self) -> str | None:
        """Where the ticket sat before: here, unless this pass reacts to a move someone else just made."""
        here = self.state.team or self.state.tier
        latest = self.state.escalations[-1] if self.state.escalations else None
        if self.event.kind == "ticket.escalated" and latest is not None and latest.target == here:
            return latest.source
        return here

    def record(self, step: Step, action: Action, *, to: str | None = None, value: str | None = None) -> None:
        self.plan.actions.append(PlannedAction(step.trigger.id, action.kind, to, value, action.template))

    # --- escalate --------------------------------------------------------------------------------------------

    def escalate(self, step: Step, action: Action, _index: int) -> bool:
        trigger = step.trigger
        current = self.state.team or self.state.tier
        try:
            target = self._target(action, current)
        except HeldBack as held:
            self.plan.reasons.append(f"{trigger.id}: held back, {held.reason}")
            if not held.cap:
                return False
            self.plan.comments.append(self._held_note(step, held.reason))
            return True
        self._move(step, current, target)
        return True

    def _target(self, action: Action, current: str | None) -> Unit:
        if self.routed_by is not None:
            # One event moves a ticket once: the first matching trigger in file order wins.
            raise HeldBack(f"already routed by {self.routed_by}")
        target = self._resolve(action.to, current)
        if target.id == current:
            raise HeldBack(f"already in {target.id}")
        if self._below_current(target):
            raise HeldBack(f"{current} is above {target.id}")
        bounces, cap = self.state.bounces, self.policy.max_bounces
        if target.kind != "lead" and target.id in self.state.groups and bounces >= cap:
            raise HeldBack(f"{target.id} already had this ticket ({bounces} bounces; the cap is {cap})", cap=True)
        moves, limit = self.state.reassignments, self.policy.max_reassignments
        if target.kind != "lead" and limit is not None and moves >= limit:
            raise HeldBack(f"the ticket changed hands {moves} times (the cap is {limit})", cap=True)
        return target

    def _resolve(self, to: str | None, current: str | None) -> Unit:
        """`next`: the next tier up, or from a team or the top tier its lead; `lead`: the current unit's lead."""
        unit = self.policy.unit(current)
        if to == "lead":
            lead = self.policy.lead_of(current)
            if lead is None:
                if unit is not None and unit.kind == "lead":
                    raise HeldBack(f"already with {unit.name}")
                raise HeldBack(f"{current} names no lead")
            return lead
        if to == "next":
            tier = None if self.state.team else self.policy.next_tier(self.state.tier)
            target = tier or self.policy.lead_of(current)
            if target is None:
                raise HeldBack(f"no tier above {current}")
            return target
        target = self.policy.unit(to)
        if target is None:
            raise HeldBack(f"no tier or team {to}")
        return target

    def _below_current(self, target: Unit) -> bool:
        """Escalation climbs the tier ladder; a keyword seen again on an L3 ticket must not send it down to L2."""
        if target.kind != "tier" or self.state.team is not None:
            return False
        here, there = self.policy.rank(self.state.tier), self.policy.rank(target.id)
        return here is not None and there is not None and there < here

    def _move(self, step: Step, current: str | None, target: Unit) -> None:
        trigger, matched = step.trigger, step.matched
        at = format_instant(self.event.occurred_at)
        routing = self.event.kind == "ticket.created" and not self.state.escalations
        reason = f"matched '{matched}'" if matched else _event_reason(self.event)
        direction = "route" if routing else direction_of(self.policy, current, target)
        self.state.escalations.append(
            Escalation(at, current, target.id, trigger.id, matched, "rule", reason, None, direction)
        )
        self.bounced = self.state.enter_group(target.id) or self.bounced
        settle_in(self.state, target)
        self.state.routed = self.state.routed or routing
        move_anchor(self.state, "escalated", at)  # handed on: routing or escalation, the clocks that follow run
        move_anchor(self.state, "tier_entered", at)
        move_anchor(self.state, "agent_activity", at)  # idle counts from when the new tier got the ticket
        self.plan.unit = target
        self.routed_by = trigger.id
        self.ticket = revised(self.ticket, group_name=str(target.group))
        why = f" (matched '{matched}')" if matched else ""
        self.plan.reasons.append(f"{trigger.id}: escalate {current} -> {target.id}{why}")
        self.plan.actions.append(PlannedAction(trigger.id, "escalate", target.id))

    def _held_note(self, step: Step, reason: str) -> PlannedComment:
        """An internal note: a held-back move is never silent."""
        trail = " -> ".join(self.state.groups) or "-"
        body = (
            f"Escalator held back the move that rule {step.trigger.id} asked for: {reason}. The rule's other "
            f"actions went ahead. The ticket stays where it is; please take ownership. Trail so far: {trail}."
        )
        key = f"{self.event.delivery_id}/{step.trigger.id}/held"
        return PlannedComment(key, body, False, step.trigger.id)

    # --- the other actions -----------------------------------------------------------------------------------

    def set_priority(self, step: Step, action: Action, _index: int) -> bool:
        value = raise_priority(self.ticket.priority) if action.value == "+1" else action.value
        if value == self.ticket.priority:
            return True
        self.plan.priority = value
        self.state.priority = value  # as it will be once written (the echo of our own write changes nothing)
        self.plan.reasons.append(f"{step.trigger.id}: priority {self.ticket.priority or 'not set'} -> {value}")
        self.record(step, action, value=value)
        self.ticket = revised(self.ticket, priority=value)
        return True

    def _agent(self, step: Step, action: Action) -> str | None:
        """The agent an action names: as written, or read from the ticket (a field reference)."""
        if action.to_field is None:
            return action.to
        getter = resolve_field(action.to_field)
        value = getter(step.facts) if getter is not None else None
        if value in (None, "") or isinstance(value, list | tuple | dict):
            self.plan.reasons.append(f"{step.trigger.id}: {action.kind} skipped, {action.to_field} is empty")
            return None
        return str(value)

    def assign(self, step: Step, action: Action, _index: int) -> bool:
        agent = self._agent(step, action)
        if agent is None:
            return True
        self.plan.assignee = agent
        self.ticket = revised(self.ticket, assignee_id=agent)
        self.plan.reasons.append(f"{step.trigger.id}: assign to {agent}")
        self.record(step, action, to=agent)
        return True

    def add_follower(self, step: Step, action: Action, _index: int) -> bool:
        agent = self._agent(step, action)
        if agent is None or agent in self.plan.followers:
            return True
        self.plan.followers.append(agent)
        self.state.owner = self.state.owner or agent
        self.plan.reasons.append(f"{step.trigger.id}: {agent} stays on the ticket as its owner")
        self.record(step, action, to=agent)
        return True

    def tags(self, step: Step, action: Action, _index: int) -> bool:
        tags = list(self.ticket.tags)
        if action.kind == "add_tags":
            self.plan.add_tags += [tag for tag in action.tags if tag not in tags and tag not in self.plan.add_tags]
            tags += [tag for tag in action.tags if tag not in tags]
        else:
            self.plan.remove_tags += [tag for tag in action.tags if tag in tags]
            tags = [tag for tag in tags if tag not in action.tags]
        self.ticket = revised(self.ticket, tags=tuple(tags))
        self.plan.reasons.append(f"{step.trigger.id}: {action.kind.replace('_', ' ')} {', '.join(action.tags)}")
        self.record(step, action, value=",".join(action.tags))
        return True

    def comment(self, step: Step, action: Action, index: int) -> bool:
        trigger = step.trigger
        assert action.template is not None
        template = self.policy.templates[action.template]
        locale = self.ticket.requester.locale
        body = template.render(message_context(self, step, template.names(locale)), locale)
        key = f"{self.event.delivery_id}/{trigger.id}/{index}"
        self.plan.comments.append(PlannedComment(key, body, action.kind == "reply", trigger.id))
        if action.kind == "reply":
            move_anchor(self.state, "public_reply", format_instant(self.event.occurred_at))
        self.plan.reasons.append(f"{trigger.id}: {action.kind} '{action.template}'")
        self.record(step, action)
        return True


def _event_reason(event: TicketEvent) -> str:
    """Why a rule moved the ticket when no phrase matched: the event, in words."""
    detail = event.detail
    if event.kind == "sla.breached":
        return f"{str(detail.get('metric', 'SLA')).replace('_', ' ')} target breached"
    if event.kind == "timer.elapsed":
        return "no activity" if detail.get("trigger") else "time elapsed"
    if event.kind == "ticket.bounced":
        return "the ticket bounced back to a group it had left"
    return event.kind.replace(".", " ")


ActionHandler = Callable[[Working, Step, Action, int], bool]
"""Carry out one action; False stops the trigger's remaining actions (a pointless move)."""

ACTIONS: dict[str, ActionHandler] = {
    "escalate": Working.escalate,
    "set_priority": Working.set_priority,
    "reply": Working.comment,
    "note": Working.comment,
    "assign": Working.assign,
    "add_follower": Working.add_follower,
    "add_tags": Working.tags,
    "remove_tags": Working.tags,
}
"""Every action kind a rules file may use; the schema's action enum is checked against this table by a test."""

__all__ = ["ACTIONS", "HeldBack", "Step", "Working"]
