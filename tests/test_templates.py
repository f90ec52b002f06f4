"""Message templates: placeholders checked at load, locale choice, and the sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2.exceptions import SecurityError

from escalator.rules.errors import RuleProblem
from escalator.rules.templates import ALL_PLACEHOLDERS, PLACEHOLDERS, MessageTemplate, compile_template

PATH = "$.templates.greeting"


def compiled(spec: str | dict[str, str]) -> tuple[MessageTemplate, list[RuleProblem]]:
    problems: list[RuleProblem] = []
    template = compile_template("greeting", spec, PATH, problems)
    return template, problems


def messages(spec: str | dict[str, str]) -> list[str]:
    return [problem.message for problem in compiled(spec)[1]]


CONTEXT: dict[str, Any] = {
    "ticket": {"id": "42", "subject": "Outage", "tags": ["vip", "eu"], "priority": "urgent"},
    "requester": {"first_name": "Ada", "name": "Ada Lovelace"},
    "tier": {"id": "L2", "name": "Technical Specialists"},
}


# --- rendering ---------------------------------------------------------------------------------------------


def test_renders_placeholders_and_strips_outer_whitespace() -> None:
    template, problems = compiled("  Hi {{ requester.first_name }}, ticket #{{ ticket.id }} is with {{ tier.name }}.\n")
    assert problems == []
    assert template.render(CONTEXT) == "Hi Ada, ticket #42 is with Technical Specialists."


def test_filters_and_conditionals_work() -> None:
    template, problems = compiled(
        "{{ ticket.tags | join(', ') | upper }}{% if ticket.priority == 'urgent' %}!{% endif %}"
    )
    assert problems == []
    assert template.render(CONTEXT) == "VIP, EU!"


def test_loop_variable_is_not_an_unknown_placeholder() -> None:
    template, problems = compiled("{% for tag in ticket.tags %}{{ tag }};{% endfor %}")
    assert problems == []
    assert template.render(CONTEXT) == "vip;eu;"


def test_jinja_loop_helper_and_set_are_allowed() -> None:
    template, problems = compiled(
        "{% set who = requester.first_name %}"
        "{% for tag in ticket.tags %}{{ loop.index }}={{ tag }} {% endfor %}{{ who }}"
    )
    assert problems == []
    assert template.render(CONTEXT) == "1=vip 2=eu Ada"


def test_string_methods_on_a_leaf_are_allowed() -> None:
    template, problems = compiled("{{ requester.first_name.upper() }}")
    assert problems == []
    assert template.render(CONTEXT) == "ADA"


# --- load-time checks --------------------------------------------------------------------------------------


def test_unknown_placeholder_is_reported_with_a_suggestion() -> None:
    assert messages("Hi {{ requester.fist_name }}") == [
        "unknown placeholder 'requester.fist_name' (did you mean 'requester.first_name'?)"
    ]


def test_unknown_root_is_reported_once() -> None:
    assert messages("{{ customer.name }} {{ customer.name }} {{ customer }}") == ["unknown placeholder 'customer'"]


def test_two_different_typos_are_both_reported() -> None:
    # One typo must not hide another that merely starts with the same letters.
    assert messages("{{ ticket.sub }} {{ ticket.subjet }}") == [
        "unknown placeholder 'ticket.sub' (did you mean 'ticket.subject'?)",
        "unknown placeholder 'ticket.subjet' (did you mean 'ticket.subject'?)",
    ]


def test_item_access_is_checked_like_attribute_access() -> None:
    assert messages("{{ requester['emial'] }}") == [
        "unknown placeholder 'requester.emial' (did you mean 'requester.email'?)"
    ]
    assert messages("{{ requester['email'] }}") == []


def test_syntax_error_is_reported_with_the_path_and_line() -> None:
    _, problems = compiled("Hello\n{% if ticket.id %}never closed")
    assert len(problems) == 1
    assert problems[0].path == PATH
    assert problems[0].message.startswith("template syntax error on line 2: ")


def test_locale_variants_are_checked_each_at_their_own_path() -> None:
    _, problems = compiled({"en": "Hi {{ requester.first_name }}", "fr-CA": "Bonjour {{ requester.prenom }}"})
    assert [(problem.path, problem.message) for problem in problems] == [
        (f"{PATH}['fr-CA']", "unknown placeholder 'requester.prenom' (did you mean 'requester.name'?)")
    ]


def test_every_documented_placeholder_is_accepted() -> None:
    source = " ".join("{{ " + name + " }}" for name in ALL_PLACEHOLDERS)
    assert messages(source) == []
    assert {name.split(".")[0] for name in ALL_PLACEHOLDERS} == set(PLACEHOLDERS)


# --- sandbox -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    ["{{ ''.__class__ }}", "{{ ticket.subject.__class__.__mro__ }}", "{{ requester._secret }}"],
)
def test_private_attributes_are_refused_at_load(source: str) -> None:
    assert any(message.endswith("is not allowed in a template (private attribute)") for message in messages(source))


def test_the_sandbox_refuses_private_attributes_at_render() -> None:
    # Built directly, bypassing the load check: the sandbox is the second line of defence.
    template = MessageTemplate("probe", {"default": "{{ ''.__class__.__mro__ }}"})
    with pytest.raises(SecurityError):
        template.render({})


def test_the_sandbox_refuses_changing_the_context_at_render() -> None:
    template = MessageTemplate("probe", {"default": "{{ ticket.update(id='x') }}{{ ticket.id }}"})
    with pytest.raises(SecurityError):
        template.render({"ticket": {"id": "1"}})


# --- locale choice -----------------------------------------------------------------------------------------

LOCALES = MessageTemplate("m", {"en": "hello", "fr": "bonjour", "pt-BR": "olá", "de_AT": "servus"})


@pytest.mark.parametrize(
    ("locale", "chosen"),
    [
        ("fr", "fr"),  # exact
        ("FR", "fr"),
        ("fr-CA", "fr"),  # language prefix
        ("fr_CA", "fr"),
        ("pt-BR", "pt-BR"),
        ("pt_br", "pt-BR"),
        ("de-AT", "de_AT"),  # an admin's underscore key is still the same locale
        ("es", "en"),  # no such language: English
        (None, "en"),
        ("", "en"),
    ],
)
def test_locale_choice(locale: str | None, chosen: str) -> None:
    assert LOCALES.pick_locale(locale) == chosen


def test_default_wins_over_english_as_the_fallback() -> None:
    template = MessageTemplate("m", {"en": "hello", "default": "hi", "fr": "salut"})
    assert template.pick_locale("es") == "default"
    assert template.pick_locale("en-GB") == "en"


def test_without_english_or_default_the_first_locale_is_the_fallback() -> None:
    template = MessageTemplate("m", {"de": "hallo", "fr": "salut"})
    assert template.pick_locale("es") == "de"
    assert template.render({}, "fr-BE") == "salut"


def test_a_plain_string_template_serves_every_locale() -> None:
    template, _ = compiled("Hi {{ requester.first_name }}")
    assert template.render(CONTEXT, "ja") == "Hi Ada"
