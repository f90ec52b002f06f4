"""The building blocks of the hand check of history lines, read from `rules/history.schema.json`.

A simulation reads hundreds of thousands of lines, so `records` checks each line's shape by hand rather
than with a JSON Schema validator (which costs ~20x more per line). The enums, the allowed and required
keys and the instant pattern come from the published schema itself, so the two cannot drift apart; a
test proves on generated lines that both accept and refuse the same lines at the same JSON path.
Every check raises `Bad` with the path and a message an admin can act on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from difflib import get_close_matches
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any, NoReturn

SCHEMA: dict[str, Any] = json.loads(resources.files("escalator.rules").joinpath("history.schema.json").read_text())
"""The published schema of one history line."""

_PROPS = SCHEMA["properties"]
_DEFS = SCHEMA["$defs"]
KINDS: tuple[str, ...] = tuple(_PROPS["kind"]["enum"])
ROLES: tuple[str, ...] = tuple(_PROPS["actor"]["properties"]["role"]["enum"])
STATUSES: tuple[str, ...] = tuple(_PROPS["ticket"]["properties"]["status"]["enum"])
PRIORITIES: tuple[str | None, ...] = tuple(_PROPS["ticket"]["properties"]["priority"]["enum"])
INSTANT = re.compile(_DEFS["instant"]["pattern"])

ALIASES = {"medium": "normal", "resolved": "solved", "hold": "on_hold", "on-hold": "on_hold", "waiting": "pending",
           "closed": "closed", "customer": "requester", "end-user": "requester", "end_user": "requester",
           "admin": "agent", "automation": "system", "trigger": "system"}  # fmt: skip
"""Other help desks' names for our values, suggested when a converter forgot to map one."""

Keys = tuple[frozenset[str], tuple[str, ...]]
"""An object's allowed keys and required keys."""


def _keys(definition: Mapping[str, Any]) -> Keys:
    return frozenset(definition["properties"]), tuple(definition["required"])


LINE_KEYS = _keys(SCHEMA)
ACTOR_KEYS = _keys(_PROPS["actor"])
TICKET_KEYS = _keys(_PROPS["ticket"])
COMMENT_KEYS = _keys(_PROPS["comment"])
PERSON_KEYS = _keys(_DEFS["person"])
ORG_KEYS = _keys(_DEFS["organization"])

EMPTY: Mapping[str, Any] = MappingProxyType({})
"""The shared empty mapping of records with no custom fields, organization fields or changes."""


class Bad(Exception):
    """The first thing wrong with a line; `records.parse_line` turns it into a LineProblem."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def json_path(*parts: str | int) -> str:
    """`$.ticket.requester.id`, `$.changes["my field"]`, `$.ticket.tags[2]`: how problems name places."""
    text = "$"
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.isidentifier():
            text += f".{part}"
        else:
            text += f"[{json.dumps(part)}]"
    return text


_TYPE_NAMES: dict[type, str] = {
    type(None): "null",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
}


def fail(path: str, expected: str, value: Any) -> NoReturn:
    raise Bad(path, f"expected {expected}, got {_TYPE_NAMES.get(type(value), type(value).__name__)}")


def obj(value: Any, path: str, keys: Keys) -> dict[str, Any]:
    """An object with only known keys (or free `x_` ones) and every required key."""
    if type(value) is not dict:
        fail(path, "an object", value)
    allowed, required = keys
    if not value.keys() <= allowed:
        for key in value:
            if key not in allowed and not key.startswith("x_"):
                near = get_close_matches(key, sorted(allowed), n=1)
                hint = f" (did you mean '{near[0]}'?)" if near else " (keys starting with x_ are free)"
                raise Bad(path, f"unknown key '{key}'{hint}")
    for key in required:
        if key not in value:
            raise Bad(path, f"'{key}' is required")
    return value


def string(value: Any, path: str) -> str:
    if type(value) is not str:
        fail(path, "a string", value)
    return value


def optional_string(value: Any, path: str) -> str | None:
    if value is None or type(value) is str:
        return value
    fail(path, "a string or null", value)


def ident(value: Any, path: str) -> str:
    """An id: a non-empty string, or an integer (JSON Schema counts 7.0 as one) read as its digits."""
    kind = type(value)
    if kind is str and value:
        return str(value)
    if kind is int or (kind is float and value.is_integer()):
        return str(int(value))
    if kind is str:
        raise Bad(path, "an id must not be empty")
    fail(path, "an id (a non-empty string or an integer)", value)


def optional_ident(value: Any, path: str) -> str | None:
    return None if value is None else ident(value, path)


def enum(value: Any, path: str, allowed: tuple[str | None, ...]) -> Any:
    if value in allowed and (value is None or type(value) is str):
        return value
    choices = ", ".join("null" if item is None else item for item in allowed)
    near = [] if type(value) is not str else [ALIASES[value.lower()]] if value.lower() in ALIASES else []
    near = [item for item in near if item in allowed] or (
        get_close_matches(value, [item for item in allowed if item], n=1) if type(value) is str else []
    )
    hint = f" (did you mean '{near[0]}'?)" if near else ""
    raise Bad(path, f"{json.dumps(value)} is not one of {choices}{hint}")


def group(value: Any, path: str) -> str | None:
    if value is None or (type(value) is str and value):
        return value
    if type(value) is str:
        raise Bad(path, "a group name must not be empty (use null for no group)")
    fail(path, "a group name or null", value)


def tags(value: Any, path: str) -> tuple[str, ...]:
    if type(value) is not list:
        fail(path, "an array of strings", value)
    for index, item in enumerate(value):
        if type(item) is not str:
            fail(f"{path}[{index}]", "a string", item)
    return tuple(value)


def mapping(value: Any, path: str) -> dict[str, Any]:
    if type(value) is not dict:
        fail(path, "an object", value)
    return value


def free(value: Any, path: str) -> Mapping[str, Any]:
    """A free-form object (custom fields, organization fields); absent is the shared `EMPTY`."""
    return value if value is EMPTY else mapping(value, path)


def parse_instant(text: str) -> datetime | None:
    """An instant in UTC, or None when the text is not one."""
    if INSTANT.search(text) is None:
        return None
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:  # matches the pattern but is no real date (Feb 30)
        return None


_repeated_instant = lru_cache(maxsize=4096)(parse_instant)
"""For `created_at`, which every line of a ticket repeats (each line's own `at` is new: not cached)."""


def instant(value: Any, path: str, *, repeated: bool = False) -> datetime:
    text = string(value, path)
    parsed = _repeated_instant(text) if repeated else parse_instant(text)
    if parsed is None:
        raise Bad(path, f"{json.dumps(value)} is not an ISO 8601 instant with a time zone (2026-03-02T14:00:00Z)")
    return parsed


class Memo:
    """Sub-objects already built, by id: a ticket's lines repeat its requester and organization, and a
    customer's tickets repeat them too. A hit needs a raw object equal to the one built from, and only
    objects whose values are all strings (or None, or lists of strings) are kept, so equality implies the
    same JSON types: a hit can never let through what the full check would refuse."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.items: dict[str, tuple[dict[str, Any], Any]] = {}

    def get(self, raw: Any) -> Any:
        key = raw.get("id") if type(raw) is dict else None
        hit = self.items.get(key) if type(key) is str else None
        return hit[1] if hit is not None and hit[0] == raw else None

    def put(self, raw: dict[str, Any], built: Any) -> Any:
        if type(raw.get("id")) is str and all(_plain(value) for value in raw.values()):
            if len(self.items) >= self.size:
                self.items.clear()  # bounded: a flush costs a few rebuilds, never memory
            self.items[raw["id"]] = (raw, built)
        return built


def _plain(value: Any) -> bool:
    kind = type(value)
    if kind is dict:
        return all(type(item) is str for item in value.values())
    return kind is str or value is None or (kind is list and all(type(item) is str for item in value))
