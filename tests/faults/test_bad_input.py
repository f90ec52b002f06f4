"""More than 10,000 generated bad inputs against the receiver, both vendors: random bytes, truncated and deeply
nested JSON, wrong types in validly signed payloads, odd headers. Never a 5xx; a payload that gets in is one
the worker can decide on or dead-letter, never one that blocks the ticket.

Hypothesis generates the inputs (seeded: `derandomize`, so a CI failure reproduces); a plain loop adds the
structural extremes. `COUNTS` tallies what was tried (printed at the end of the run for the README).
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escalator.fakedesk.zendesk import FakeZendesk
from escalator.plugin import keys
from tests.support import TENANT, Pipeline, signed_headers
from tests.support_freshdesk import FreshdeskPipeline, freshdesk_pipeline, new_desk

pytestmark = pytest.mark.faults

ALLOWED = {200, 202, 400, 401, 404, 413}
"""Answers a bad input may get: accepted (it was a valid event after all), ignored, or refused with a reason."""
COUNTS: Counter[str] = Counter()
EXAMPLES = 2000
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def zendesk_payload(desk: FakeZendesk) -> dict[str, Any]:
    user = desk.add_user("Jane Doe", "jane@globex.example")
    desk.create_ticket("Outage: cannot log in", "Nobody can sign in.", user)
    payload = desk.pending_webhooks()[-1]
    desk.clear_webhooks()
    return dict(payload)


@pytest.fixture
def zendesk_sample(pipe: Pipeline) -> dict[str, Any]:
    return zendesk_payload(pipe.desk)


@pytest.fixture
def fd(redis_url: str) -> Iterator[FreshdeskPipeline]:
    desk = new_desk()
    desk.start()
    yield from freshdesk_pipeline(redis_url, desk)
    desk.stop()


def _check(status: int, kind: str) -> None:
    COUNTS[kind] += 1
    assert status in ALLOWED, f"{kind}: answered {status}"


def _mutate(payload: Any, path: list[Any], value: Any) -> Any:
    """`payload` with the value at `path` replaced (a deep copy)."""
    copy = json.loads(json.dumps(payload))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


def _paths(value: Any, prefix: list[Any] | None = None) -> list[list[Any]]:
    prefix = prefix or []
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, [*prefix, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, [*prefix, index])
    return found


@FUZZ
@given(body=st.binary(max_size=2048), signed=st.booleans())
def test_random_bytes(pipe: Pipeline, body: bytes, signed: bool) -> None:
    headers = signed_headers(body) if signed else {"Content-Type": "application/json"}
    _check(pipe.post(body, headers=headers).status_code, "random bytes")


@FUZZ
@given(data=st.data())
def test_wrong_types_in_validly_signed_zendesk_payloads(
    pipe: Pipeline, zendesk_sample: dict[str, Any], data: st.DataObject
) -> None:
    paths = _paths(zendesk_sample)
    path = data.draw(st.sampled_from(paths))
    mutated = _mutate(zendesk_sample, path, data.draw(json_values))
    mutated["id"] = data.draw(st.text(min_size=1, max_size=30))  # a fresh delivery, so it is not a repeat
    _check(pipe.post(mutated).status_code, "wrong types (Zendesk)")


@FUZZ
@given(data=st.data())
def test_wrong_types_in_freshdesk_payloads(fd: FreshdeskPipeline, data: st.DataObject) -> None:
    base = {"freshdesk_webhook": {"ticket_id": "42", "triggered_event": "{ticket_action:created}",
                                  "updated_at": "2026-03-09T10:15:42Z", "actor_id": "7"}}  # fmt: skip
    path = data.draw(st.sampled_from(_paths(base)))
    mutated = _mutate(base, path, data.draw(json_values))
    _check(fd.post(mutated).status_code, "wrong types (Freshdesk)")


@FUZZ
@given(cut=st.integers(min_value=0, max_value=4000), data=st.data())
def test_truncated_json(pipe: Pipeline, zendesk_sample: dict[str, Any], cut: int, data: st.DataObject) -> None:
    text = json.dumps({**zendesk_sample, "id": data.draw(st.uuids()).hex}).encode()
    body = text[: min(cut, len(text) - 1)]
    _check(pipe.post(body).status_code, "truncated JSON")


@FUZZ
@given(name=st.text(min_size=1, max_size=60).filter(lambda n: n.isprintable()), value=st.text(max_size=500))
def test_odd_headers(pipe: Pipeline, zendesk_sample: dict[str, Any], name: str, value: str) -> None:
    body = json.dumps(zendesk_sample).encode()
    headers = {**signed_headers(body), name.encode("ascii", "ignore").decode() or "X-Odd": value}
    try:
        status = pipe.post(body, headers=headers).status_code
    except (ValueError, UnicodeError):
        COUNTS["odd headers (refused by the HTTP stack)"] += 1
        return
    _check(status, "odd headers")


def test_structural_extremes(pipe: Pipeline, zendesk_sample: dict[str, Any]) -> None:
    rng = random.Random(7)
    for depth in (10, 100, 1000, 10_000, 100_000):
        for opener, closer in (("[", "]"), ('{"a":', "}")):
            _check(pipe.post((opener * depth + "1" + closer * depth).encode()).status_code, "deeply nested JSON")
    for size in (0, 1, 255 * 1024, 256 * 1024 + 1, 2 * 1024 * 1024):
        _check(pipe.post(b"x" * size).status_code, "sizes")
    for _ in range(400):
        event = dict(zendesk_sample, id=f"x-{rng.random()}")
        event["time"] = rng.choice(["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "", "yesterday", 12, None])
        _check(pipe.post(event).status_code, "impossible times")
    for text in ("\ud8b5", "\x00", "a" * 10_000, "../../etc", "{tenant}"):
        _check(pipe.post(dict(zendesk_sample, id=text)).status_code, "odd ids")
        _check(pipe.post(_mutate(zendesk_sample, ["detail", "id"], text)).status_code, "odd ids")


def test_whatever_got_in_is_decided_or_dead_lettered_never_stuck(
    pipe: Pipeline, zendesk_sample: dict[str, Any]
) -> None:
    """What a fuzzed receiver accepted: the worker decides on it or dead-letters it, and nothing stays ready."""
    rng = random.Random(11)
    paths = _paths(zendesk_sample)
    accepted = 0
    for index in range(300):
        mutated = _mutate(zendesk_sample, rng.choice(paths), rng.choice([None, 0, "", "x", [], {}, True, 1.5]))
        mutated["id"] = f"accepted-{index}"
        accepted += pipe.post(mutated).status_code == 202
        COUNTS["accepted then worked"] += 1
    assert accepted > 0, "some mutations are still valid events"
    pipe.work()
    assert pipe.redis.zcount(keys.ready(TENANT), "-inf", time.time()) == 0, "nothing due is left waiting"
    assert pipe.redis.zcard(keys.processing(TENANT)) == 0, "no ticket left leased"


def test_zz_report(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints what the suite tried (run last in this module)."""
    total = sum(COUNTS.values())
    with capsys.disabled():
        print(f"\nbad inputs tried: {total:,} — " + ", ".join(f"{kind} {n:,}" for kind, n in sorted(COUNTS.items())))
    assert total >= 10_000 or not COUNTS, f"only {total} inputs were tried"
