"""Load a rules file: JSON Schema first, then names, references, durations, calendars and templates.

Every problem is collected with its JSON path (`$.triggers[2].if.field`), so an admin fixes a file in one
pass: the schema's complaints and the name/reference checks are reported together, and the checks skip
only the values the schema already refused. Nothing is evaluated here; an invalid file raises PolicyError
and is never used.

A little past the house's ~400 lines on purpose: the builder is one pass in which every section checks its
references against the others (unit ids, calendars, templates, segments), and reads best in one place; the
schema's messages (rules.schema_problems) and the incident section (rules.incident_loader) live apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from escalator.rules.calendar import ALWAYS_OPEN, BusinessCalendar, CalendarError
from escalator.rules.conditions import Predicate, always, compile_condition, fields_used, leaves
from escalator.rules.durations import DurationError, parse_duration
from escalator.rules.errors import PolicyError, RuleProblem, child, suggest
from escalator.rules.facts import HISTORY_FIELDS, known_field_names, resolve_field
from escalator.rules.incident_loader import load_incidents
from escalator.rules.policy import (
    DEFAULT_PAUSE_ON,
    SLA_METRICS,
    Action,
    IncidentRule,
    PauseRules,
    Policy,
    Segment,
    SlaTarget,
    Trigger,
    Unit,
)
from escalator.rules.schema_problems import schema_problems
from escalator.rules.templates import MessageTemplate, compile_template

RESERVED_TARGETS = frozenset({"next", "lead"})
"""`escalate` targets that are not unit ids: the next tier (a team's or the top tier's lead), the lead group."""

_CALENDAR_DETAIL = re.compile(r"^(?P<where>[a-z_]+(?:\.[a-z_]+|\[\d+\])*): (?P<message>.+)$", re.DOTALL)


@cache
def schema() -> dict[str, Any]:
    return json.loads(resources.files("escalator.rules").joinpath("schema.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def load_policy_file(path: str | Path) -> Policy:
    """Read and check a rules file; PolicyError lists every problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise PolicyError([RuleProblem("$", f"cannot read the file: {error.strerror}")]) from None
    except UnicodeDecodeError:
        raise PolicyError([RuleProblem("$", "not valid JSON: the file is not UTF-8 text")]) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise PolicyError(
            [RuleProblem("$", f"not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})")]
        ) from None
    return load_policy(data)


def load_policy(data: Any) -> Policy:
    """Check a parsed rules document and build the Policy; PolicyError lists every problem."""
    found = [
        problem for error in Draft202012Validator(schema()).iter_errors(data) for problem in schema_problems(error)
    ]
    builder = _Builder(data if isinstance(data, Mapping) else {})
    policy = builder.build()
    # Where both found fault with the same value, the name check's message is the more useful one.
    builder_paths = {problem.path for problem in builder.problems}
    problems = [p for p in found if p.path not in builder_paths] + builder.problems
    if problems:
        raise PolicyError(dict.fromkeys(problems))
    return policy


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


class _Builder:
    """One pass over the document, resolving references and compiling what needs compiling.

    The document may also have failed the schema: every value is type-checked before use and skipped when
    it is not what the schema asks for (the schema's problem already names it), so nothing here raises.
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.problems: list[RuleProblem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(RuleProblem(path, message))

    def items(self, key: str) -> list[tuple[str, Mapping[str, Any]]]:
        """(path, item) for each object in the top-level list `key`."""
        value = self.data.get(key)
        if not isinstance(value, list):
            return []
        return [(child(child("$", key), i), item) for i, item in enumerate(value) if isinstance(item, Mapping)]

    def members(self, key: str) -> dict[str, Any]:
        value = self.data.get(key)
        return dict(value) if isinstance(value, Mapping) else {}

    def build(self) -> Policy:
        calendars, calendar_names = self._calendars()
        tiers = self._units("tiers", "tier", taken={})
        teams = self._units("teams", "team", taken={unit.id: unit.group for unit in tiers})
        unit_ids = {unit.id for unit in (*tiers, *teams)} | self._declared_ids()
        templates, template_names = self._templates()
        segments = self._segments()
        segment_ids = {segment.id for segment in segments} | {
            item["id"] for _, item in self.items("segments") if isinstance(item.get("id"), str)
        }
        slas = self._slas(unit_ids, segment_ids, calendars, calendar_names)
        triggers = self._triggers(unit_ids, template_names, calendars, calendar_names)
        ownership = self.members("ownership")
        max_bounces = ownership.get("max_bounces", 1)
        max_reassignments = ownership.get("max_reassignments")
        return Policy(
            tiers=tuple(tiers),
            teams=tuple(teams),
            segments=tuple(segments),
            slas=tuple(slas),
            triggers=tuple(triggers),
            templates=templates,
            calendars=calendars,
            max_bounces=max_bounces if _whole(max_bounces) else 1,
            max_reassignments=max_reassignments if _whole(max_reassignments) else None,
            pausing=self._pausing(),
            incidents=self._incidents(unit_ids, template_names),
            leads=tuple(_leads(tiers, teams)),
            fields_read=frozenset(
                name
                for key in ("segments", "triggers")
                for _, item in self.items(key)
                for name in fields_used(item.get("if"))
            ),
            volatile_triggers=self._volatile_triggers(),
        )

    def _volatile_triggers(self) -> frozenset[str]:
        """Triggers whose condition can change with no event on the ticket: they read another ticket's news (the
        history facts), directly or through a segment built on them."""
        history = set(HISTORY_FIELDS)
        moving = {
            str(item.get("id")) for _, item in self.items("segments") if history & set(fields_used(item.get("if")))
        }
        volatile = set()
        for _, item in self.items("triggers"):
            read = set(fields_used(item.get("if")))
            if isinstance(item.get("id"), str) and (history & read or _tests_segments(item.get("if"), moving)):
                volatile.add(item["id"])
        return frozenset(volatile)

    def _pausing(self) -> PauseRules:
        pausing = self.members("pausing")
        suspicious = pausing.get("suspicious_pauses")
        return PauseRules(
            max_pause=self._optional_duration(pausing, "max_pause", "$.pausing"),
            needs_reply_within=self._optional_duration(pausing, "pause_needs_reply_within", "$.pausing"),
            suspicious_pauses=suspicious if _whole(suspicious) else None,
        )

    def _optional_duration(self, item: Mapping[str, Any], key: str, path: str) -> float | None:
        return self._duration(item[key], child(path, key)) if key in item else None

    def _incidents(self, unit_ids: set[str], template_names: set[str]) -> tuple[IncidentRule, ...]:
        found = load_incidents(
            self.items("incidents"),
            self.problem,
            trigger_ids=self._declared_trigger_ids(),
            unit_ids=unit_ids,
            template_names=template_names,
        )
        return tuple(found)

    def _declared_trigger_ids(self) -> set[str]:
        """Trigger ids as written, disabled ones too: naming one is not an unknown reference (it simply never
        fires, so its detector never counts)."""
        return {item["id"] for _, item in self.items("triggers") if isinstance(item.get("id"), str)}

    def _declared_ids(self) -> set[str]:
        """Tier and team ids as written, valid or not, so one bad unit does not also break every reference."""
        return {
            item["id"] for key in ("tiers", "teams") for _, item in self.items(key) if isinstance(item.get("id"), str)
        }

    def _calendars(self) -> tuple[dict[str, BusinessCalendar], set[str]]:
        calendars: dict[str, BusinessCalendar] = {}
        names = set(self.members("calendars"))
        for name, spec in self.members("calendars").items():
            if not isinstance(spec, Mapping):
                continue
            try:
                calendars[name] = BusinessCalendar.from_spec(name, spec)
            except CalendarError as error:
                path, message = child("$.calendars", name), str(error)
                detail = _CALENDAR_DETAIL.match(message)
                if detail:  # "hours.mon[0]: ..." names a place inside the calendar: make it part of the path
                    path = path + "." + detail["where"]
                    message = detail["message"]
                self.problem(path, message)
        return calendars, names

    def _units(self, key: str, kind: str, taken: Mapping[str, str | int]) -> list[Unit]:
        units: list[Unit] = []
        owners = {str(group): unit_id for unit_id, group in taken.items()}
        seen = set(taken)
        for path, item in self.items(key):
            unit_id, name, group = item.get("id"), item.get("name"), item.get("group")
            if not isinstance(unit_id, str):
                continue
            if unit_id in RESERVED_TARGETS:
                self.problem(child(path, "id"), f"'{unit_id}' is reserved (escalate to 'next' means the next tier)")
            elif unit_id in seen:
                self.problem(child(path, "id"), f"duplicate tier/team id '{unit_id}'")
            seen.add(unit_id)
            if not isinstance(name, str) or not isinstance(group, str | int) or isinstance(group, bool):
                continue
            if str(group) in owners:
                # Two units on one group would make "which tier is this ticket in?" unanswerable.
                self.problem(child(path, "group"), f"group '{group}' already belongs to '{owners[str(group)]}'")
            owners.setdefault(str(group), unit_id)
            lead = item.get("lead")
            lead = lead if isinstance(lead, str | int) and not isinstance(lead, bool) else None
            if lead is not None and str(lead) in owners:
                self.problem(
                    child(path, "lead"), f"group '{lead}' belongs to '{owners[str(lead)]}': a lead has its own group"
                )
            units.append(Unit(unit_id, name, group, kind, lead))
        return units

    def _templates(self) -> tuple[dict[str, MessageTemplate], set[str]]:
        templates: dict[str, MessageTemplate] = {}
        names = set(self.members("templates"))
        for name, spec in self.members("templates").items():
            if isinstance(spec, str) or (isinstance(spec, Mapping) and spec and _strings(list(spec.values()))):
                templates[name] = compile_template(name, spec, child("$.templates", name), self.problems)
        return templates, names

    def _condition(self, node: Any, path: str) -> Predicate:
        return always if node is None else compile_condition(node, path, self.problems)

    def _segments(self) -> list[Segment]:
        segments: list[Segment] = []
        for path, item in self.items("segments"):
            segment_id = item.get("id")
            if not isinstance(segment_id, str):
                continue
            if any(segment.id == segment_id for segment in segments):
                self.problem(child(path, "id"), f"duplicate segment id '{segment_id}'")
            if "segments" in fields_used(item.get("if")):
                self.problem(child(path, "if"), "a segment's condition cannot use the field 'segments'")
            condition = self._condition(item.get("if"), child(path, "if"))
            segments.append(Segment(segment_id, condition, _reads(item.get("if"))))
        return segments

    def _duration(self, text: Any, path: str) -> float:
        if not isinstance(text, str):
            return 1.0  # the schema reports the type
        try:
            return parse_duration(text)
        except DurationError as error:
            self.problem(path, str(error))
            return 1.0

    def _calendar_ref(
        self, name: Any, path: str, calendars: Mapping[str, BusinessCalendar], declared: set[str]
    ) -> BusinessCalendar:
        if not isinstance(name, str):
            return ALWAYS_OPEN
        if name not in declared:
            self.problem(path, f"unknown calendar '{name}'{suggest(name, declared)}")
        return calendars.get(name, ALWAYS_OPEN)

    def _slas(
        self,
        unit_ids: set[str],
        segment_ids: set[str],
        calendars: Mapping[str, BusinessCalendar],
        calendar_names: set[str],
    ) -> list[SlaTarget]:
        slas: list[SlaTarget] = []
        for path, item in self.items("slas"):
            key = "team" if "team" in item else "tier"
            tiers, priorities = _one_or_many(item.get(key)), _one_or_many(item.get("priority"))
            for tier in sorted(tiers or ()):
                if tier not in unit_ids:
                    self.problem(child(path, key), f"unknown tier or team '{tier}'{suggest(tier, unit_ids)}")
            segment = item.get("segment")
            if isinstance(segment, str) and segment not in segment_ids:
                self.problem(child(path, "segment"), f"unknown segment '{segment}'{suggest(segment, segment_ids)}")
            targets = {
                metric: self._duration(item[metric], child(path, metric)) for metric in SLA_METRICS if metric in item
            }
            calendar = self._calendar_ref(item.get("calendar"), child(path, "calendar"), calendars, calendar_names)
            warn_at = item.get("warn_at", [])
            pause_on = item.get("pause_on")
            sla = SlaTarget(
                tiers=tiers,
                priorities=priorities,
                segment=segment if isinstance(segment, str) else None,
                targets=targets,
                calendar=calendar,
                warn_at=tuple(sorted({float(x) for x in warn_at if isinstance(x, int | float)}))
                if isinstance(warn_at, list)
                else (),
                pause_on=frozenset(pause_on) if isinstance(pause_on, list) and _strings(pause_on) else DEFAULT_PAUSE_ON,
                path=path,
                max_pause=self._optional_duration(item, "max_pause", path),
                needs_reply_within=self._optional_duration(item, "pause_needs_reply_within", path),
            )
            twin = next(
                (
                    other
                    for other in slas
                    if (other.tiers, other.priorities, other.segment) == (sla.tiers, sla.priorities, sla.segment)
                ),
                None,
            )
            both = "tier" in item and "team" in item  # the schema names that mistake: do not hide it behind this one
            if twin is not None and not both and (item.get(key) is not None and item.get("priority") is not None):
                self.problem(path, f"same tier, priority and segment as {twin.path}, which wins (file order)")
            slas.append(sla)
        return slas

    def _triggers(
        self,
        unit_ids: set[str],
        template_names: set[str],
        calendars: Mapping[str, BusinessCalendar],
        calendar_names: set[str],
    ) -> list[Trigger]:
        triggers: list[Trigger] = []
        seen: set[str] = set()
        for path, item in self.items("triggers"):
            trigger_id = item.get("id")
            if isinstance(trigger_id, str):
                if trigger_id in seen:
                    self.problem(child(path, "id"), f"duplicate trigger id '{trigger_id}'")
                seen.add(trigger_id)
            then: list[Any] = item["then"] if isinstance(item.get("then"), list) else []
            actions = [
                self._action(action, child(child(path, "then"), i), unit_ids, template_names)
                for i, action in enumerate(then)
                if isinstance(action, Mapping)
            ]
            after = self._duration(item["after"], child(path, "after")) if "after" in item else None
            condition = self._condition(item.get("if"), child(path, "if"))
            calendar = self._calendar_ref(item.get("calendar"), child(path, "calendar"), calendars, calendar_names)
            on, since = item.get("on", []), item.get("since")
            # A disabled trigger is checked all the same, so switching it on later cannot break the file.
            if item.get("enabled", True) is False or not isinstance(trigger_id, str) or None in actions:
                continue
            triggers.append(
                Trigger(
                    id=trigger_id,
                    on=frozenset(on) if _strings(on) else frozenset(),
                    after=after,
                    since=since if isinstance(since, str) else None,
                    condition=condition,
                    actions=tuple(action for action in actions if action is not None),
                    calendar=calendar,
                )
            )
        return triggers

    def _action(
        self, item: Mapping[str, Any], path: str, unit_ids: set[str], template_names: set[str]
    ) -> Action | None:
        kind, to, template = item.get("action"), item.get("to"), item.get("template")
        to_field = to.get("field") if isinstance(to, Mapping) and isinstance(to.get("field"), str) else None
        if to_field is not None and resolve_field(to_field) is None:
            self.problem(
                child(child(path, "to"), "field"), f"unknown field '{to_field}'{suggest(to_field, known_field_names())}"
            )
        if kind == "escalate" and isinstance(to, str) and to not in unit_ids | RESERVED_TARGETS:
            self.problem(child(path, "to"), f"unknown tier or team '{to}'{suggest(to, unit_ids | RESERVED_TARGETS)}")
        if kind in ("reply", "note") and isinstance(template, str) and template not in template_names:
            self.problem(child(path, "template"), f"unknown template '{template}'{suggest(template, template_names)}")
        if not isinstance(kind, str):
            return None
        tags = item.get("tags", [])
        return Action(
            kind=kind,
            to=to if isinstance(to, str) else None,
            value=item.get("value") if isinstance(item.get("value"), str) else None,
            template=template if isinstance(template, str) else None,
            tags=tuple(tags) if _strings(tags) else (),
            to_field=to_field,
        )


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _reads(node: Any) -> frozenset[str] | None:
    """The fields a condition reads, or None when it also reads the event: `changed` asks whether this event
    changed a field, whatever the field's name (rules.conditions)."""
    if any(leaf.get("operator") == "changed" for leaf in leaves(node)):
        return None
    return frozenset(fields_used(node))


def _leads(tiers: Sequence[Unit], teams: Sequence[Unit]) -> list[Unit]:
    """One lead unit per distinct lead group the tiers and teams name: `lead` when they all share one (the
    usual `Support Leads`), else `lead-1`, `lead-2`... in the order the file names them."""
    groups = list(dict.fromkeys(str(unit.lead) for unit in (*tiers, *teams) if unit.lead is not None))
    originals = {str(unit.lead): unit.lead for unit in (*tiers, *teams) if unit.lead is not None}
    return [
        Unit("lead" if len(groups) == 1 else f"lead-{index}", name, originals[name], "lead")
        for index, name in enumerate(groups, start=1)
    ]


def _one_or_many(value: Any) -> frozenset[str] | None:
    """`"*"` (or a value the schema refused) is "any"; a string or a list of strings is that set."""
    if isinstance(value, str) and value not in ("*", ""):
        return frozenset([value])
    if isinstance(value, list) and value and _strings(value) and all(value):
        return frozenset(value)
    return None


def _tests_segments(condition: Any, moving: set[str]) -> bool:
    """Whether a condition may test one of the `moving` segments (a `segments` leaf naming one, or one whose
    values cannot be told)."""
    if not moving:
        return False
    for leaf in leaves(condition):
        if leaf.get("field") != "segments":
            continue
        value = leaf.get("value")
        named = {value} if isinstance(value, str) else set(value) if isinstance(value, list) else None
        if named is None or named & moving:
            return True
    return False
