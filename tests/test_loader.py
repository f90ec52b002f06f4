"""The loader: the schema and the name checks report every problem at once, each at its JSON path."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from escalator.rules.engine import ACTIONS
from escalator.rules.errors import PolicyError, RuleProblem
from escalator.rules.loader import load_policy, load_policy_file, schema
from escalator.rules.model import EVENT_KINDS, PRIORITIES, STATUSES
from escalator.rules.operators import OPERATORS
from escalator.rules.state import ANCHORS

FIXTURES = Path(__file__).parent / "fixtures" / "rules"
SEED = Path(__file__).parent.parent / "rules" / "seed-policy.json"

BASE: dict[str, Any] = {
    "version": 1,
    "calendars": {"office": {"timezone": "Europe/Paris", "hours": {"mon": ["09:00-17:00"]}}},
    "tiers": [
        {"id": "L1", "name": "Frontline", "group": "Tier 1"},
        {"id": "L2", "name": "Specialists", "group": "Tier 2"},
    ],
    "teams": [{"id": "finance", "name": "Finance", "group": 360001}],
    "segments": [{"id": "vip", "if": {"field": "organization.tags", "operator": "includes", "value": "vip"}}],
    "slas": [{"tier": "L1", "priority": "*", "first_response": "1h", "warn_at": [0.75, 0.5, 0.75]}],
    "triggers": [
        {
            "id": "outage",
            "on": ["ticket.created"],
            "if": {"field": "text", "operator": "contains_any", "value": ["outage"]},
            "then": [{"action": "escalate", "to": "L2"}, {"action": "reply", "template": "ack"}],
        }
    ],
    "templates": {"ack": "Hi {{ requester.first_name }}"},
}


def document(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(copy.deepcopy(changes))
    return data


def trigger(**fields: Any) -> dict[str, Any]:
    return {"id": "t", "on": ["ticket.created"], "then": [{"action": "escalate", "to": "L2"}], **fields}


def problems_of(data: Any) -> list[tuple[str, str]]:
    with pytest.raises(PolicyError) as caught:
        load_policy(data)
    return [(problem.path, problem.message) for problem in caught.value.problems]


# --- valid files -------------------------------------------------------------------------------------------


def test_the_seed_policy_loads() -> None:
    policy = load_policy_file(SEED)
    assert [tier.id for tier in policy.tiers] == ["L1", "L2", "L3"]
    assert len(policy.triggers) == len(json.loads(SEED.read_text())["triggers"])


def test_a_valid_document_builds_the_policy() -> None:
    policy = load_policy(document())
    assert [(unit.id, unit.group, unit.kind) for unit in (*policy.tiers, *policy.teams)] == [
        ("L1", "Tier 1", "tier"),
        ("L2", "Tier 2", "tier"),
        ("finance", 360001, "team"),
    ]
    (sla,) = policy.slas
    assert sla.tiers == frozenset({"L1"})
    assert sla.priorities is None  # "*"
    assert sla.targets == {"first_response": 3600.0}
    assert sla.warn_at == (0.5, 0.75)  # sorted, repeats dropped
    assert sla.pause_on == frozenset({"pending", "on_hold"})
    assert policy.max_bounces == 1
    assert policy.triggers[0].actions[0].to == "L2"
    assert set(policy.templates) == {"ack"}


def test_ownership_sets_max_bounces() -> None:
    assert load_policy(document(ownership={"max_bounces": 3})).max_bounces == 3


def test_pausing_defaults_and_sla_row_overrides() -> None:
    row = {"tier": "L1", "priority": "*", "first_response": "1h"}
    slas = [{**row, "max_pause": "2d", "pause_needs_reply_within": "5m"}]
    policy = load_policy(document(pausing={"max_pause": "7d", "suspicious_pauses": 4}, slas=slas))
    assert (policy.pausing.max_pause, policy.pausing.needs_reply_within, policy.pausing.suspicious_pauses) == (
        7 * 86400, None, 4,
    )  # fmt: skip
    assert (policy.slas[0].max_pause, policy.slas[0].needs_reply_within) == (2 * 86400, 300)
    assert problems_of(document(pausing={"max_pause": "a week", "suspicious_pauses": 1})) == [
        ("$.pausing.max_pause", "'a week' is not a duration (use 45s, 15m, 4h, 2d, 1h30m or ISO 8601 like PT15M)"),
        ("$.pausing.suspicious_pauses", "1 is less than the minimum of 2"),
    ]


def test_incident_rules_are_loaded_and_their_references_checked() -> None:
    templates = {"ack": "Hi", "subject": "Incident", "note": "{{ incident.count }} tickets", "tell": "On it"}
    rule = {"id": "outage", "trigger": "t", "threshold": 4, "within": "15m", "escalate_to": "L2",
            "subject": "subject", "handoff": "note", "notice": "tell", "resolution": "tell"}  # fmt: skip
    policy = load_policy(document(triggers=[trigger()], templates=templates, incidents=[rule]))
    (loaded,) = policy.incidents
    assert (loaded.trigger, loaded.threshold, loaded.within, loaded.priority) == ("t", 4, 900.0, "urgent")
    broken = {**rule, "trigger": "tt", "escalate_to": "L9", "notice": "tel", "within": "soon", "threshold": 1}
    problems = problems_of(document(triggers=[trigger()], templates=templates, incidents=[broken]))
    assert ("$.incidents[0].trigger", "unknown trigger 'tt' (did you mean 't'?)") in problems
    assert ("$.incidents[0].escalate_to", "unknown tier or team 'L9'") in problems
    assert ("$.incidents[0].notice", "unknown template 'tel' (did you mean 'tell'?)") in problems
    assert ("$.incidents[0].threshold", "1 is less than the minimum of 2") in problems
    assert any(path == "$.incidents[0].within" for path, _ in problems)


def test_an_sla_row_naming_a_tier_and_a_team_says_so() -> None:
    row = {"tier": "L1", "team": "finance", "priority": "*", "first_response": "1h"}
    assert problems_of(document(slas=[row, dict(row)])) == [
        ("$.slas[0]", "an SLA row is for a 'tier' or for a 'team', not both"),
        ("$.slas[1]", "an SLA row is for a 'tier' or for a 'team', not both"),
    ]


def test_disabled_triggers_are_checked_but_not_used() -> None:
    disabled = trigger(id="off", enabled=False, then=[{"action": "escalate", "to": "L9"}])
    assert problems_of(document(triggers=[disabled])) == [("$.triggers[0].then[0].to", "unknown tier or team 'L9'")]
    fine = trigger(id="off", enabled=False)
    assert load_policy(document(triggers=[fine])).triggers == ()


def test_a_trigger_calendar_is_resolved() -> None:
    idle = {
        "id": "idle",
        "after": "2h",
        "since": "updated",
        "calendar": "office",
        "then": [{"action": "escalate", "to": "next"}],
    }
    policy = load_policy(document(triggers=[idle]))
    (loaded,) = policy.triggers
    assert loaded.after == 7200.0
    assert loaded.since == "updated"
    assert loaded.calendar is policy.calendars["office"]


# --- the schema agrees with the registries -----------------------------------------------------------------


def test_the_schema_is_a_valid_2020_12_schema() -> None:
    Draft202012Validator.check_schema(schema())


def _leaf_operator_enum() -> list[str]:
    leaf = schema()["$defs"]["condition"]["else"]["else"]["else"]
    return list(leaf["properties"]["operator"]["enum"])


def test_operator_enum_matches_the_operator_registry() -> None:
    assert sorted(_leaf_operator_enum()) == sorted(OPERATORS)


def test_action_enum_matches_the_actions_the_engine_handles() -> None:
    assert sorted(schema()["$defs"]["action"]["properties"]["action"]["enum"]) == sorted(ACTIONS)


def test_every_action_kind_has_its_own_schema_branch() -> None:
    covered: set[str] = set()
    for branch in schema()["$defs"]["action"]["allOf"]:
        kind = branch["if"]["properties"]["action"]
        covered.update(kind["enum"] if "enum" in kind else [kind["const"]])
    assert covered == set(ACTIONS)


def test_event_enum_is_every_event_kind_but_the_timer() -> None:
    assert sorted(schema()["$defs"]["event"]["enum"]) == sorted(set(EVENT_KINDS) - {"timer.elapsed"})


def test_anchor_enum_matches_the_state_anchors() -> None:
    assert sorted(schema()["$defs"]["anchor"]["enum"]) == sorted(ANCHORS)


def test_priority_and_status_enums_match_the_model() -> None:
    assert schema()["$defs"]["priority"]["enum"] == list(PRIORITIES)
    assert schema()["$defs"]["status"]["enum"] == list(STATUSES)


# --- the broken fixture: every problem, at once, exactly -----------------------------------------------------

BROKEN_LINES = [
    "broken.json: $.calendars.business.hours.tue[0]: '17:00-09:00' ends before it starts (split overnight hours"
    " across two days, e.g. mon 22:00-24:00 and tue 00:00-06:00)",
    "broken.json: $.slas[0].calendar: unknown calendar 'busines' (did you mean 'business'?)",
    "broken.json: $.slas[0].resolution: '72 hours' is not a duration (use 45s, 15m, 4h, 2d, 1h30m or ISO 8601 like"
    " PT15M)",
    "broken.json: $.slas[1].tier: unknown tier or team 'L4'",
    "broken.json: $.slas[2].priority: unknown priority 'hgih' (did you mean 'high'?)",
    "broken.json: $.templates.initial_escalation: unknown placeholder 'requester.fist_name' (did you mean"
    " 'requester.first_name'?)",
    "broken.json: $.triggers[0].if.field: unknown field 'prority' (did you mean 'priority'?)",
    "broken.json: $.triggers[0].then[0].to: unknown tier or team 'L3'",
    "broken.json: $.triggers[1].if.operator: unknown operator 'include' (did you mean 'includes'?)",
    "broken.json: $.triggers[1].then[0].to: unknown tier or team 'finanse' (did you mean 'finance'?)",
    "broken.json: $.triggers[1].then[1].template: unknown template 'initial_escalaton' (did you mean"
    " 'initial_escalation'?)",
    "broken.json: $.triggers[2].after: 'soon' is not a duration (use 45s, 15m, 4h, 2d, 1h30m or ISO 8601 like PT15M)",
    "broken.json: $.triggers[2].id: duplicate trigger id 'urgent-to-l2'",
    "broken.json: $.triggers[3]: missing required key 'then'",
    "broken.json: $.triggers[4].then[0].value: unknown priority 'hgih' (did you mean 'high'?)",
    "broken.json: $.triggers[5]: a trigger fires either 'on' events or 'after' a duration, not both",
    "broken.json: $.triggers[6].iff: unknown key 'iff' (did you mean 'if'?)",
]


def test_broken_fixture_reports_every_problem_with_its_path() -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy_file(FIXTURES / "broken.json")
    assert [problem.format("broken.json") for problem in caught.value.problems] == BROKEN_LINES


def test_the_error_message_lists_the_problems_too() -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy_file(FIXTURES / "broken.json")
    assert "$.triggers[0].if.field: unknown field 'prority'" in str(caught.value)


def test_invalid_json_is_one_problem_at_the_root() -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy_file(FIXTURES / "not-json.json")
    assert [problem.format("not-json.json") for problem in caught.value.problems] == [
        "not-json.json: $: not valid JSON: Expecting value (line 3, column 66)"
    ]


def test_an_unreadable_file_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy_file(tmp_path / "missing.json")
    assert caught.value.problems == [RuleProblem("$", "cannot read the file: No such file or directory")]


def test_a_non_utf8_file_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"description": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(PolicyError) as caught:
        load_policy_file(path)
    assert caught.value.problems == [RuleProblem("$", "not valid JSON: the file is not UTF-8 text")]


def test_problem_format_prefixes_the_file_name() -> None:
    assert RuleProblem("$.a[0]", "bad").format("rules.json") == "rules.json: $.a[0]: bad"


def test_problems_sort_by_path_numerically() -> None:
    error = PolicyError([RuleProblem("$.triggers[10].id", "b"), RuleProblem("$.triggers[9].id", "a")])
    assert [problem.path for problem in error.problems] == ["$.triggers[9].id", "$.triggers[10].id"]


# --- schema problems, one at a time ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"version": 2}, [("$.version", "must be 1, not 2")]),
        ({"colour": "red"}, [("$.colour", "unknown key 'colour'")]),
        ({"tiers": [], "slas": [], "triggers": []}, [("$.tiers", "[] should be non-empty")]),
        (
            {"triggers": [trigger(on=["timer.elapsed"])]},
            # Not "did you mean 'ticket.escalated'?": timers are internal, and the message says what to use.
            [
                (
                    "$.triggers[0].on[0]",
                    "unknown event 'timer.elapsed' (timers are internal: an elapsed-time trigger uses `after` and "
                    "`since`)",
                )
            ],
        ),
        (
            {"triggers": [{"id": "t", "then": [{"action": "escalate", "to": "L2"}]}]},
            [("$.triggers[0]", "needs 'on' or 'after'")],
        ),
        (
            {"triggers": [{"id": "t", "after": "1h", "then": [{"action": "escalate", "to": "L2"}]}]},
            [("$.triggers[0]", "'after' needs 'since'")],
        ),
        ({"triggers": [trigger(since="updated")]}, [("$.triggers[0]", "'since' needs 'after'")]),
        (
            {
                "triggers": [
                    {"id": "t", "after": "1h", "since": "tier_enterd", "then": [{"action": "escalate", "to": "L2"}]}
                ]
            },
            [("$.triggers[0].since", "unknown anchor 'tier_enterd' (did you mean 'tier_entered'?)")],
        ),
        (
            {"triggers": [trigger(then=[{"action": "escalte", "to": "L2"}])]},
            [("$.triggers[0].then[0].action", "unknown action 'escalte' (did you mean 'escalate'?)")],
        ),
        (
            {"triggers": [trigger(then=[{"action": "reply", "template": "ack", "public": True}])]},
            [("$.triggers[0].then[0].public", "unknown key 'public'")],
        ),
        (
            {"triggers": [trigger(then=[{"action": "escalate"}])]},
            [("$.triggers[0].then[0]", "missing required key 'to'")],
        ),
        ({"triggers": [trigger(then=[])]}, [("$.triggers[0].then", "[] should be non-empty")]),
        (
            {"triggers": [trigger(**{"if": {"field": "status"}})]},
            [("$.triggers[0].if", "missing required key 'operator'")],
        ),
        (
            {"triggers": [trigger(**{"if": {"field": "status", "operator": "is", "value": "new", "negate": True}})]},
            [("$.triggers[0].if.negate", "unknown key 'negate'")],
        ),
        (
            {"slas": [{"tier": "L1", "priority": ["high", "hgih"], "first_response": "1h"}]},
            [("$.slas[0].priority[1]", "unknown priority 'hgih' (did you mean 'high'?)")],
        ),
        (
            {"slas": [{"tier": "L1", "priority": "low"}]},
            [("$.slas[0]", "needs 'first_response' or 'next_response' or 'resolution'")],
        ),
        (
            {"slas": [{"tier": "", "priority": "low", "resolution": "1h"}]},
            [("$.slas[0].tier", "'' should be non-empty")],
        ),
        (
            {"slas": [{"tier": "L1", "priority": "low", "resolution": "1h", "pause_on": ["paused"]}]},
            [("$.slas[0].pause_on[0]", "unknown status 'paused'")],
        ),
        (
            {"slas": [{"tier": "L1", "priority": "low", "resolution": "1h", "warn_at": [75]}]},
            [("$.slas[0].warn_at[0]", "75 is greater than or equal to the maximum of 1")],
        ),
        ({"templates": {"ack": ""}}, [("$.templates.ack", "'' should be non-empty")]),
        ({"templates": {"ack": {"en": "hi", "fr-CA": ""}}}, [("$.templates.ack['fr-CA']", "'' should be non-empty")]),
    ],
)
def test_schema_problems_name_the_path_and_the_value(changes: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert problems_of(document(**changes)) == expected


def test_a_document_that_is_not_an_object() -> None:
    assert problems_of([1, 2]) == [("$", "[1, 2] is not of type 'object'")]


def test_the_schema_and_the_name_checks_do_not_repeat_each_other() -> None:
    # The schema's operator enum and the loader's operator check both see 'equals': one line, not two.
    data = document(triggers=[trigger(**{"if": {"field": "status", "operator": "equals", "value": "new"}})])
    assert problems_of(data) == [("$.triggers[0].if.operator", "unknown operator 'equals'")]


def test_schema_and_name_problems_come_together() -> None:
    data = document(
        version=2,
        triggers=[trigger(**{"if": {"field": "prority", "operator": "is", "value": "high"}})],
    )
    assert problems_of(data) == [
        ("$.triggers[0].if.field", "unknown field 'prority' (did you mean 'priority'?)"),
        ("$.version", "must be 1, not 2"),
    ]


# --- name and reference problems ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {
                "tiers": [
                    {"id": "L1", "name": "A", "group": "G1"},
                    {"id": "L2", "name": "B", "group": "G2"},
                    {"id": "L1", "name": "C", "group": "G3"},
                ]
            },
            [("$.tiers[2].id", "duplicate tier/team id 'L1'")],
        ),
        (
            {"teams": [{"id": "L2", "name": "Oops", "group": "Other"}]},
            [("$.teams[0].id", "duplicate tier/team id 'L2'")],
        ),
        (
            {"teams": [{"id": "next", "name": "Next", "group": "Next"}]},
            [("$.teams[0].id", "'next' is reserved (escalate to 'next' means the next tier)")],
        ),
        (
            {"teams": [{"id": "finance", "name": "Finance", "group": "Tier 2"}]},
            [("$.teams[0].group", "group 'Tier 2' already belongs to 'L2'")],
        ),
        (
            {"segments": [{"id": "s", "if": {"field": "segments", "operator": "includes", "value": "x"}}]},
            [("$.segments[0].if", "a segment's condition cannot use the field 'segments'")],
        ),
        (
            {
                "segments": [
                    {"id": "s", "if": {"field": "tags", "operator": "includes", "value": "a"}},
                    {"id": "s", "if": {"field": "tags", "operator": "includes", "value": "b"}},
                ]
            },
            [("$.segments[1].id", "duplicate segment id 's'")],
        ),
        (
            {"slas": [{"tier": "L1", "priority": "low", "segment": "vipp", "resolution": "1h"}]},
            [("$.slas[0].segment", "unknown segment 'vipp' (did you mean 'vip'?)")],
        ),
        (
            {"slas": [{"tier": ["L1", "L9"], "priority": "low", "resolution": "1h"}]},
            [("$.slas[0].tier", "unknown tier or team 'L9'")],
        ),
        (
            {
                "slas": [
                    {"tier": "L1", "priority": "low", "resolution": "1h"},
                    {"tier": ["L1"], "priority": ["low"], "resolution": "2h"},
                ]
            },
            [("$.slas[1]", "same tier, priority and segment as $.slas[0], which wins (file order)")],
        ),
        (
            {"slas": [{"tier": "L1", "priority": "low", "resolution": "0m"}]},
            [("$.slas[0].resolution", "'0m' is zero; a duration must be positive")],
        ),
        (
            {"triggers": [trigger(calendar="offise")]},
            [("$.triggers[0].calendar", "unknown calendar 'offise' (did you mean 'office'?)")],
        ),
        (
            {"triggers": [trigger(then=[{"action": "note", "template": "akc"}])]},
            [("$.triggers[0].then[0].template", "unknown template 'akc' (did you mean 'ack'?)")],
        ),
        (
            {"triggers": [trigger(**{"if": {"field": "status", "operator": "in", "value": "open"}})]},
            [("$.triggers[0].if.value", "operator 'in' takes a non-empty list of values, not \"open\"")],
        ),
        (
            {"triggers": [trigger(**{"if": {"all": [{"field": "status", "operator": "is"}]}})]},
            [("$.triggers[0].if.all[0]", "operator 'is' needs a value: a single value")],
        ),
        (
            {"triggers": [trigger(**{"if": {"not": {"field": "subject", "operator": "matches", "value": "(["}}})]},
            [
                (
                    "$.triggers[0].if.not.value",
                    "'([' is not a valid regular expression: unterminated character set at position 1",
                )
            ],
        ),
        (
            {"triggers": [trigger(**{"if": {"any": [{"field": "custom_fields.", "operator": "present"}]}})]},
            [("$.triggers[0].if.any[0].field", "unknown field 'custom_fields.' (did you mean 'custom_fields.<key>'?)")],
        ),
        (
            {"calendars": {"office": {"timezone": "Mars/Olympus", "hours": {"mon": ["09:00-17:00"]}}}},
            [("$.calendars.office.timezone", "'Mars/Olympus' is not an IANA time zone")],
        ),
        (
            {"templates": {"ack": "Hi {{ requester.first_name }", "spare": "{{ tier.nme }}"}},
            [
                ("$.templates.ack", "template syntax error on line 1: unexpected '}'"),
                ("$.templates.spare", "unknown placeholder 'tier.nme' (did you mean 'tier.name'?)"),
            ],
        ),
    ],
)
def test_name_and_reference_problems(changes: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert problems_of(document(**changes)) == expected


def test_a_broken_unit_does_not_also_break_every_reference_to_it() -> None:
    # The tier's own problem is reported; the trigger that escalates to it is not blamed as well.
    data = document(tiers=[{"id": "L1", "name": "A", "group": "G1"}, {"id": "L2", "name": "", "group": "G2"}])
    assert problems_of(data) == [("$.tiers[1].name", "'' should be non-empty")]


def test_a_broken_calendar_is_not_also_an_unknown_calendar() -> None:
    data = document(
        calendars={"office": {"timezone": "Europe/Paris", "hours": {"mon": ["9-17"]}}},
        triggers=[trigger(calendar="office")],
    )
    assert problems_of(data) == [("$.calendars.office.hours.mon[0]", "'9-17' is not HH:MM-HH:MM")]
