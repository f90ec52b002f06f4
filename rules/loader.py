"""Load a rules file: JSON Schema first, then names, references, durations, calendars and templates.

Every problem is collected with its JSON path (`$.triggers[2].if.field`), so an admin fixes a file in one
pass. Nothing is evaluated here; an invalid file raises PolicyError and is never used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from rules.calendar import ALWAYS_OPEN, BusinessCalendar, CalendarError
from rules.conditions import Predicate, always, compile_condition
from rules.durations import DurationError, parse_duration
from rules.errors import PolicyError, RuleProblem, child, suggest
from rules.policy import DEFAULT_PAUSE_ON, SLA_METRICS, Action, Policy, Segment, SlaTarget, Trigger, Unit
from rules.templates import MessageTemplate, compile_template

RESERVED_TARGETS = frozenset({"next"})


@cache
def schema() -> dict[str, Any]:
    return json.loads(resources.files("rules").joinpath("schema.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def load_policy_file(path: str | Path) -> Policy:
    """Read and check a rules file; PolicyError lists every problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise PolicyError([RuleProblem("$", f"cannot read the file: {error.strerror}")]) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise PolicyError(
            [RuleProblem("$", f"not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})")]
        ) from None
    return load_policy(data)


def load_policy(data: Any) -> Policy:
    schema_problems = [
        RuleProblem(error.json_path, _schema_message(error.message, error.validator))
        for error in Draft202012Validator(schema()).iter_errors(data)
    ]
    if schema_problems:
        raise PolicyError(schema_problems)
    builder = _Builder(data)
    policy = builder.build()
    if builder.problems:
        raise PolicyError(builder.problems)
    return policy


def _schema_message(message: str, validator: Any) -> str:
    if validator == "additionalProperties":
        return message.replace("Additional properties are not allowed", "unknown key")
    return message


class _Builder:
    """One pass over a schema-valid document, resolving references and compiling what needs compiling."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.problems: list[RuleProblem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(RuleProblem(path, message))

    def build(self) -> Policy:
        calendars = self._calendars()
        tiers = self._units("tiers", "tier", taken=set())
        teams = self._units("teams", "team", taken={tier.id for tier in tiers})
        unit_ids = [unit.id for unit in (*tiers, *teams)]
        templates = self._templates()
        segments = self._segments()
        slas = self._slas(set(unit_ids), {segment.id for segment in segments}, calendars)
        triggers = self._triggers(set(unit_ids), templates, calendars)
        return Policy(
            tiers=tuple(tiers),
            teams=tuple(teams),
            segments=tuple(segments),
            slas=tuple(slas),
            triggers=tuple(triggers),
            templates=templates,
            calendars=calendars,
            max_bounces=self.data.get("ownership", {}).get("max_bounces", 1),
        )

    def _calendars(self) -> dict[str, BusinessCalendar]:
        calendars: dict[str, BusinessCalendar] = {}
        for name, spec in self.data.get("calendars", {}).items():
            try:
                calendars[name] = BusinessCalendar.from_spec(name, spec)
            except CalendarError as error:
                self.problem(child("$.calendars", name), str(error))
        return calendars

    def _units(self, key: str, kind: str, taken: set[str]) -> list[Unit]:
        units: list[Unit] = []
        seen = set(taken)
        for index, item in enumerate(self.data.get(key, [])):
            path = child(child("$", key), index)
            if item["id"] in RESERVED_TARGETS:
                self.problem(child(path, "id"), f"'{item['id']}' is reserved (escalate to 'next' means the next tier)")
            elif item["id"] in seen:
                self.problem(child(path, "id"), f"duplicate tier/team id '{item['id']}'")
            seen.add(item["id"])
            units.append(Unit(item["id"], item["name"], item["group"], kind))
        return units

    def _templates(self) -> dict[str, MessageTemplate]:
        return {
            name: compile_template(name, spec, child("$.templates", name), self.problems)
            for name, spec in self.data.get("templates", {}).items()
        }

    def _condition(self, node: Mapping[str, Any] | None, path: str) -> Predicate:
        return always if node is None else compile_condition(node, path, self.problems)

    def _segments(self) -> list[Segment]:
        segments: list[Segment] = []
        for index, item in enumerate(self.data.get("segments", [])):
            path = child("$.segments", index)
            if any(segment.id == item["id"] for segment in segments):
                self.problem(child(path, "id"), f"duplicate segment id '{item['id']}'")
            if '"segments"' in json.dumps(item["if"]):
                self.problem(child(path, "if"), "a segment's condition cannot use the field 'segments'")
            segments.append(Segment(item["id"], self._condition(item["if"], child(path, "if"))))
        return segments

    def _duration(self, text: str, path: str) -> float:
        try:
            return parse_duration(text)
        except DurationError as error:
            self.problem(path, str(error))
            return 1.0

    def _calendar_ref(self, name: str | None, path: str, calendars: Mapping[str, BusinessCalendar]) -> BusinessCalendar:
        if name is None:
            return ALWAYS_OPEN
        if name not in calendars:
            self.problem(path, f"unknown calendar '{name}'{suggest(name, calendars)}")
            return ALWAYS_OPEN
        return calendars[name]

    def _slas(
        self, unit_ids: set[str], segment_ids: set[str], calendars: Mapping[str, BusinessCalendar]
    ) -> list[SlaTarget]:
        slas: list[SlaTarget] = []
        for index, item in enumerate(self.data.get("slas", [])):
            path = child("$.slas", index)
            tiers = _one_or_many(item["tier"])
            for tier in tiers or ():
                if tier not in unit_ids:
                    self.problem(child(path, "tier"), f"unknown tier or team '{tier}'{suggest(tier, unit_ids)}")
            if item.get("segment") and item["segment"] not in segment_ids:
                self.problem(
                    child(path, "segment"),
                    f"unknown segment '{item['segment']}'{suggest(item['segment'], segment_ids)}",
                )
            targets = {
                metric: self._duration(item[metric], child(path, metric)) for metric in SLA_METRICS if metric in item
            }
            slas.append(
                SlaTarget(
                    tiers=tiers,
                    priorities=_one_or_many(item["priority"]),
                    segment=item.get("segment"),
                    targets=targets,
                    calendar=self._calendar_ref(item.get("calendar"), child(path, "calendar"), calendars),
                    warn_at=tuple(sorted(set(item.get("warn_at", [])))),
                    pause_on=frozenset(item["pause_on"]) if "pause_on" in item else DEFAULT_PAUSE_ON,
                    path=path,
                )
            )
        return slas

    def _triggers(
        self, unit_ids: set[str], templates: Mapping[str, MessageTemplate], calendars: Mapping[str, BusinessCalendar]
    ) -> list[Trigger]:
        triggers: list[Trigger] = []
        for index, item in enumerate(self.data.get("triggers", [])):
            path = child("$.triggers", index)
            if any(trigger.id == item["id"] for trigger in triggers):
                self.problem(child(path, "id"), f"duplicate trigger id '{item['id']}'")
            if item.get("enabled", True) is False:
                continue
            actions = [
                self._action(action, child(child(path, "then"), i), unit_ids, templates)
                for i, action in enumerate(item["then"])
            ]
            triggers.append(
                Trigger(
                    id=item["id"],
                    on=frozenset(item.get("on", ())),
                    after=self._duration(item["after"], child(path, "after")) if "after" in item else None,
                    since=item.get("since"),
                    condition=self._condition(item.get("if"), child(path, "if")),
                    actions=tuple(actions),
                    calendar=self._calendar_ref(item.get("calendar"), child(path, "calendar"), calendars),
                )
            )
        return triggers

    def _action(
        self, item: Mapping[str, Any], path: str, unit_ids: set[str], templates: Mapping[str, MessageTemplate]
    ) -> Action:
        kind = item["action"]
        if kind == "escalate" and item["to"] not in unit_ids | RESERVED_TARGETS:
            self.problem(
                child(path, "to"),
                f"unknown tier or team '{item['to']}'{suggest(item['to'], unit_ids | RESERVED_TARGETS)}",
            )
        if kind in ("reply", "note") and item["template"] not in templates:
            self.problem(
                child(path, "template"), f"unknown template '{item['template']}'{suggest(item['template'], templates)}"
            )
        return Action(
            kind=kind,
            to=item.get("to"),
            value=item.get("value"),
            template=item.get("template"),
            tags=tuple(item.get("tags", ())),
        )


def _one_or_many(value: str | list[str]) -> frozenset[str] | None:
    if value == "*":
        return None
    return frozenset([value] if isinstance(value, str) else value)
