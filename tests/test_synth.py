"""The synthetic history (`escalator synth`): reproducible, valid, and shaped like a real help desk's."""

from __future__ import annotations

import io
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest

from escalator.plugin.history.reader import ProblemLog, tickets
from escalator.plugin.history.records import HistoryRecord, parse_line
from escalator.plugin.history.shape import SCHEMA
from escalator.plugin.history.synth import FIRST_RESPONSE, SynthStats, write_history

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
NEW_YORK = ZoneInfo("America/New_York")
PHRASES = re.compile(
    r"\b(outages?|(can'?t|cannot|can not|unable to) (log ?in|sign in)|security breach|data breach|account hacked"
    r"|legal|lawyer|gdpr request|billing error|charged twice|wrong invoice)\b",
    re.IGNORECASE,
)
NEGATED = re.compile(r"\bnot (an?|the) ", re.IGNORECASE)


def synth(tickets: int, days: int, seed: int = 1) -> tuple[str, SynthStats]:
    out = io.StringIO()
    stats = write_history(out, tickets=tickets, days=days, seed=seed, start=START)
    return out.getvalue(), stats


@pytest.fixture(scope="module")
def sample() -> tuple[list[dict[str, Any]], SynthStats]:
    text, stats = synth(3000, 30, seed=42)
    return [json.loads(item) for item in text.splitlines()], stats


def by_ticket(lines: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in lines:
        grouped[item["ticket"]["id"]].append(item)
    return grouped


def test_the_same_seed_writes_the_same_bytes_and_another_seed_does_not() -> None:
    first, stats = synth(300, 7, seed=3)
    again, _ = synth(300, 7, seed=3)
    other, _ = synth(300, 7, seed=4)
    assert first == again and first != other
    assert stats.tickets == 300 and stats.events == first.count("\n")


def test_every_line_is_valid_for_the_schema_and_the_hand_check() -> None:
    text, _stats = synth(150, 5, seed=9)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for number, item in enumerate(text.splitlines(), 1):
        assert not list(validator.iter_errors(json.loads(item))), item
        assert isinstance(parse_line(item, number), HistoryRecord)


def test_the_stats_describe_the_file(sample: tuple[list[dict[str, Any]], SynthStats]) -> None:
    lines, stats = sample
    assert stats.events == len(lines) and dict(stats.kinds) == dict(Counter(item["kind"] for item in lines))
    assert stats.kinds["ticket.created"] == stats.tickets == 3000
    assert set(stats.kinds) == {"ticket.created", "comment.added", "ticket.updated", "ticket.solved", "ticket.reopened"}
    assert 8 <= stats.events / stats.tickets <= 12  # about ten events a ticket
    assert stats.first_at is not None and stats.last_at is not None
    assert stats.first_at >= START and stats.last_at < START + timedelta(days=30)


def test_the_file_is_ordered_by_time_and_each_ticket_tells_a_coherent_story(
    sample: tuple[list[dict[str, Any]], SynthStats],
) -> None:
    lines, _stats = sample
    instants = [item["at"] for item in lines]
    assert instants == sorted(instants)
    split = 0
    for story in by_ticket(lines).values():
        assert story[0]["kind"] == "ticket.created" and story[0]["ticket"]["status"] == "new"
        state = story[0]["ticket"]
        for update in updates(story[1:]):
            after = update[0]["ticket"]
            assert all(item["ticket"] == after for item in update)  # one update: the state after all of it
            for item in update:
                for field, (old, new) in item.get("changes", {}).items():
                    assert state[field] == old and after[field] == new, (state, item)
            split += len(update) > 1
            state = after
        for item in story:
            assert (item["actor"]["role"] == "requester") == (item["actor"]["id"] == item["ticket"]["requester"]["id"])
    assert split > 0


def updates(story: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Consecutive lines with the same instant and actor: one update of the help desk, split per event."""
    grouped: list[list[dict[str, Any]]] = []
    for item in story:
        if grouped and (grouped[-1][0]["at"], grouped[-1][0]["actor"]) == (item["at"], item["actor"]):
            grouped[-1].append(item)
        else:
            grouped.append([item])
    return grouped


def test_keyword_enterprise_and_partner_shares_are_realistic(sample: tuple[list[dict[str, Any]], SynthStats]) -> None:
    lines, stats = sample
    assert 0.05 <= stats.keyword_tickets / stats.tickets <= 0.10
    assert all(stats.routes[route] > 0 for route in ("l2", "security", "legal", "finance"))
    created = [item for item in lines if item["kind"] == "ticket.created"]
    orgs = [item["ticket"]["organization"] for item in created]
    enterprise = sum(1 for org in orgs if org and "enterprise" in org["tags"])
    partner = sum(1 for org in orgs if org and "partner" in org["tags"])
    assert enterprise == stats.enterprise_tickets and 0.07 <= enterprise / len(created) <= 0.13
    assert partner == stats.partner_tickets and 0.03 <= partner / len(created) <= 0.07
    managers = {org["id"] for org in orgs if org and "account_manager" in org["fields"]}
    assert managers and all("enterprise" in org["tags"] for org in orgs if org and org["id"] in managers)
    locales = Counter(item["ticket"]["requester"]["locale"] for item in created)
    assert set(locales) == {"en-US", "es-MX", "fr-FR", "de-DE", "pt-BR"} and locales["en-US"] / len(created) > 0.6
    assert sum(1 for item in created if item["ticket"]["requester"]["time_zone"]) / len(created) > 0.8


def test_customers_write_routing_phrases_only_in_keyword_tickets(
    sample: tuple[list[dict[str, Any]], SynthStats],
) -> None:
    """What customers wrote matches the keyword count; agents' mentions stay with agents."""
    lines, stats = sample
    routed, agent_only = set(), set()
    for item in lines:
        texts = [item["comment"]["body"]] if "comment" in item else []
        if item["kind"] == "ticket.created":
            texts.append(item["ticket"]["subject"])
        hits = [text for text in texts if PHRASES.search(text) and not NEGATED.search(text)]
        if hits and item["actor"]["role"] == "requester":
            routed.add(item["ticket"]["id"])
        elif hits:
            agent_only.add(item["ticket"]["id"])
    assert len(routed) == stats.keyword_tickets
    assert len(agent_only - routed) >= stats.agent_keyword_tickets > 0


def test_arrivals_favour_business_hours_and_weekdays(sample: tuple[list[dict[str, Any]], SynthStats]) -> None:
    lines, stats = sample
    local = [
        datetime.fromisoformat(item["at"]).astimezone(NEW_YORK) for item in lines if item["kind"] == "ticket.created"
    ]
    weekend = sum(1 for at in local if at.weekday() >= 5)
    assert weekend == stats.weekend_arrivals and weekend > 0
    assert (len(local) - weekend) / 22 >= 3 * weekend / 8  # per weekday vs per weekend day (March 2026: 22 / 8)
    office = sum(1 for at in local if at.weekday() < 5 and 9 <= at.hour < 17)
    assert office / len(local) > 0.5 and sum(1 for at in local if at.hour < 7) > 0


def test_agents_mostly_answer_within_the_first_response_target(
    sample: tuple[list[dict[str, Any]], SynthStats],
) -> None:
    """On the 24x7 targets (high and urgent in Tier 1): most first replies in time, some late."""
    lines, _stats = sample
    within, late = 0, 0
    for story in by_ticket(lines).values():
        created = story[0]
        if created["ticket"]["priority"] not in ("high", "urgent"):
            continue
        reply = next((item for item in story if item["actor"]["role"] == "agent" and item.get("comment")), None)
        if reply is None:
            continue
        hours, _business = FIRST_RESPONSE["Tier 1"][created["ticket"]["priority"]]
        waited = datetime.fromisoformat(reply["at"]) - datetime.fromisoformat(created["at"])
        within, late = (within + 1, late) if waited <= timedelta(hours=hours) else (within, late + 1)
    assert late > 0 and within / (within + late) > 0.75


def test_human_escalations_explain_first_and_some_bounce(sample: tuple[list[dict[str, Any]], SynthStats]) -> None:
    lines, stats = sample
    moves: Counter[tuple[str, str]] = Counter()
    for story in by_ticket(lines).values():
        for before, item in pairwise(story):
            if "group" in item.get("changes", {}):
                moves[tuple(item["changes"]["group"])] += 1
                note = before.get("comment")
                assert note is not None and note["public"] is False and before["actor"]["role"] == "agent"
                assert before["actor"]["id"] == item["actor"]["id"]
    assert moves[("Tier 1", "Tier 2")] > 0 and moves[("Tier 2", "Tier 3")] > 0
    assert moves[("Tier 2", "Tier 1")] >= stats.bounced_tickets > 0
    assert all(moves[("Tier 1", team)] > 0 for team in ("Finance", "Legal", "Security"))
    assert 0.05 <= stats.escalated_tickets / stats.tickets <= 0.2
    assert stats.reopened_tickets > 0 and stats.negated_tickets > 0


def test_pending_periods_end_with_the_customer_reopening(sample: tuple[list[dict[str, Any]], SynthStats]) -> None:
    lines, _stats = sample
    changes = [item.get("changes", {}) | {"role": item["actor"]["role"]} for item in lines]
    reopened = [item for item in changes if item.get("status") == ["pending", "open"] and "group" not in item]
    assert reopened and all(item["role"] == "requester" for item in reopened)  # agents reopen only by moving
    solved_by_system = [item for item in lines if item["kind"] == "ticket.solved" and item["actor"]["role"] == "system"]
    assert solved_by_system and all(item["actor"]["id"] is None for item in solved_by_system)


def test_the_reader_groups_a_synthetic_file_back_into_its_tickets() -> None:
    text, stats = synth(200, 5, seed=5)
    log = ProblemLog()
    groups = list(tickets(io.StringIO(text), on_problem=log))
    assert log.count == 0 and len(groups) == stats.tickets
    assert sum(len(records) for _ticket, records in groups) == stats.events
    assert [ticket for ticket, _records in groups] == [str(1001 + index) for index in range(stats.tickets)]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="days"):
        write_history(io.StringIO(), tickets=1, days=0, seed=1, start=START)
    _text, stats = synth(0, 1)
    assert stats.tickets == stats.events == 0
