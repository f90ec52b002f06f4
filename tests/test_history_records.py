"""History lines (DESIGN §9): parsing, conversion to the engine's inputs, refusals, and the reader."""

from __future__ import annotations

import copy
import gzip
import io
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from escalator.plugin.history.reader import ProblemLog, index_history, presort, read_records, tickets
from escalator.plugin.history.records import MAX_LINE_BYTES, HistoryRecord, LineProblem, parse_line, peek
from escalator.plugin.history.shape import SCHEMA, json_path
from escalator.plugin.history.synth import write_history
from escalator.rules.model import Comment, Organization, Person

EXAMPLE: dict[str, Any] = {
    "at": "2026-03-02T14:00:00Z",
    "kind": "ticket.created",
    "actor": {"id": "5001", "role": "requester"},
    "ticket": {
        "id": "101",
        "subject": "Outage: cannot log in",
        "description": "Since this morning nobody can log in.",
        "status": "new",
        "priority": "normal",
        "group": "Tier 1",
        "assignee": None,
        "requester": {
            "id": "5001",
            "name": "Dana Smith",
            "email": "dana@shop.example",
            "locale": "en-US",
            "time_zone": "America/New_York",
            "tags": ["vip"],
        },
        "organization": {"id": "9", "name": "Globex", "tags": ["enterprise"], "fields": {"account_manager": "a@x"}},
        "tags": ["web"],
        "channel": "web",
        "created_at": "2026-03-02T14:00:00Z",
    },
    "comment": {"body": "Since this morning nobody can log in.", "public": True},
    "changes": {"status": ["open", "pending"]},
}


def line(data: Any) -> str:
    return json.dumps(data)


def record(data: Any, number: int = 1) -> HistoryRecord:
    parsed = parse_line(line(data), number)
    assert isinstance(parsed, HistoryRecord), parsed
    return parsed


def problem(text: str | bytes, number: int = 7) -> LineProblem:
    parsed = parse_line(text, number)
    assert isinstance(parsed, LineProblem), parsed
    assert parsed.line_number == number
    return parsed


def with_(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `base` with the dotted `path` set to `value` (or deleted when value is DELETE)."""
    data = copy.deepcopy(base)
    *parents, last = path.split(".")
    target = data
    for part in parents:
        target = target[part]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return data


DELETE = object()


# -- parsing and conversion ------------------------------------------------------------------------------


def test_the_design_example_parses_to_exact_values() -> None:
    parsed = record(EXAMPLE, 12)
    at = datetime(2026, 3, 2, 14, tzinfo=UTC)
    assert (parsed.line_number, parsed.at, parsed.kind, parsed.ticket_id) == (12, at, "ticket.created", "101")
    assert (parsed.actor.id, parsed.actor.role, parsed.actor.name) == ("5001", "requester", None)
    assert parsed.comment is not None and parsed.comment.public is True
    assert parsed.changes == {"status": ("open", "pending")}
    ticket = parsed.ticket
    assert (ticket.status, ticket.priority, ticket.group, ticket.assignee) == ("new", "normal", "Tier 1", None)
    assert ticket.requester.time_zone == "America/New_York" and ticket.requester.tags == ("vip",)
    assert ticket.organization is not None and ticket.organization.fields == {"account_manager": "a@x"}


def test_ticket_model_is_what_a_connector_would_read_back() -> None:
    model = record(EXAMPLE).ticket_model()
    assert model.id == "101" and model.subject == "Outage: cannot log in"
    assert model.description == "Since this morning nobody can log in."
    assert (model.status, model.priority, model.group_name, model.group_id, model.assignee_id) == (
        "new",
        "normal",
        "Tier 1",
        None,
        None,
    )
    assert model.requester.id == "5001" and model.requester.name == "Dana Smith"
    assert model.requester.email == "dana@shop.example" and model.requester.locale == "en-US"
    assert model.requester.tags == ("vip",) and isinstance(model.requester, Person)
    assert model.organization == Organization(
        id="9", name="Globex", tags=("enterprise",), fields={"account_manager": "a@x"}
    )
    assert model.tags == ("web",) and model.channel == "web" and model.custom_fields == {}
    assert model.created_at == model.updated_at == datetime(2026, 3, 2, 14, tzinfo=UTC)


def test_event_carries_kind_time_comment_changes_and_actor() -> None:
    event = record(EXAMPLE, 3).event("d-1")
    assert (event.delivery_id, event.kind, event.ticket_id, event.source) == ("d-1", "ticket.created", "101", "history")
    assert event.occurred_at == datetime(2026, 3, 2, 14, tzinfo=UTC)
    assert event.comment == Comment(
        body="Since this morning nobody can log in.", public=True, author="requester", author_id="5001"
    )
    assert event.changes == {"status": ("open", "pending")} and event.actor_id == "5001"
    assert record(EXAMPLE, 3).event().delivery_id == "history:101:3"


@pytest.mark.parametrize(("role", "author"), [("requester", "requester"), ("agent", "agent"), ("system", "agent")])
def test_only_a_requester_comment_is_the_customers(role: str, author: str) -> None:
    data = with_(with_(EXAMPLE, "actor", {"id": "7", "role": role}), "comment", {"body": "x", "public": False})
    event = record(data).event()
    assert event.comment is not None and (event.comment.author, event.comment.author_id) == (author, "7")
    data = with_(data, "comment", {"body": "x", "public": True, "author_id": 99, "id": 5})
    event = record(data).event()
    assert event.comment is not None and (event.comment.author_id, event.comment.id) == ("99", "5")


def test_optional_fields_default_and_integer_ids_read_as_strings() -> None:
    minimal = {
        "at": "2026-03-02T09:00:00-05:00",
        "kind": "ticket.updated",
        "actor": {"role": "system"},
        "ticket": {"id": 101, "status": "open", "created_at": "2026-03-01T10:00:00.250Z", "requester": {"id": 5}},
    }
    parsed = record(minimal)
    assert parsed.at == datetime(2026, 3, 2, 14, tzinfo=UTC) and parsed.actor.id is None
    assert parsed.comment is None and parsed.changes == {}
    ticket = parsed.ticket
    assert (ticket.id, ticket.requester.id, ticket.priority, ticket.group, ticket.organization) == (
        "101",
        "5",
        None,
        None,
        None,
    )
    assert (ticket.subject, ticket.description, ticket.tags, ticket.custom_fields) == ("", "", (), {})
    assert ticket.created_at == datetime(2026, 3, 1, 10, 0, 0, 250000, tzinfo=UTC)
    extras = with_(minimal, "ticket", {**minimal["ticket"], "type": "incident", "problem_id": 77, "group_id": "360",
                                        "custom_fields": {"360001": "gold"}, "updated_at": "2026-03-02T14:00:00Z",
                                        "x_source": {"anything": [1]}})  # fmt: skip
    model = record(extras).ticket_model()
    assert record(extras).ticket.problem_id == "77" and record(extras).ticket.type == "incident"
    assert model.group_id == "360" and model.custom_fields == {"360001": "gold"}


# -- refusals --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        ("{not json", "$", "not JSON"),
        (b'{"at": "\xff"}', "$", "not UTF-8"),
        ('{"at": NaN}', "$", "NaN is not a JSON value"),
        ("[1, 2]", "$", "expected an object, got an array"),
        (line(with_(EXAMPLE, "kind", "ticket.deleted")), "$.kind", "is not one of"),
        (line(with_(EXAMPLE, "ticket.priority", "medium")), "$.ticket.priority", "did you mean 'normal'"),
        (line(with_(EXAMPLE, "ticket.grup", "Tier 1")), "$.ticket", "unknown key 'grup' (did you mean 'group'?)"),
        (line(with_(EXAMPLE, "actor", DELETE)), "$", "'actor' is required"),
        (line(with_(EXAMPLE, "ticket.requester.id", None)), "$.ticket.requester.id", "expected an id"),
        (line(with_(EXAMPLE, "ticket.id", "")), "$.ticket.id", "must not be empty"),
        (line(with_(EXAMPLE, "at", "2026-03-02 14:00")), "$.at", "is not an ISO 8601 instant"),
        (line(with_(EXAMPLE, "at", "2026-03-02T14:00:00")), "$.at", "with a time zone"),
        (line(with_(EXAMPLE, "at", "2026-02-30T14:00:00Z")), "$.at", "is not an ISO 8601 instant"),
        (line(with_(EXAMPLE, "comment.public", "yes")), "$.comment.public", "expected a boolean, got a string"),
        (line(with_(EXAMPLE, "changes.status", ["a", "b", "c"])), "$.changes.status", "got 3 item(s)"),
        (line(with_(EXAMPLE, "changes.my field", "x")), '$.changes["my field"]', "[before, after]"),
        (line(with_(EXAMPLE, "ticket.tags", ["a", 1])), "$.ticket.tags[1]", "expected a string, got an integer"),
        (line(with_(EXAMPLE, "kind", "comment.added") | {"comment": None}), "$.comment", "got null"),
        (line(with_(with_(EXAMPLE, "kind", "comment.added"), "comment", DELETE)), "$", "'comment' is required"),
        ("[" * 100_000, "$", "not JSON"),
    ],
)
def test_each_kind_of_bad_line_names_its_place_and_reason(text: str | bytes, path: str, words: str) -> None:
    found = problem(text)
    assert found.path == path and words in found.message, found
    assert str(found).startswith(f"line 7: {path}: ")


def test_a_line_over_one_mebibyte_is_refused_unread() -> None:
    found = problem(line(with_(EXAMPLE, "ticket.description", "x" * MAX_LINE_BYTES)))
    assert "limit is 1,048,576" in found.message


# -- the hand check agrees with the published schema -------------------------------------------------------

JUNK: list[Any] = [None, 0, 7, 7.0, 1.5, True, "", "x", "medium", "pending", "2026-02-30T10:00:00Z",
                   "2026-03-02T14:00:00", "2026-03-02T14:00:00+01:00", [], ["a"], [1, 2], {}, {"id": "1"}]  # fmt: skip


def test_the_schema_is_valid_and_describes_every_property() -> None:
    """Converters from other help desks work from the schema alone: every property says what it holds."""
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    pending: list[tuple[str, Any]] = [("$", SCHEMA)]
    described = 0
    while pending:
        where, node = pending.pop()
        for name, child in node.get("properties", {}).items():
            assert child.get("description"), f"{where}.{name} has no description"
            described += 1
            pending.append((f"{where}.{name}", child))
        pending += [(f"{where}/$defs/{name}", child) for name, child in node.get("$defs", {}).items()]
    assert described >= 35
    example = SCHEMA["properties"]["changes"]["description"]
    assert "[before, after]" in example and "group" in example


def _validator() -> jsonschema.Draft202012Validator:
    """The schema with `format: date-time` enforced (RFC 3339: a real calendar instant)."""
    formats = jsonschema.FormatChecker()

    @formats.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        return not isinstance(value, str) or bool(datetime.fromisoformat(value))

    return jsonschema.Draft202012Validator(SCHEMA, format_checker=formats)


def _places(data: Any, trail: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found = [trail]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _places(value, (*trail, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _places(value, (*trail, index))
    return found


def _mutate(rng: random.Random, base: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(base)
    place = rng.choice(_places(data)[1:])
    parent: Any = data
    for part in place[:-1]:
        parent = parent[part]
    last = place[-1]
    move = rng.randrange(4)
    if move == 0 and isinstance(parent, dict):
        del parent[last]
    elif move == 1 and isinstance(parent, dict):
        parent[rng.choice(["grup", "x_note", "Status", "ticket_id", "at"])] = "x"
    elif move == 2 and isinstance(last, str):
        parent[last[:-1] or "k"] = parent.pop(last)  # a misspelt key
    else:
        parent[last] = copy.deepcopy(rng.choice(JUNK))
    return data


def _errors(validator: jsonschema.Draft202012Validator, data: Any) -> set[str]:
    paths: set[str] = set()
    pending = list(validator.iter_errors(data))
    while pending:
        error = pending.pop()
        paths.add(json_path(*error.absolute_path))
        pending += error.context or []
    return paths


def _corpus() -> list[dict[str, Any]]:
    out = io.StringIO()
    write_history(out, tickets=40, days=3, seed=11, start=datetime(2026, 3, 2, tzinfo=UTC))
    lines = [json.loads(text) for text in out.getvalue().splitlines()]
    kinds = {item["kind"]: item for item in lines}
    richer = with_(EXAMPLE, "ticket.problem_id", 5) | {"x_source": 1}
    return [EXAMPLE, richer, *kinds.values(), *random.Random(5).sample(lines, 60)]


def test_the_hand_check_and_the_schema_accept_and_refuse_the_same_lines() -> None:
    validator, rng = _validator(), random.Random(2026)
    valid = _corpus()
    samples = [(data, True) for data in valid] + [(_mutate(rng, rng.choice(valid)), None) for _ in range(400)]
    verdicts = {True: 0, False: 0}
    for number, (data, expected) in enumerate(samples, 1):
        schema_paths = _errors(validator, data)
        parsed = parse_line(json.dumps(data), number)
        if expected:
            assert not schema_paths, data
        assert isinstance(parsed, HistoryRecord) == (not schema_paths), (data, parsed, schema_paths)
        if isinstance(parsed, LineProblem):
            assert parsed.path in schema_paths, (parsed, schema_paths)
        verdicts[not schema_paths] += 1
    assert verdicts[True] >= 100 and verdicts[False] >= 150, verdicts


def test_peek_reads_the_ticket_id_and_instant_of_any_key_order() -> None:
    at = datetime(2026, 3, 2, 14, tzinfo=UTC)
    assert peek(line(EXAMPLE)) == ("101", at)
    assert peek(line(EXAMPLE).encode()) == ("101", at)
    reordered = {"ticket": {**EXAMPLE["ticket"], "id": 101}, "kind": "ticket.created", "at": EXAMPLE["at"]}
    assert peek(json.dumps(reordered)) == ("101", at)
    assert peek('{"at":"2026-03-02T14:00:00Z","kind":"k","actor":{"role":"agent"},"ticket":{"id":"\\u0031"}}') == (
        "1",
        at,
    )
    assert peek("{broken") == (None, None) and peek('{"ticket": {"id": []}}') == (None, None)
    assert peek(b'{"at":"x","kind":"k","actor":{},"ticket":{"id":"\xff"}}') == (None, None)  # not UTF-8
    assert peek('{"at":"x","kind":"k","actor":{},"ticket":{"id":' + "9" * 5000 + "}}") == (None, None)


# -- the reader ------------------------------------------------------------------------------------------


def _event(ticket: str, at: str, kind: str = "ticket.updated", **ticket_fields: Any) -> str:
    data = with_(EXAMPLE, "at", at) | {"kind": kind}
    data["ticket"] = {**data["ticket"], "id": ticket, **ticket_fields}
    data.pop("changes")
    return json.dumps(data) + "\n"


INTERLEAVED = "".join(
    [
        _event("1", "2026-03-02T10:00:00Z", "ticket.created"),
        _event("2", "2026-03-02T10:05:00Z", "ticket.created"),
        "\n",
        _event("1", "2026-03-02T11:00:00Z", status="open"),
        "not json at all\n",
        _event("2", "2026-03-02T10:30:00Z", "comment.added"),
        _event("3", "2026-03-02T12:00:00Z", "ticket.created"),
        _event("1", "2026-03-02T10:30:00Z", status="pending"),  # out of order: replayed by time
        _event("2", "2026-03-02T13:00:00Z", "ticket.solved", status="solved"),
    ]
)


def _summary(groups: list[tuple[str, list[HistoryRecord]]]) -> list[tuple[str, list[int]]]:
    return [(ticket, [item.line_number for item in records]) for ticket, records in groups]


EXPECTED = [("1", [1, 8, 4]), ("2", [2, 6, 9]), ("3", [7])]


def test_tickets_groups_interleaved_lines_in_time_order_and_reports_bad_ones(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(INTERLEAVED)
    log = ProblemLog()
    assert _summary(list(tickets(path, on_problem=log))) == EXPECTED
    assert [(item.line_number, item.path) for item in log.problems] == [(5, "$")] and log.count == 1
    with index_history(path) as index:
        assert (index.lines, index.ticket_count, index.grouped) == (8, 3, False)
        assert index.first_at == datetime(2026, 3, 2, 10, tzinfo=UTC)
        assert index.last_at == datetime(2026, 3, 2, 13, tzinfo=UTC)


@pytest.mark.parametrize("kind", ["gzip", "text", "bytes", "bom"])
def test_every_kind_of_source_reads_the_same(tmp_path: Path, kind: str) -> None:
    if kind == "gzip":
        source: Any = tmp_path / "history.jsonl.gz"
        with gzip.open(source, "wt", encoding="utf-8") as packed:
            packed.write(INTERLEAVED)
    elif kind == "bom":
        source = tmp_path / "history.jsonl"
        source.write_bytes(b"\xef\xbb\xbf" + INTERLEAVED.encode())
    else:
        source = io.StringIO(INTERLEAVED) if kind == "text" else io.BytesIO(b"junk\n" + INTERLEAVED.encode())
        if kind == "bytes":
            source.readline()  # a stream positioned after a header: offsets count from where reading starts
    assert _summary(list(tickets(source))) == EXPECTED


def test_read_records_streams_in_file_order() -> None:
    numbers = [item.line_number for item in read_records(io.StringIO(INTERLEAVED))]
    assert numbers == [1, 2, 4, 6, 7, 8, 9]


def test_presort_writes_a_file_that_reads_grouped_in_one_pass(tmp_path: Path) -> None:
    grouped = io.BytesIO()
    assert presort(io.StringIO(INTERLEAVED), grouped) == 7
    grouped.seek(0)
    assert [ticket for ticket, _records in tickets(grouped, grouped=True)] == ["1", "2", "3"]
    grouped.seek(0)
    with index_history(grouped) as index:
        assert index.grouped is True


def test_grouped_reading_of_an_interleaved_file_reports_the_stray_lines() -> None:
    log = ProblemLog()
    groups = _summary(list(tickets(io.StringIO(INTERLEAVED), grouped=True, on_problem=log)))
    assert groups == [("1", [1]), ("2", [2, 6]), ("3", [7])]  # line 6 still belongs to the current ticket
    assert [item.line_number for item in log.problems] == [4, 5, 8, 9]
    assert "not grouped by ticket" in log.problems[0].message


def test_a_huge_line_is_skipped_without_losing_the_place(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    huge = _event("9", "2026-03-02T10:10:00Z", description="x" * (2 * MAX_LINE_BYTES))
    path.write_text(INTERLEAVED.replace("not json at all\n", huge))
    log = ProblemLog()
    assert _summary(list(tickets(path, on_problem=log))) == EXPECTED
    assert [item.line_number for item in log.problems] == [5] and "1 MiB" in log.problems[0].message


def test_a_repeated_ticket_key_is_caught_when_its_ticket_is_read(tmp_path: Path) -> None:
    """The index reads the first `ticket` key, the decoder keeps the last: never a silent misplacement."""
    path = tmp_path / "history.jsonl"
    other = json.dumps({**EXAMPLE["ticket"], "id": "2"})
    twice = _event("1", "2026-03-02T10:20:00Z").rstrip("\n")[:-1] + f', "ticket": {other}}}\n'
    path.write_text(_event("1", "2026-03-02T10:00:00Z", "ticket.created") + twice)
    log = ProblemLog()
    assert _summary(list(tickets(path, on_problem=log))) == [("1", [1])]
    assert [(item.line_number, item.path) for item in log.problems] == [(2, "$.ticket")]
    assert "twice" in log.problems[0].message
