"""A loaded, checked rules file: the objects the engine evaluates (built only by rules.loader)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from escalator.rules.calendar import ALWAYS_OPEN, BusinessCalendar
from escalator.rules.conditions import Predicate
from escalator.rules.model import PRIORITIES
from escalator.rules.templates import MessageTemplate

DEFAULT_PAUSE_ON: frozenset[str] = frozenset({"pending", "on_hold"})
SLA_METRICS: tuple[str, ...] = ("first_response", "next_response", "resolution")


@dataclass(frozen=True)
class Unit:
    """A tier (on the escalation ladder) or a specialist team, owning one help desk group."""

    id: str
    name: str
    group: str | int
    kind: str  # "tier" or "team"


@dataclass(frozen=True)
class SlaTarget:
    tiers: frozenset[str] | None  # None: any tier
    priorities: frozenset[str] | None  # None: any priority
    segment: str | None
    targets: Mapping[str, float]  # metric -> seconds
    calendar: BusinessCalendar
    warn_at: tuple[float, ...]
    pause_on: frozenset[str]
    path: str

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
class Segment:
    id: str
    condition: Predicate


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
    fields_read: frozenset[str] = frozenset()
    """Every field a segment or trigger condition reads: tells a connector what a ticket snapshot must hold."""

    def unit(self, unit_id: str | None) -> Unit | None:
        return next((unit for unit in (*self.tiers, *self.teams) if unit.id == unit_id), None)

    def next_tier(self, tier_id: str | None) -> Unit | None:
        ids = [tier.id for tier in self.tiers]
        if tier_id not in ids:
            return self.tiers[0] if tier_id is None else None
        position = ids.index(tier_id)
        return self.tiers[position + 1] if position + 1 < len(self.tiers) else None

    def unit_for_group(self, group_name: str | None, group_id: str | None) -> Unit | None:
        """The tier or team whose group the ticket sits in (groups may be named or given by id)."""
        for unit in (*self.tiers, *self.teams):
            wanted = str(unit.group)
            if wanted in (group_id, group_name) or (group_name and wanted.casefold() == group_name.casefold()):
                return unit
        return None

    def sla_for(self, tier: str | None, priority: str | None, segments: tuple[str, ...]) -> SlaTarget | None:
        """The most specific SLA whose tier, priority and segment all match (file order breaks ties)."""
        effective_priority = priority or "normal"
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
