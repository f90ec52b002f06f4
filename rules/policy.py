"""A loaded, checked rules file: the objects the engine evaluates (built only by rules.loader)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from escalator.rules.calendar import ALWAYS_OPEN, BusinessCalendar
from escalator.rules.conditions import Predicate
from escalator.rules.facts import reads_ticket_only
from escalator.rules.model import PRIORITIES
from escalator.rules.templates import MessageTemplate

DEFAULT_PAUSE_ON: frozenset[str] = frozenset({"pending", "on_hold"})
SLA_METRICS: tuple[str, ...] = ("first_response", "next_response", "resolution")


@dataclass(frozen=True)
class Unit:
    """A tier (on the escalation ladder), a specialist team, or a lead group, owning one help desk group."""

    id: str
    name: str
    group: str | int
    kind: str  # "tier", "team" or "lead"
    lead: str | int | None = None
    """The group of the people who own this unit's tickets when handoffs fail (bounces, breaches at the top)."""


@dataclass(frozen=True)
class PauseRules:
    """When a pause status may stop the clocks (rules.pausing): the policy's `pausing` section, with the
    applicable SLA row's overrides."""

    pause_on: frozenset[str] = DEFAULT_PAUSE_ON
    max_pause: float | None = None
    """Wall seconds a ticket's clocks may stand still in all (None: no cap)."""
    needs_reply_within: float | None = None
    """A pause counts only after a person's public reply within this many seconds before it (None: always)."""
    suspicious_pauses: int | None = None
    """Entering a pause status this many times raises `sla.pause_suspicious` (None: never)."""


@dataclass(frozen=True)
class SlaTarget:
    tiers: frozenset[str] | None
    """The tiers and teams the row applies to (`tier` or `team` in the file; ids are unique across both); None:
    any (`"*"`)."""
    priorities: frozenset[str] | None  # None: any priority
    segment: str | None
    targets: Mapping[str, float]  # metric -> seconds
    calendar: BusinessCalendar
    warn_at: tuple[float, ...]
    pause_on: frozenset[str]
    path: str
    max_pause: float | None = None
    """Overrides `pausing.max_pause` for this row (seconds; None: the policy's)."""
    needs_reply_within: float | None = None
    """Overrides `pausing.pause_needs_reply_within` for this row (seconds; None: the policy's)."""

    def specificity(self) -> tuple[int, int, int]:
        """Segment beats tier beats priority; a single value beats a list beats `*`."""

        def rank(values: frozenset[str] | None) -> int:
            return 0 if values is None else (2 if len(values) == 1 else 1)

        return (1 if self.segment else 0, rank(self.tiers), rank(self.priorities))


@dataclass(frozen=True)
class Action:
    kind: str
    to: str | None = None
    value: str | None = None
    template: str | None = None
    tags: tuple[str, ...] = ()
    to_field: str | None = None
    """`"to": {"field": "organization.fields.account_manager"}`: the agent is read from the ticket when the
    action runs (a field reference); an empty field skips the action, with a reason."""


@dataclass(frozen=True)
class Trigger:
    id: str
    on: frozenset[str]
    after: float | None
    since: str | None
    condition: Predicate
    actions: tuple[Action, ...]
    calendar: BusinessCalendar = ALWAYS_OPEN


@dataclass(frozen=True)
class IncidentRule:
    """A spike detector (DESIGN §5, `incidents`): `threshold` tickets matching `trigger` within `within`
    seconds open an incident; one problem ticket goes to `escalate_to`, the matching tickets are linked to it
    and told in bulk (`notice`), and solving the problem sends each its `resolution`."""

    id: str
    trigger: str
    threshold: int
    within: float
    escalate_to: str
    priority: str
    subject: str
    """Template names: the problem ticket's subject and its internal handoff note, the affected customers'
    notice and resolution message."""
    handoff: str
    notice: str
    resolution: str
    description: str = ""


@dataclass(frozen=True)
class Segment:
    id: str
    condition: Predicate
    reads: frozenset[str] | None = None
    """The fields its condition reads (None: not known)."""


@dataclass(frozen=True)
class Policy:
    tiers: tuple[Unit, ...]
    teams: tuple[Unit, ...] = ()
    segments: tuple[Segment, ...] = ()
    slas: tuple[SlaTarget, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    templates: Mapping[str, MessageTemplate] = field(default_factory=dict)
    calendars: Mapping[str, BusinessCalendar] = field(default_factory=dict)
    max_bounces: int = 1
    max_reassignments: int | None = None
    """Moves by rules are held back once the ticket changed group this often (None: no cap)."""
    pausing: PauseRules = field(default_factory=PauseRules)
    incidents: tuple[IncidentRule, ...] = ()
    leads: tuple[Unit, ...] = ()
    """The lead groups the tiers and teams name, as units (kind "lead")."""
    fields_read: frozenset[str] = frozenset()
    """Every field a segment or trigger condition reads: tells a connector what a ticket snapshot must hold."""
    volatile_triggers: frozenset[str] = frozenset()
    """Triggers whose condition can turn true with no event on the ticket (rules.schedule arms their timers
    whatever the condition says now)."""

    @cached_property
    def _units(self) -> dict[str | None, Unit]:
        """Id -> unit, the first of an id in file order (what a search in order would find)."""
        units: dict[str | None, Unit] = {}
        for unit in (*self.tiers, *self.teams, *self.leads):
            units.setdefault(unit.id, unit)
        return units

    @cached_property
    def _sla_memo(self) -> dict[tuple[str | None, str, tuple[str, ...]], SlaTarget | None]:
        """`sla_for`'s answers: asked several times per decision, for a handful of tier/priority/segments."""
        return {}

    @cached_property
    def _listeners(self) -> dict[str, tuple[Trigger, ...]]:
        return {}

    def listening(self, kind: str) -> tuple[Trigger, ...]:
        """The triggers whose `on` names `kind`, in file order (each event asks; the answer never changes)."""
        found = self._listeners.get(kind)
        if found is None:
            found = self._listeners[kind] = tuple(trigger for trigger in self.triggers if kind in trigger.on)
        return found

    @cached_property
    def segments_follow_ticket(self) -> bool:
        """Every segment reads the ticket and the history facts only: one ticket's segments are the same for
        every event and state (rules.engine.segments_of keeps them while the ticket object is the same)."""
        return all(segment.reads is not None and reads_ticket_only(segment.reads) for segment in self.segments)

    @cached_property
    def timed_triggers(self) -> tuple[Trigger, ...]:
        """The elapsed-time triggers (`after`), in file order."""
        return tuple(trigger for trigger in self.triggers if trigger.after is not None)

    def unit(self, unit_id: str | None) -> Unit | None:
        try:
            return self._units.get(unit_id)
        except TypeError:
            return None  # an unhashable id names no unit

    def incident_rule(self, rule_id: str) -> IncidentRule | None:
        return next((rule for rule in self.incidents if rule.id == rule_id), None)

    def lead_of(self, unit_id: str | None) -> Unit | None:
        """The lead unit of a tier or team (None when it names no lead, or is itself a lead)."""
        unit = self.unit(unit_id)
        if unit is None or unit.lead is None:
            return None
        return next((lead for lead in self.leads if str(lead.group) == str(unit.lead)), None)

    def rank(self, unit_id: str | None) -> int | None:
        """Position on the tier ladder (0 = first tier); None for a team, a lead or an unknown id."""
        ids = [tier.id for tier in self.tiers]
        return ids.index(unit_id) if unit_id in ids else None

    def next_tier(self, tier_id: str | None) -> Unit | None:
        ids = [tier.id for tier in self.tiers]
        if tier_id not in ids:
            return self.tiers[0] if tier_id is None else None
        position = ids.index(tier_id)
        return self.tiers[position + 1] if position + 1 < len(self.tiers) else None

    @cached_property
    def _by_group(self) -> dict[tuple[str | None, str | None], Unit | None]:
        """`unit_for_group`'s answers: asked at every decision, for the few groups a help desk has."""
        return {}

    def unit_for_group(self, group_name: str | None, group_id: str | None) -> Unit | None:
        """The tier or team whose group the ticket sits in (groups may be named or given by id)."""
        key = (group_name, group_id)
        try:
            return self._by_group[key]
        except KeyError:
            if len(self._by_group) >= 4096:
                self._by_group.clear()  # bounded, whatever group ids events carry
            found = self._by_group[key] = self._search_group(group_name, group_id)
            return found
        except TypeError:  # not text (unhashable): searched afresh
            return self._search_group(group_name, group_id)

    def _search_group(self, group_name: str | None, group_id: str | None) -> Unit | None:
        for unit in (*self.tiers, *self.teams, *self.leads):
            wanted = str(unit.group)
            if wanted in (group_id, group_name) or (group_name and wanted.casefold() == group_name.casefold()):
                return unit
        return None

    def sla_for(self, tier: str | None, priority: str | None, segments: tuple[str, ...]) -> SlaTarget | None:
        """The most specific SLA whose tier, priority and segment all match (file order breaks ties)."""
        effective_priority = priority or "normal"
        try:
            return self._sla_memo[(tier, effective_priority, segments)]
        except KeyError:
            pass
        except TypeError:  # an unhashable value: answer without keeping it
            return self._sla_search(tier, effective_priority, segments)
        found = self._sla_memo[(tier, effective_priority, segments)] = self._sla_search(
            tier, effective_priority, segments
        )
        return found

    def _sla_search(self, tier: str | None, effective_priority: str, segments: tuple[str, ...]) -> SlaTarget | None:
        matches = [
            sla
            for sla in self.slas
            if (sla.tiers is None or tier in sla.tiers)
            and (sla.priorities is None or effective_priority in sla.priorities)
            and (sla.segment is None or sla.segment in segments)
        ]
        return max(matches, key=SlaTarget.specificity, default=None)


def raise_priority(priority: str | None) -> str:
    """`+1`: one step up, `urgent` stays `urgent`; no priority counts as `normal`."""
    current = PRIORITIES.index(priority) if priority in PRIORITIES else PRIORITIES.index("normal")
    return PRIORITIES[min(current + 1, len(PRIORITIES) - 1)]
