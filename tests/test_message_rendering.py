"""What keeps message rendering cheap must not change a message: times told as Babel tells them, the
sandbox's answers, and a context made of only the placeholders a template reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date, format_time, get_timezone_name
from jinja2 import StrictUndefined
from jinja2.exceptions import UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from escalator.rules.actions import Step, Working
from escalator.rules.facts import Facts
from escalator.rules.loader import load_policy_file
from escalator.rules.messages import message_context
from escalator.rules.model import Comment, Organization, Person, Ticket, TicketEvent
from escalator.rules.plan import Plan
from escalator.rules.state import Escalation, TicketState
from escalator.rules.telling import babel_locale, when
from escalator.rules.templates import PLACEHOLDERS, Blank, MessageTemplate

SEED = load_policy_file(Path(__file__).parent.parent / "rules" / "seed-policy.json")
LOCALES = ("en-US", "es-MX", "fr", "de", "pt-BR", "ja", "ko", "zh-Hant", "ar")
"""The shipped languages and a few whose short time reads day periods (`zh_Hant`: `Bh:mm`) or puts the
period first (`ko`)."""
ZONES = ("America/New_York", "Europe/Paris", "Asia/Kolkata", "Australia/Lord_Howe", "UTC")


def babel_told(instant: datetime, code: str, zone: ZoneInfo) -> str:
    locale = babel_locale(code)
    local = instant.astimezone(zone)
    name = "UTC" if zone.key == "UTC" else get_timezone_name(zone, width="long", locale=locale, uncommon=False)
    return f"{format_date(local.date(), 'full', locale=locale)}, {format_time(local, 'short', locale=locale)} ({name})"


def instants() -> list[datetime]:
    """Around noon and midnight to the second (day periods), across DST changes, with and without fractions."""
    found = []
    for day in (datetime(2026, 3, 8, tzinfo=UTC), datetime(2026, 10, 4, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)):
        for hour in (0, 5, 6, 11, 12, 16, 17, 23):
            for offset in (0, 30, 59, 61.5, 1800):
                found.append(day + timedelta(hours=hour, seconds=offset))
    return found


@pytest.mark.parametrize("code", LOCALES)
def test_times_are_told_exactly_as_babel_tells_them(code: str) -> None:
    for zone_name in ZONES:
        zone = ZoneInfo(zone_name)
        for instant in instants():
            expected = babel_told(instant, code, zone)
            assert when(instant, babel_locale(code), zone) == expected  # worked out
            assert when(instant, babel_locale(code), zone) == expected  # and as kept
            assert when(instant.astimezone(ZoneInfo("Asia/Tokyo")), babel_locale(code), zone) == expected


def test_a_day_period_locale_is_not_told_noon_for_a_second_after_it() -> None:
    zone, locale = ZoneInfo("UTC"), babel_locale("zh-Hant")
    noon = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
    later = noon + timedelta(seconds=30)
    assert when(noon, locale, zone) == babel_told(noon, "zh-Hant", zone)
    assert when(later, locale, zone) == babel_told(later, "zh-Hant", zone)


PLAIN = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
SANDBOX_CASES = [
    "{{ ticket.id }} {{ ticket['subject'] }} {{ ticket.subject.upper() }}",
    "{{ organization.fields.plan }}|{{ organization.fields.nobody_filled_this }}|",
    "{{ organization.fields.items }}|{{ organization.fields.get('plan') }}|{{ ticket.keys }}",
    "{{ notes | join(', ') }} {{ notes[0] }} {{ notes | length }}",
    "{% for key, value in organization.fields.items() %}{{ key }}={{ value }};{% endfor %}",
    "{% if escalation %}{{ escalation.by }}{% endif %}{{ range(3) | list }}",
]
CONTEXT: dict[str, Any] = {
    "ticket": {"id": "42", "subject": "Outage", "items": "a key named like a method"},
    "organization": {"fields": Blank({"plan": "Enterprise", "items": "shadowed"})},
    "notes": ["tried a restart", "cleared the cache"],
    "escalation": {"by": "agent"},
}


@pytest.mark.parametrize("source", SANDBOX_CASES)
def test_the_sandbox_shortcuts_render_as_the_plain_sandbox(source: str) -> None:
    ours = MessageTemplate("t", {"default": source}).render(CONTEXT)
    assert ours == PLAIN.from_string(source).render(CONTEXT).strip()


def test_a_missing_member_still_fails_as_in_the_plain_sandbox() -> None:
    for source in ("{{ ticket.nope }}", "{{ notes[5] }}"):
        with pytest.raises(UndefinedError):
            PLAIN.from_string(source).render(CONTEXT)
        with pytest.raises(UndefinedError):
            MessageTemplate("t", {"default": source}).render(CONTEXT)


def working_after_an_escalation() -> tuple[Working, Step]:
    ticket = Ticket(
        id="7",
        subject="Cannot log in",
        status="open",
        priority="high",
        group_name="Tier 2",
        assignee_name="Sam",
        requester=Person(id="r1", name="Ana Lima", locale="pt-BR", time_zone="America/Sao_Paulo"),
        organization=Organization(id="o1", name="Acme", tags=("enterprise",), fields={"plan": "Enterprise"}),
    )
    at = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
    state = TicketState(tier="L2", groups=["L1", "L2"], notes=["checked SSO"], status="open", priority="high")
    state.escalations.append(Escalation("2026-03-09T15:00:00Z", "L1", "L2", "outage-or-login", "cannot log in"))
    state.anchors.update({"created": "2026-03-09T14:00:00Z", "tier_entered": "2026-03-09T15:00:00Z"})
    event = TicketEvent("d-1", "comment.added", "7", at, comment=Comment("It still fails", True, "requester"))
    working = Working(SEED, state, ticket, event, ("enterprise",), Plan())
    trigger = next(trigger for trigger in SEED.triggers if trigger.id == "outage-or-login")
    step = Step(trigger, "cannot log in", SEED.unit("L1"), Facts(ticket, state, event, ("enterprise",)))
    return working, step


def test_each_seed_template_renders_the_same_from_only_the_names_it_reads() -> None:
    working, step = working_after_an_escalation()
    for name, template in SEED.templates.items():
        for locale in ("en", "es", "fr", "de", "pt-BR"):
            names = template.names(locale)
            assert names <= set(PLACEHOLDERS) | {"range", "loop", "namespace", "dict", "lipsum", "cycler", "joiner"}
            partial = message_context(working, step, names)
            assert set(partial) == names & set(PLACEHOLDERS), name
            if name.startswith("incident_"):
                continue  # rendered with the incident's own context (rules.incident_messages)
            full = message_context(working, step)
            assert template.render(partial, locale) == template.render(full, locale), (name, locale)
