"""docs/rules.md stays the complete reference of the rules file format.

Every name a rules file may use is read from the code's own registries (the schema's top-level keys, the
condition fields and field families, operators, actions, events, anchors, template placeholders), so adding
one to the code without documenting it fails here. The doc's JSON examples must parse; the ones marked as
complete rules files must load without a problem, and the broken example's output must be what the loader
really says.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from escalator.rules.actions import ACTIONS
from escalator.rules.errors import PolicyError
from escalator.rules.facts import FIELDS, PREFIXED_FIELDS
from escalator.rules.loader import load_policy, schema
from escalator.rules.model import EVENT_KINDS
from escalator.rules.operators import OPERATORS
from escalator.rules.state import ANCHORS
from escalator.rules.templates import PLACEHOLDERS

DOC = Path(__file__).resolve().parent.parent / "docs" / "rules.md"
INTERNAL_EVENTS = frozenset({"timer.elapsed"})
"""Events the engine evaluates that a rules file cannot name in `on` (elapsed-time triggers use `after`)."""
COMPLETE = "<!-- complete rules file -->"
"""Marks the JSON block after it as a whole rules file that loads as it is."""
BROKEN = "<!-- rules file with problems -->"
"""Marks the JSON block after it as a rules file whose problems the next ```text block lists."""
BROKEN_NAME = "broken.json"

_FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_SPAN = re.compile(r"`([^`\n]+)`")


def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def prose(text: str) -> str:
    """The text without its fenced code blocks (their backticks are not inline code)."""
    return _FENCE.sub("", text)


def spans(text: str) -> set[str]:
    """Every inline code span of the prose."""
    return set(_SPAN.findall(prose(text)))


def section(title: str) -> str:
    """The `## title` section's text, up to the next `## ` heading."""
    text = doc()
    heading = f"\n## {title}\n"
    assert heading in text, f"docs/rules.md has no section '## {title}'"
    return text.split(heading, 1)[1].split("\n## ", 1)[0]


def blocks(text: str) -> Iterator[tuple[str, str, str, int]]:
    """(marker line before the fence, language, body, end offset) of each fenced block."""
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        yield before, match["lang"], match["body"], match.end()


def leaves(tree: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, sub in tree.items():
        if isinstance(sub, Mapping):
            yield from leaves(sub, f"{prefix}{key}.")
        else:
            yield prefix + key


def missing(names: set[str] | list[str], where: str) -> list[str]:
    found = spans(where)
    return sorted(name for name in names if name not in found)


def test_every_top_level_key_has_its_section_in_schema_order() -> None:
    headings = [line for line in doc().splitlines() if line.startswith("## ")]
    positions: list[tuple[int, str]] = []
    for key in schema()["properties"]:
        index = next((i for i, line in enumerate(headings) if f"`{key}`" in line), None)
        assert index is not None, f"no '## ' heading names the top-level key `{key}`"
        positions.append((index, key))
    order = [index for index, _ in positions]
    assert order == sorted(order), f"sections are not in schema order {[key for _, key in positions]}: {order}"


def test_every_field_is_documented() -> None:
    fields = section("Fields")
    absent = missing(list(FIELDS), fields)
    assert not absent, f"fields missing from '## Fields': {absent}"
    found = spans(fields)
    families = [prefix for prefix in PREFIXED_FIELDS if not any(s.startswith(prefix) and s != prefix for s in found)]
    assert not families, f"field families missing from '## Fields' (write them as `prefix<key>`): {families}"


def test_every_operator_is_documented() -> None:
    absent = missing(list(OPERATORS), section("Operators"))
    assert not absent, f"operators missing from '## Operators': {absent}"


def test_every_action_is_documented() -> None:
    absent = missing(list(ACTIONS), section("Actions"))
    assert not absent, f"actions missing from '## Actions': {absent}"


def test_every_event_is_documented() -> None:
    events = [kind for kind in EVENT_KINDS if kind not in INTERNAL_EVENTS]
    absent = missing(events, section("Events"))
    assert not absent, f"events missing from '## Events': {absent}"


def test_every_anchor_is_documented() -> None:
    absent = missing(list(ANCHORS), section("Anchors (`since`)"))
    assert not absent, f"anchors missing from '## Anchors (`since`)': {absent}"


def test_every_placeholder_is_documented() -> None:
    placeholders = list(leaves(PLACEHOLDERS))
    assert "deadline.first_response" in placeholders and "incident.count" in placeholders
    absent = missing(placeholders, section("Template placeholders"))
    assert not absent, f"placeholders missing from '## Template placeholders': {absent}"


def test_the_registries_are_read_not_empty() -> None:
    """A registry renamed or emptied would make the checks above pass vacuously."""
    assert len(FIELDS) > 20 and PREFIXED_FIELDS and len(OPERATORS) > 10 and len(ACTIONS) > 5
    assert len(EVENT_KINDS) > len(INTERNAL_EVENTS) and len(ANCHORS) > 5 and len(schema()["properties"]) > 5


def json_blocks() -> list[tuple[str, str, int]]:
    return [(marker, body, end) for marker, lang, body, end in blocks(doc()) if lang == "json"]


def test_the_doc_starts_with_a_complete_rules_file() -> None:
    marker, _, _ = json_blocks()[0]
    assert marker == COMPLETE, "the first JSON block should be the short example, marked as a complete rules file"


@pytest.mark.parametrize("index", range(len(json_blocks())))
def test_json_blocks_parse(index: int) -> None:
    _, body, _ = json_blocks()[index]
    try:
        json.loads(body)
    except json.JSONDecodeError as error:
        pytest.fail(f"JSON block {index + 1} of docs/rules.md does not parse: {error}")


def test_complete_rules_files_load() -> None:
    complete = [body for marker, body, _ in json_blocks() if marker == COMPLETE]
    assert complete, f"no JSON block is marked {COMPLETE}"
    for body in complete:
        try:
            load_policy(json.loads(body))
        except PolicyError as error:
            pytest.fail("a complete rules file in docs/rules.md does not load:\n" + "\n".join(
                problem.format(BROKEN_NAME) for problem in error.problems
            ))  # fmt: skip


def test_the_broken_example_shows_what_validate_says() -> None:
    text = doc()
    broken = [(body, end) for marker, body, end in json_blocks() if marker == BROKEN]
    assert broken, f"no JSON block is marked {BROKEN}"
    for body, end in broken:
        output = next((out for _, lang, out, at in blocks(text) if lang == "text" and at > end), None)
        assert output is not None, "the broken example needs a ```text block with the validator's output after it"
        shown = [line for line in output.splitlines() if line.startswith(f"{BROKEN_NAME}: ")]
        with pytest.raises(PolicyError) as raised:
            load_policy(json.loads(body))
        assert shown == [problem.format(BROKEN_NAME) for problem in raised.value.problems]
